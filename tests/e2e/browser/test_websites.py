"""The websites screen in a real browser: an editor adds a website of a space (a site served on 127.0.0.1),
crawls it now and watches the run reach `complete` with its counts, live from the events stream (read out by
a live region, with no polling of the runs), changes its schedule, and deletes it.
A viewer of the space sees the websites and their runs but no controls that change them. axe and screenshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.actors import Actor, new_tenant, new_user
from tests.e2e.browser.test_admin import accept_dialogs
from tests.e2e.browser.test_chat import sign_in
from tests.fakes.website import FakeSite

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[FakeSite]:
    with FakeSite(slow_seconds=0.5) as s:
        yield s


@dataclass
class Org:
    admin: Actor
    viewer: Actor
    space: str


@pytest.fixture(scope="module")
def org(stack: Any) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        viewer = new_user(http, admin)
        space = http.post("/api/v1/spaces/", json={"name": "Stadsbyggnad"}, headers=admin.headers).json()["id"]
        r = http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": viewer.id, "role": "viewer"},
                      headers=admin.headers)
        assert r.status_code == 201, r.text
        return Org(admin, viewer, space)


def listed(stack: Any, org: Org) -> list[dict[str, Any]]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        r = http.get(f"/api/v1/spaces/{org.space}/knowledge/websites/", headers=org.admin.headers)
    return list(r.json()["items"])


def test_an_editor_adds_crawls_reschedules_and_deletes_a_website(screen_factory: Any, org: Org, site: FakeSite,
                                                                 stack: Any) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    asked = accept_dialogs(screen)
    screen.goto(f"/websites?space={org.space}")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.admin.email)
    page.get_by_role("heading", name="Add a website").wait_for()
    page.get_by_label("Address", exact=True).fill(site.root)
    page.get_by_label("Name (empty: the address)").fill("Kommunens webb")
    page.get_by_label("Link depth").fill("1")
    page.get_by_label("At most pages").fill("4")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_test_id("status").filter(has_text="The website is added.").wait_for()
    page.locator('[data-testid="website"][data-name="Kommunens webb"]').wait_for()
    [made] = listed(stack, org)
    assert (made["url"], made["max_depth"], made["max_pages"], made["update_interval"]) == (site.root, 1, 4, "never")

    # What the live region says, as it says it, and how often the runs are read over HTTP meanwhile.
    page.evaluate("""() => {
        window.__said = [];
        const region = document.querySelector('[data-testid="progress"]');
        new MutationObserver(() => window.__said.push(region.textContent.trim()))
            .observe(region, {childList: true, characterData: true, subtree: true});
    }""")
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/runs/" in r.url else None)
    page.get_by_role("button", name="Crawl Kommunens webb now").click()
    page.get_by_test_id("status").filter(has_text="The crawl has started.").wait_for()
    page.locator('[data-testid="run"][data-status="complete"]').wait_for(timeout=120_000)
    cells = page.get_by_test_id("run").first.locator("td").all_inner_texts()
    assert cells[1] == "Complete" and int(cells[2]) >= 1 and int(cells[3]) >= 1, cells
    progress = page.get_by_test_id("progress")
    assert progress.get_attribute("role") == "status" and progress.get_attribute("data-mode") == "live"
    failed = cells[5].split()[0]  # the count, before the failures by reason
    ended = f"The crawl of Kommunens webb is complete: {cells[3]} pages fetched, {cells[4]} unchanged, {failed} failed."
    said = page.evaluate("() => window.__said")
    assert said[-1] == ended, said
    assert any(s.startswith("Crawl of Kommunens webb: ") for s in said), said  # its counts while it ran
    # the run's row followed the stream: read over HTTP once, when the crawl was started (not every few s)
    assert len(reads) == 1, reads
    page.locator('[data-testid="website"][data-name="Kommunens webb"] [data-testid="pages"]').filter(
        has_text=f"of {cells[3]} pages ready").wait_for()
    screen.shots("websites")

    page.get_by_label("Updates").first.select_option(label="Every week")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("status").filter(has_text="Saved.").wait_for()
    assert listed(stack, org)[0]["update_interval"] == "weekly"

    page.get_by_role("button", name="Delete Kommunens webb").click()
    page.get_by_test_id("status").filter(has_text="The website is deleted.").wait_for()
    assert asked == ["Delete the website Kommunens webb with all its pages?"]
    assert listed(stack, org) == []


def test_a_viewer_sees_websites_but_no_controls(screen_factory: Any, org: Org, site: FakeSite, stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        r = http.post(f"/api/v1/spaces/{org.space}/knowledge/websites/", headers=org.admin.headers,
                      json={"url": site.root, "name": "Läsbar webb", "max_depth": 0, "max_pages": 1})
        assert r.status_code == 201, r.text
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto(f"/websites?space={org.space}")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.viewer.email)
    page.locator('[data-testid="website"][data-name="Läsbar webb"]').wait_for()
    page.get_by_role("link", name="Läsbar webb").click()
    page.get_by_role("heading", name="Inläsningar av Läsbar webb").wait_for()
    assert page.get_by_role("button", name="Läs in Läsbar webb nu").count() == 0
    assert page.get_by_role("heading", name="Lägg till webbplats").count() == 0
    screen.axe("websites-viewer")
