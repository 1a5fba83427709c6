"""docs/governance.md's curl samples, pasted into bash in order, against the local stack: the audit log read,
filtered to failed sign-ins and exported as CSV and JSONL files; token and storage usage; quotas set and read."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import new_tenant
from tests.e2e.shell_samples import api_env, json_documents, run_sh, sh_blocks

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "governance.md"


def test_the_pages_curl_samples_work_as_pasted(stack, tmp_path: Path) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        refused = http.post("/api/v1/users/login/token/", data={"username": admin.email, "password": "wrong 1"})
        assert refused.status_code == 401, refused.text
    blocks = sh_blocks(PAGE.read_text())
    assert len(blocks) == 3
    run = run_sh("\n".join(blocks), api_env(stack.base_url, admin), cwd=tmp_path)  # -o audit.csv lands there
    logs, failures, usage, usage_grouped, storage, quotas_set, quotas = json_documents(run.stdout)

    # The log, newest first: the failed sign-in made above, then the successful one and the user's creation.
    assert [(e["action"], e["outcome"]) for e in logs["items"][:2]] == [
        ("auth.login", "failure"), ("auth.login", "success")], logs
    assert logs["items"][0]["details"] == {"code": "invalid_credentials"}
    assert [e["id"] for e in failures["items"]] == [logs["items"][0]["id"]], failures

    # The exports: files named as the sample says, each the whole log plus the exports recorded so far.
    with (tmp_path / "audit.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["action"] == "audit.exported" and json.loads(rows[0]["details"]) == {
        "format": "csv", "since": "2026-01-01T00:00:00+00:00"}
    assert [r["id"] for r in rows[1:]] == [e["id"] for e in logs["items"]]
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in lines[:2]] == ["audit.exported", "audit.exported"]
    assert lines[2:] == logs["items"]  # the list's entries, field for field

    # Usage of a tenant that asked nothing yet: one zero total for this month; November grouped is empty.
    assert usage["group_by"] == [] and usage["start"].endswith("-01")
    assert [(i["total_tokens"], i["questions"]) for i in usage["items"]] == [(0, 0)]
    assert usage_grouped == {"start": "2026-11-01", "end": "2026-11-30", "group_by": ["user", "model"], "items": []}
    assert storage["bytes"] == 0 and storage["collections"] == []

    limits = {"tokens_per_month": 5000000, "tokens_per_user_per_month": 200000, "storage_bytes": 10737418240}
    assert {k: quotas_set[k] for k in limits} == limits == {k: quotas[k] for k in limits}, quotas
