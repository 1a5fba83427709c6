"""The policy finds a request's route by its declared path, whatever the ids in it or a stage prefix."""

from typing import Any

from starlette.requests import Request

from eneo.auth.deps import _route_path
from eneo.permissions.policy import Permission, decision


def request(path: str, params: dict[str, str], root_path: str = "") -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "root_path": root_path,
                             "path_params": params, "headers": [], "query_string": b""}
    return Request(scope)


def test_the_declared_path_is_read_back_from_the_request() -> None:
    path = _route_path(request("/api/v1/assistants/a1/prompts/1/restore/", {"assistant_id": "a1", "version": "1"}))
    assert path == "/api/v1/assistants/{assistant_id}/prompts/{version}/restore/"
    assert decision("POST", path) == Permission.create_assistants


def test_a_stage_prefix_is_not_part_of_the_path() -> None:
    path = _route_path(request("/prod/api/v1/users/u1/", {"user_id": "u1"}, root_path="/prod"))
    assert path == "/api/v1/users/{user_id}/"
