"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the session's local stack.

The client is the one `make test` built into web/build and the stack serves. Each test gets a fresh
browser context (no stored sign-in); every screen is checked with axe-core (0 serious or critical
violations) and photographed into test-artifacts/screenshots/ (git-ignored), in the language and colour
scheme it was shown in. A page that breaks its Content-Security-Policy fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("ENEO_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

playwright_api = pytest.importorskip("playwright.sync_api")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists() or not (ROOT / "web" / "build" / "index.html").exists():
        # CI installs both (.ci/run, make test): a missing one fails loudly there, so only a bare
        # developer machine skips, and says why.
        reason = f"needs {CHROMIUM} and web/build (make web)"
        if os.environ.get("CI"):
            raise pytest.UsageError(f"browser tests: {reason}")
        for item in items:
            if "tests/e2e/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Package-scoped, not session-scoped: Playwright's sync API marks an asyncio loop as running in this
    thread while it is open, and every pytest-asyncio test after it would then fail to start its own."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


class Screen:
    """One browser page of a test: navigation, axe, screenshots, and the CSP violations it saw."""

    def __init__(self, page: Any, base_url: str, lang: str, scheme: str) -> None:
        self.page, self.base_url, self.lang, self.scheme = page, base_url, lang, scheme
        self.csp_violations: list[str] = []
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def axe(self, name: str) -> None:
        """0 serious or critical WCAG 2.1 A/AA violations on the page as it is now."""
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate("() => { " + AXE.read_text() + "\n}")
        result = self.page.evaluate("""async () => {
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
            const r = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe on {name} ({self.lang}, {self.scheme}): {bad}"

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.lang}-{self.scheme}.png"), full_page=True)

    def shots(self, name: str) -> None:
        """The screen as it is now in Swedish and English, light and dark (axe on each), then as it was:
        the language through the page's own switch, the theme through the emulated system setting."""
        lang, scheme = self.lang, self.scheme
        for self.lang in ("sv", "en"):
            self._language(self.lang)
            for self.scheme in ("light", "dark"):
                self.page.emulate_media(color_scheme=self.scheme)
                self.axe(name)
                self.shot(name)
        self.lang, self.scheme = lang, scheme
        self._language(lang)
        self.page.emulate_media(color_scheme=scheme)

    def _language(self, lang: str) -> None:
        self.page.locator("label.lang select").select_option(lang)
        self.page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)


@pytest.fixture
def screen_factory(browser: Any, stack: Any) -> Iterator[Any]:
    contexts: list[Any] = []
    screens: list[Screen] = []

    def make(lang: str = "sv-SE", scheme: str = "light", width: int = 1280) -> Screen:
        context = browser.new_context(locale=lang, color_scheme=scheme, viewport={"width": width, "height": 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        screen = Screen(context.new_page(), stack.base_url, lang.split("-")[0], scheme)
        screens.append(screen)
        return screen

    yield make
    for context in contexts:
        context.close()
    for screen in screens:
        assert not screen.csp_violations, screen.csp_violations


def clean_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
