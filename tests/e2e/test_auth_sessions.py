"""Sessions through the local stack's gateway, as the web client uses them (docs/auth.md): the refresh
cookie over plain HTTP on 127.0.0.1 (not Secure, or the browser would drop it), refresh, logout."""

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.actors import ISSUED, PASSWORD, new_tenant

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


def test_the_web_clients_session_through_the_gateway(http: httpx.Client, stack) -> None:
    _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
    r = http.post("/api/v1/users/login/token/",
                  data={"username": admin.email, "password": PASSWORD, "refresh_token_in": "cookie"})
    assert r.status_code == 200 and r.json()["refresh_token"] is None and r.json()["expires_in"] == 15 * 60
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/v1/users/" in cookie
    assert "secure" not in cookie  # http://127.0.0.1: a Secure cookie would never come back
    first = http.cookies["eneo_refresh"]
    mine = {first, r.json()["access_token"]}

    r = http.post("/api/v1/users/login/refresh/")  # the cookie goes by itself
    assert r.status_code == 200, r.text
    mine |= {http.cookies["eneo_refresh"], r.json()["access_token"]}
    assert http.cookies["eneo_refresh"] != first
    token = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert http.get("/api/v1/users/me/", headers=token).json()["email"] == admin.email

    assert http.post("/api/v1/users/logout/").status_code == 204
    assert "eneo_refresh" not in http.cookies
    r = http.get("/api/v1/users/me/", headers=token)
    assert (r.status_code, r.json()["code"]) == (401, "session_ended")
    assert http.get("/api/v1/users/me/", headers=admin.headers).status_code == 200  # another session
    ISSUED.update(mine)
    log = stack.output()
    pieces = mine | {t.rsplit(".", 1)[-1] for t in mine}  # a refresh token's secret, a JWT's signature
    assert not [p for p in pieces if p in log], "a token reached the log"
