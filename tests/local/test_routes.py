"""Route selection: the most specific route wins, as in API Gateway HTTP APIs."""

from pathlib import Path

import pytest

from eneo_local.routes import RouteTable
from eneo_local.template import HttpRoute, load_template


def table(*keys: str) -> RouteTable:
    return RouteTable(HttpRoute("Api", k.split(" ")[0], k.split(" ")[1], "Fn", k) for k in keys)


ROUTES = table("GET /items", "ANY /items", "GET /items/special", "ANY /items/{id}", "ANY /items/{proxy+}",
               "GET /items/{id}/parts/{part}", "ANY /{proxy+}")


@pytest.mark.parametrize(("method", "path", "route_key", "params"), [
    ("GET", "/items", "GET /items", {}),  # method before ANY
    ("POST", "/items", "ANY /items", {}),
    ("GET", "/items/special", "GET /items/special", {}),  # exact before {param}
    ("POST", "/items/special", "ANY /items/{id}", {"id": "special"}),
    ("GET", "/items/abc", "ANY /items/{id}", {"id": "abc"}),  # {param} before greedy
    ("GET", "/items/a/b", "ANY /items/{proxy+}", {"proxy": "a/b"}),
    ("GET", "/items/1/parts/2", "GET /items/{id}/parts/{part}", {"id": "1", "part": "2"}),
    ("DELETE", "/items/1/parts/2", "ANY /items/{proxy+}", {"proxy": "1/parts/2"}),  # longest greedy
    ("GET", "/other/x", "ANY /{proxy+}", {"proxy": "other/x"}),
    ("GET", "/items/", "GET /items", {}),  # trailing slash ignored for matching
    ("GET", "/items/special/", "GET /items/special", {}),
    ("GET", "/items/a%20b", "ANY /items/{id}", {"id": "a b"}),  # parameters decoded
])
def test_most_specific_route_wins(method: str, path: str, route_key: str, params: dict[str, str]) -> None:
    match = ROUTES.match(method, path)
    assert match is not None
    assert (match.route.route_key, match.path_parameters) == (route_key, params)


def test_greedy_needs_a_segment_and_nothing_matches_is_none() -> None:
    routes = table("ANY /files/{proxy+}", "GET /health")
    assert routes.match("GET", "/files") is None
    assert routes.match("GET", "/files/") is None
    assert routes.match("POST", "/health") is None
    assert routes.match("GET", "/") is None
    assert ROUTES.match("GET", "/") is None, "/{proxy+} needs at least one segment"


def test_default_route_is_last() -> None:
    routes = RouteTable([HttpRoute("Api", "ANY", "$default", "Fn", "Default"),
                         HttpRoute("Api", "GET", "/x", "Fn", "X")])
    assert routes.match("GET", "/x").route.route_key == "GET /x"  # type: ignore[union-attr]
    assert routes.match("POST", "/anything/else").route.route_key == "$default"  # type: ignore[union-attr]


def test_duplicate_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        table("GET /x", "GET /x")


def test_project_routes() -> None:
    template = load_template(Path(__file__).parents[2] / "template.yaml", {
        "DatabaseUrl": "x", "RedisUrl": "x", "JwtSecret": "j" * 40, "SuperApiKey": "k" * 40,
        "EncryptionKey": "e" * 40})
    routes = RouteTable(template.routes)
    spaces = routes.match("GET", "/api/v1/spaces/")
    assert spaces is not None
    assert (spaces.route.route_key, spaces.route.function) == ("ANY /api/v1/spaces", "SpacesFunction")
    member = routes.match("PATCH", "/api/v1/spaces/42/members/7/")
    assert member is not None
    assert member.route.route_key == "ANY /api/v1/spaces/{proxy+}"
    assert member.path_parameters == {"proxy": "42/members/7"}
    login = routes.match("POST", "/api/v1/users/login/token/")
    assert login is not None and login.route.function == "AuthFunction"
    assert routes.match("POST", "/api/v1/health/auth") is None
    # More specific routes of other functions win over a function's {proxy+}.
    owner = {path: (m.route.function if (m := routes.match("POST", path)) else None) for path in (
        "/api/v1/spaces/42/applications/assistants/", "/api/v1/spaces/42/members/",
        "/api/v1/assistants/7/", "/api/v1/assistants/7/sessions/", "/api/v1/assistants/7/sessions/9/feedback/",
        "/api/v1/questions/9/stream")}
    assert owner == {
        "/api/v1/spaces/42/applications/assistants/": "AssistantsFunction",
        "/api/v1/spaces/42/members/": "SpacesFunction",
        "/api/v1/assistants/7/": "AssistantsFunction",
        "/api/v1/assistants/7/sessions/": "SessionsFunction",
        "/api/v1/assistants/7/sessions/9/feedback/": "SessionsFunction",
        "/api/v1/questions/9/stream": "SessionsFunction",
    }
