"""docs/auth.md's HTTP examples, replayed in order against the auth function as one user's story.

Each ```http request block is sent (placeholders filled in: `<e-mail>`, `<password>`, the latest
`<access token>` and `<refresh token>`, the `<replaced refresh token>` before it) and the ```http response
block after it must match: the status, every header shown (a Set-Cookie by its attributes), and the JSON
body's keys and values (a `<placeholder>` value stands for any non-empty text). The story goes on after a
refresh token's reuse ended the session by logging in again, which the document does not show.
"""

import json
import re
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.integration.conftest import PASSWORD
from tests.integration.test_auth_hardening import elsewhere

DOC = Path(__file__).resolve().parents[2] / "docs" / "auth.md"
PLACEHOLDER = re.compile(r"<[^<>]+>")


def examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"```http\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) % 2 == 0 and blocks, "requests and responses come in pairs"
    return list(zip(blocks[::2], blocks[1::2], strict=True))


def split(block: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = block.strip("\n").partition("\n\n")
    first, *lines = head.split("\n")
    return first, [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines)], body.strip()


def same(expected: Any, got: Any, where: str = "body") -> None:
    if isinstance(expected, str) and PLACEHOLDER.fullmatch(expected):
        assert isinstance(got, str) and got, f"{where}: {got!r}"
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{where}: {got!r}"
        for key, value in expected.items():
            same(value, got[key], f"{where}.{key}")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


def cookie_attributes(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(";") if not part.strip().lower().startswith("expires=")}


class Story:
    def __init__(self, email: str) -> None:
        self.values = {"<e-mail>": email, "<password>": PASSWORD}
        self.refresh: list[str] = []

    def fill(self, text: str, form: bool) -> str:
        values = self.values | {"<refresh token>": self.refresh[-1] if self.refresh else "",
                                "<replaced refresh token>": self.refresh[-2] if len(self.refresh) > 1 else ""}
        for name, value in values.items():
            text = text.replace(name, quote(value, safe="") if form else value)
        return text

    def learn(self, r: httpx.Response) -> None:
        if r.headers.get("content-type", "").startswith("application/json"):
            body = r.json()
            if body.get("access_token"):
                self.values["<access token>"] = body["access_token"]
            if body.get("refresh_token"):
                self.refresh.append(body["refresh_token"])
        cookie: SimpleCookie = SimpleCookie()
        for header in r.headers.get_list("set-cookie"):
            cookie.load(header)
        if (morsel := cookie.get("eneo_refresh")) is not None and morsel.value:
            self.refresh.append(morsel.value)


async def test_the_documented_examples_work(client: httpx.AsyncClient, make_user,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from eneo.core.settings import get_settings

    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")  # the reuse example is past the grace
    get_settings.cache_clear()
    user = await make_user()
    story = Story(user.email)
    try:
        async with elsewhere(client, "https") as http:
            for request, response in examples():
                first, headers, body = split(request)
                method, path, _ = first.split(" ")
                form = any(v == "application/x-www-form-urlencoded" for _, v in headers)
                sent = {n: story.fill(v, False) for n, v in headers}
                http.cookies.clear()  # only the cookies the example shows
                r = await http.request(method, path, headers=sent, content=story.fill(body, form).encode() or None)
                status_line, expected_headers, expected_body = split(response)
                assert r.status_code == int(status_line.split(" ")[1]), (first, r.text)
                for name, value in expected_headers:
                    if name.lower() == "set-cookie":
                        got = cookie_attributes(r.headers["set-cookie"])
                        for attribute in cookie_attributes(value):
                            prefix = PLACEHOLDER.sub("", attribute)
                            assert any(g == attribute or (prefix != attribute and g.startswith(prefix)
                                                          and len(g) > len(prefix)) for g in got), (first, got)
                    elif not PLACEHOLDER.search(value):
                        assert r.headers.get(name, "").lower() == value.lower(), (first, name)
                if expected_body:
                    same(json.loads(expected_body), r.json(), first)
                else:
                    assert not r.content, (first, r.text)
                story.learn(r)
                if r.status_code == 401 and r.json()["code"] == "refresh_token_reused":
                    story.learn(await http.post("/api/v1/users/login/token/",
                                                data={"username": user.email, "password": PASSWORD}))
    finally:
        get_settings.cache_clear()
