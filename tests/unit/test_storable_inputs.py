"""Every string a client sends to an HTTP function refuses a NUL (issue 11, item 2).

Postgres cannot store NUL in `text` (psycopg raises DataError: a 500), so every string input goes through
eneo.core.text's rule (`Text`, `Name`, `Query`, `storable`) and answers 422 naming its field. This walks every
route of every HTTP function and validates a NUL-bearing value against each string input's own type: a new
field declared as a bare `str` fails here, not in production. The few inputs that are checked in code instead
are listed with where.
"""

import functools
import os
from collections.abc import Iterator
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Annotated, Any, get_args

import pytest
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.conftest import TEST_SECRETS
from tests.project_template import http_function_folders

ROOT = Path(__file__).resolve().parents[2]
BAD = "a\x00b"
PROBES: list[Any] = [BAD, [BAD], {"k": BAD}, {BAD: "v"}]

# Inputs whose value is parsed or checked in the route before anything reaches SQL.
CHECKED_IN_CODE = {
    "cursor": "eneo.core.pagination.decode_cursor: 400 invalid_cursor for anything this API did not issue",
    "idempotency_key": "eneo.sessions.idempotency.ask_key: 422 invalid_idempotency_key",
    "after": "eneo.core.streams.valid_entry_id: 422 for anything but a stream entry id",
    "last_event_id": "eneo.core.streams.valid_entry_id, as `after`",
    "username": "eneo.users.api.login: storable(), 422",
    "password": "eneo.users.api.login: storable(), 422",
    "tenant": "eneo.users.api.login: storable(), 422",
    "eneo_refresh": "eneo.auth.sessions: only the session UUID it starts with reaches SQL, else 401",
    "scope": "OAuth2 form field the login ignores",
    "client_id": "OAuth2 form field the login ignores",
    "client_secret": "OAuth2 form field the login ignores",
}


@functools.cache
def apps() -> dict[str, Any]:
    from eneo.core.settings import get_settings

    saved = {k: os.environ.get(k) for k in TEST_SECRETS}
    os.environ.update(TEST_SECRETS)
    get_settings.cache_clear()
    try:
        found = {}
        for folder in sorted(set(http_function_folders().values())):
            spec = spec_from_file_location(f"inputs_{folder}", ROOT / "functions" / folder / "app.py")
            assert spec and spec.loader
            module = module_from_spec(spec)
            spec.loader.exec_module(module)
            found[folder] = module.app
        return found
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def routes(routes_: list[Any]) -> Iterator[APIRoute]:
    for route in routes_:
        if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.160)
            yield from routes(route.original_router.routes)
        elif isinstance(route, APIRoute):
            yield route


def accepts_nul(annotation: Any, metadata: list[Any]) -> bool:
    adapter = TypeAdapter(Annotated[(annotation, *metadata)] if metadata else annotation)  # type: ignore[valid-type]
    for probe in PROBES:
        try:
            adapter.validate_python(probe)
            return True
        except (ValidationError, ValueError, TypeError):
            continue
    return False


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from models_in(arg)


def unchecked_fields(model: type[BaseModel], where: str, seen: set[type[BaseModel]]) -> Iterator[str]:
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        nested = list(models_in(field.annotation))
        for sub in nested:
            yield from unchecked_fields(sub, f"{where}.{name}", seen)
        if not nested and accepts_nul(field.annotation, field.metadata):
            yield f"{where}.{name}"


def unchecked_inputs(folder: str) -> list[str]:
    found = []
    for route in routes(apps()[folder].routes):
        where = f"{','.join(sorted(route.methods))} {route.path}"
        params = get_flat_params(route.dependant) + list(route.dependant.body_params)
        for param in params:
            info = param.field_info
            nested = list(models_in(info.annotation))
            for model in nested:
                found += unchecked_fields(model, f"{where} {param.name}", set())
            if not nested and param.name not in CHECKED_IN_CODE and accepts_nul(info.annotation, info.metadata):
                found.append(f"{where} {param.name}")
    return found


def test_the_probe_tells_checked_from_unchecked() -> None:
    from eneo.core.text import Name, Query, Text

    assert accepts_nul(str, []) and accepts_nul(str | None, []) and accepts_nul(dict[str, Any], [])
    assert not any(accepts_nul(t, []) for t in (Name, Text, Query, Text | None, list[Name], int))


@pytest.mark.parametrize("folder", sorted(set(http_function_folders().values())))
def test_every_string_input_refuses_nul(folder: str) -> None:
    assert unchecked_inputs(folder) == [], "use eneo.core.text's types for these inputs"
