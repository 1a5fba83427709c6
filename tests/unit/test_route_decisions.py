"""The policy finds a request's route by its declared path, whatever the ids in it or a stage prefix."""

from typing import Any

from starlette.requests import Request

from eneo.auth.deps import _route_path
from eneo.permissions.policy import Permission, decision


def request(path: str, params: dict[str, str], root_path: str = "", method: str = "GET") -> Request:
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": root_path,
                             "path_params": params, "headers": [], "query_string": b""}
    return Request(scope)


def test_the_declared_path_is_read_back_from_the_request() -> None:
    path = _route_path(request("/api/v1/assistants/a1/prompts/1/restore/", {"assistant_id": "a1", "version": "1"},
                               method="POST"))
    assert path == "/api/v1/assistants/{assistant_id}/prompts/{version}/restore/"
    assert decision("POST", path) == Permission.create_assistants


def test_a_stage_prefix_is_not_part_of_the_path() -> None:
    path = _route_path(request("/prod/api/v1/users/u1/", {"user_id": "u1"}, root_path="/prod"))
    assert path == "/api/v1/users/{user_id}/"


def test_a_value_that_repeats_or_equals_a_fixed_segment_still_names_its_route() -> None:
    # Both were refused as `route_not_decided` (403) when each value was renamed wherever it stood: found by
    # the API probe (tests/integration/test_api_fuzz.py), which sent one unknown id for two parameters.
    same = "7e57a11e-0000-4000-8000-000000000000"
    path = _route_path(request(f"/api/v1/user-groups/{same}/members/{same}/", {"group_id": same, "user_id": same},
                               method="DELETE"))
    assert path == "/api/v1/user-groups/{group_id}/members/{user_id}/"
    assert _route_path(request("/api/v1/users/api/", {"user_id": "api"})) == "/api/v1/users/{user_id}/"
    assert _route_path(request("/api/v1/users/v1/invitation/", {"user_id": "v1"}, method="POST")) == (
        "/api/v1/users/{user_id}/invitation/")


def test_a_path_of_no_route_is_left_as_it_is() -> None:
    assert _route_path(request("/api/v1/nowhere/x1/", {"thing_id": "x1"})) == "/api/v1/nowhere/x1/"
