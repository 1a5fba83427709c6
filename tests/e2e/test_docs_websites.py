"""docs/websites.md's curl samples, pasted into bash in order, against the local stack (which, like the page's
`make up`, allows 127.0.0.1): the page's two-page site served by `python3 -m http.server`, the website added and
crawled, the second crawl refused while the first runs, the run complete with both pages, a search that names
the page's URL, the website given to an assistant, and its runs listed.

Only what a test must change is changed: the site's folder and port (a free one, not 8765), and the first
block's `make up` line is the test's stack."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import add_fake_model, new_tenant
from tests.e2e.shell_samples import api_env, json_documents, run_sh, sh_blocks
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "websites.md"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_pages_curl_samples_work_as_pasted(stack, fake: FakeLLMServer, tmp_path: Path) -> None:
    port = str(free_port())
    page_site = "/tmp/site"  # noqa: S108 - the page's folder, replaced by the test's own
    blocks = [b.replace(page_site, str(tmp_path / "site")).replace("8765", port) for b in sh_blocks(PAGE.read_text())]
    assert len(blocks) == 3
    site_lines = blocks[0].splitlines()
    assert site_lines[0].endswith("make up      # in one terminal") and "http.server" in site_lines[-1]
    run_sh("\n".join(site_lines[1:-1]), {})  # the site's two pages
    serve = site_lines[-1].split(" &", 1)[0]
    bash = shutil.which("bash") or "/bin/bash"
    server = subprocess.Popen([bash, "-c", f"exec {serve}"], stdout=subprocess.DEVNULL,  # noqa: S603
                              stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
            add_fake_model(http, admin, fake)
            space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"]
                         if s["personal"])
            assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                                  json={"name": "Hjälpreda"}).json()["id"]
            run = run_sh("\n".join(blocks[1:]), api_env(stack.base_url, admin, SPACE=space, ASSISTANT=assistant),
                         timeout=180)
            website = http.get("/api/v1/spaces/" + space + "/knowledge/websites/", headers=admin.headers).json()
    finally:
        server.terminate()
        server.wait(10)
    refused, run_, search, patched, runs = json_documents(run.stdout)

    assert refused["code"] == "crawl_running", refused
    assert run_["status"] == "complete" and (run_["pages_found"], run_["pages_fetched"], run_["pages_failed"]) == (
        2, 2, 0), run_
    assert search["items"] and search["items"][0]["url"] == f"http://127.0.0.1:{port}/", search
    assert "tio veckor" in search["items"][0]["text"]
    assert [w["id"] for w in patched["websites"]] == [website["items"][0]["id"]], patched
    assert [r["id"] for r in runs["items"]] == [run_["id"]]
