"""A real browser for the docs pages: Debian's chromium driven by Playwright, fully offline.

- No browser is ever downloaded: Playwright launches `/usr/bin/chromium`. Where it or
  Playwright is missing, the browser tests are skipped with the reason, never passed.
- Every host name but 127.0.0.1 fails to resolve inside the browser, so a page that works
  here needs nothing from the internet; Swagger UI and ReDoc come from the pinned npm
  packages' files (`infra/docs_assets.py`), served by `make dev`'s server or the sandbox's
  offline mirror, with the integrity the pages name.
- When a test fails, its page leaves a screenshot and its console log in `test-artifacts/`.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Offline by construction: anything the page wants from elsewhere fails at once, visibly.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
ARTIFACTS_DIR = ROOT / "test-artifacts"

PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so a fixture's teardown knows whether it failed."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


# Package scope, not session: Playwright's sync API keeps its event loop running in the main
# thread while it is open, and later tests that call `asyncio.run` there would find a loop
# "already running".
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright: pip install -r requirements-dev.txt")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    """What the page said and what went wrong on the wire, in order: the console log artifact."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.requests: list[tuple[str, str]] = []

    def console(self, message: ConsoleMessage) -> None:
        self.lines.append(f"console.{message.type}: {message.text}")

    def page_error(self, error: Exception) -> None:
        self.lines.append(f"pageerror: {error}")

    def request(self, request: Request) -> None:
        self.requests.append((request.method, request.url))

    def request_failed(self, request: Request) -> None:
        self.lines.append(f"requestfailed: {request.method} {request.url} ({request.failure})")


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, page_log: PageLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context and page; on failure, a screenshot and the console log are kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 1200})
    page = context.new_page()
    page.on("console", page_log.console)
    page.on("pageerror", page_log.page_error)
    page.on("request", page_log.request)
    page.on("requestfailed", page_log.request_failed)
    try:
        yield page
        reports = request.node.stash.get(PHASE_REPORTS, {})
        if any(report.failed for report in reports.values()):
            ARTIFACTS_DIR.mkdir(exist_ok=True)
            stem = ARTIFACTS_DIR / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            screenshot = stem.with_name(stem.name + ".png")
            console_log = stem.with_name(stem.name + ".console.log")
            page.screenshot(path=screenshot, full_page=True)
            console_log.write_text(f"url: {page.url}\n" + "".join(line + "\n" for line in page_log.lines))
            print(f"artifacts: {screenshot} {console_log}")
    finally:
        context.close()
