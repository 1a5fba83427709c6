"""Runs tests/fixtures/oidc_provider.mjs (the `oidc-provider` package, a certified OpenID Connect provider) on
127.0.0.1, and signs an account in at it the way a browser would, up to the redirect back to Eneo."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "fixtures" / "oidc_provider.mjs"
PACKAGE = ROOT / "web" / "node_modules" / "oidc-provider"


class OidcProvider:
    """The provider's process; `issuer` once it listens. A context manager."""

    def __init__(self, clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]]) -> None:
        self._config = json.dumps({"clients": clients, "accounts": accounts})
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> "OidcProvider":
        node = shutil.which("node")
        if node is None or not PACKAGE.is_dir():
            if os.environ.get("CI") == "true":
                raise RuntimeError("the SSO tests need node and web/node_modules (make web)")
            pytest.skip("the SSO tests need node and web/node_modules/oidc-provider: run `make web`")
        self._process = subprocess.Popen([node, str(SCRIPT), self._config], stdin=subprocess.PIPE,  # noqa: S603
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("ready "):
            self._process.kill()
            raise RuntimeError(f"the OpenID provider did not start: {line!r}")
        self.issuer = line.removeprefix("ready ")
        return self

    def set_claims(self, account: str, claims: dict[str, Any]) -> None:
        """Replace an account's claims at the provider (its next sign-in carries them)."""
        assert self._process is not None and self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({account: claims}) + "\n")
        self._process.stdin.flush()
        # The provider's own notices (its development pages warn on stdout) may come first.
        while (line := self._process.stdout.readline()) and line.strip() != "updated":
            continue
        assert line, "the OpenID provider stopped"

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def sign_in_at_provider(authorization_url: str, account: str) -> dict[str, str]:
    """Follow the authorization URL as a browser: sign in as `account` on the provider's page, consent, and
    return the query the provider sends the browser back to the redirect URI with (`code`, `state`, ...)."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url = authorization_url
        for _ in range(12):
            r = browser.get(url)
            if r.status_code not in (302, 303):
                raise AssertionError(f"the provider answered {r.status_code}: {r.text[:500]}")
            url = urljoin(url, r.headers["location"])
            if "/interaction/" not in url:
                if not url.startswith(urljoin(authorization_url, "/")):
                    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                continue
            page = browser.get(url)  # the login or consent page
            prompt = "login" if 'name="login"' in page.text else "consent"
            form = {"prompt": prompt} | ({"login": account, "password": "any"} if prompt == "login" else {})
            r = browser.post(url, data=form)
            assert r.status_code in (302, 303), r.text[:500]
            url = urljoin(url, r.headers["location"])
        raise AssertionError("the provider never sent the browser back")
