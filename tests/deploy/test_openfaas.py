"""infra/openfaas/stack.yml: valid against the schema written from OpenFaaS's YAML reference, and faithful to
template.yaml (every function, event kind, schedule and timeout), with every template resource mapped in
infra/README.md. The orchestrator cannot run here; this is the check that can."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from eneo_local.schedules import schedules_of
from tests.project_template import http_function_folders, project_template

ROOT = Path(__file__).resolve().parents[2]
FAAS = ROOT / "infra" / "openfaas"
NOT_DEPLOYED = {"ws"}  # the WebSocket API has no OpenFaaS counterpart (infra/README.md)


def stack() -> dict[str, Any]:
    return dict(yaml.safe_load((FAAS / "stack.yml").read_text()))


def schema() -> dict[str, Any]:
    return dict(json.loads((FAAS / "stack.schema.json").read_text()))


def cron_period_s(expression: str) -> float:
    """Seconds between runs of the cron expressions stack.yml uses."""
    minute, hour, *rest = expression.split()
    assert rest == ["*", "*", "*"], expression
    if minute == "*" and hour == "*":
        return 60
    if (m := re.fullmatch(r"\*/(\d+)", minute)) and hour == "*":
        return int(m.group(1)) * 60
    if minute.isdigit() and hour == "*":
        return 3600
    assert minute.isdigit() and hour.isdigit(), expression
    return 86400


def test_stack_yml_is_valid_against_the_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(stack(), schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("change", "error"), [
    (lambda s: s["functions"]["auth"].update(imag="x"), "Additional properties are not allowed ('imag'"),
    (lambda s: s["functions"]["sweep"]["annotations"].pop("schedule"), "'schedule' is a required property"),
    (lambda s: s["functions"]["auth"]["environment"].update(PORT=8080), "8080 is not of type 'string'"),
    (lambda s: s["functions"]["auth"]["limits"].update(memory="512MB"), "'512MB' does not match"),
    (lambda s: s["functions"].update(Bad_Name=s["functions"]["auth"]), "'Bad_Name' does not match"),
])
def test_schema_refuses_what_faas_cli_would_refuse_or_ignore(change: Any, error: str) -> None:
    broken = stack()
    change(broken)
    with pytest.raises(jsonschema.ValidationError, match=re.escape(error)):
        jsonschema.validate(broken, schema(), cls=jsonschema.Draft202012Validator)


def test_every_function_of_the_template_is_deployed_from_its_image() -> None:
    functions = stack()["functions"]
    images = {f["image"] for f in functions.values()}
    folders = {spec.code_uri.name for spec in project_template().functions.values()}
    assert {f"eneo-faas-{folder}:latest" for folder in folders - NOT_DEPLOYED} == images


def test_event_kinds_and_timeouts_follow_the_template() -> None:
    template = project_template()
    functions = stack()["functions"]
    by_folder: dict[str, list[dict[str, Any]]] = {}
    for fn in functions.values():
        by_folder.setdefault(fn["image"].removeprefix("eneo-faas-").removesuffix(":latest"), []).append(fn)
    http = set(http_function_folders().values())
    for spec in template.functions.values():
        folder = spec.code_uri.name
        if folder in NOT_DEPLOYED:
            continue
        kinds = {fn["environment"]["ENEO_EVENT"] for fn in by_folder[folder]}
        assert ("http" in kinds) == (folder in http), folder
        for fn in by_folder[folder]:
            assert float(fn["environment"]["AWS_LAMBDA_FUNCTION_TIMEOUT"]) == spec.timeout, folder
    assert {fn["environment"]["ENEO_EVENT"] for fn in by_folder["ingest"]} == {"records"}
    assert {fn["environment"]["ENEO_EVENT"] for fn in by_folder["complete"]} == {"invoke"}


def test_every_schedule_has_a_cron_function_with_its_period() -> None:
    template = project_template()
    crons = [fn for fn in stack()["functions"].values() if fn.get("annotations", {}).get("topic") == "cron-function"]
    expected = sorted((template.functions[s.function].code_uri.name, s.period) for s in schedules_of(template)
                      if template.functions[s.function].code_uri.name not in NOT_DEPLOYED)
    got = sorted((fn["image"].removeprefix("eneo-faas-").removesuffix(":latest"),
                  cron_period_s(fn["annotations"]["schedule"])) for fn in crons)
    assert got == expected
    assert all(fn["environment"]["ENEO_EVENT"] == "schedule" for fn in crons)


def test_infra_readme_maps_every_template_resource() -> None:
    readme = (ROOT / "infra" / "README.md").read_text()
    section = readme.split("## OpenFaaS", 1)[1]
    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)["Resources"]  # noqa: S506
    missing = [name for name in resources if f"`{name}`" not in section]
    assert missing == []


class _Loader(yaml.SafeLoader):
    """template.yaml's short-form intrinsics (!Ref, !Sub, ...) read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
