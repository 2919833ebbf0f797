"""Pages of a real `watcher serve` in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; `playwright install` cannot download browsers here).

Playwright's sync API marks its own event loop as the running loop of the thread that uses it, and
pytest-asyncio then refuses to set up async fixtures such as `database_url` in that thread
("Runner.run() cannot be called from a running event loop"). So the module's one browser lives in
a thread of its own, and tests hand it the work to do (`Browser.visit`)."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import live_server  # noqa: F401  (a real `watcher serve --workers 2`, SQLite and PostgreSQL)

CHROMIUM = "/usr/bin/chromium"
# Pages are loaded from this name, mapped to 127.0.0.1 inside Chromium only: as on a real deployment,
# not from "localhost"/"127.0.0.1", which front-end code may treat specially (Swagger UI's validator
# badge, an image from validator.swagger.io, is hidden on those).
PUBLIC_HOST = "watcher-docs.test"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1",
]


@dataclass
class Visit:
    """What one page load did: every request the page made, its errors, and what `inspect` returned."""

    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() that fired: an injected script ran
    result: Any = None

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if _is_foreign(url, self.origin)]


class Browser:
    """One headless Chromium, owned and driven by a single thread (Playwright objects are bound to
    the thread that created them)."""

    def __init__(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._playwright = None
        self._browser = None

    def start(self) -> None:
        self._thread.submit(self._start).result(timeout=120)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        except BaseException:
            self._playwright.stop()
            raise

    def visit(self, base_url: str, path: str, inspect: Callable[[Any], Any], timeout: float = 120, javascript: bool = True) -> Visit:
        """Open `path` of the server at `base_url` (as http://PUBLIC_HOST:port) in a fresh context, call
        `inspect(page)`, and return the recorded Visit. Requests to other origins are recorded, then
        aborted, so a regression neither waits for nor depends on the internet."""
        port = urlsplit(base_url).port
        return self._thread.submit(self._visit, f"http://{PUBLIC_HOST}:{port}", path, inspect, javascript).result(timeout=timeout)

    def _visit(self, origin: str, path: str, inspect: Callable[[Any], Any], javascript: bool = True) -> Visit:
        visit = Visit(origin=origin)
        context = self._browser.new_context(java_script_enabled=javascript)
        try:
            context.route(lambda url: _is_foreign(url, origin), lambda route: route.abort("blockedbyclient"))
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda request: visit.requests.append(request.url))
            page.on("console", lambda message: visit.console_errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
            page.on("dialog", lambda dialog: (visit.dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(origin + path, wait_until="load")
            try:
                visit.result = inspect(page)
            except Exception as exc:
                exc.add_note(
                    f"{origin}{path} requested other origins: {visit.foreign_requests()}; "
                    f"console errors: {visit.console_errors}; uncaught errors: {visit.page_errors}"
                )
                raise
            page.wait_for_load_state("networkidle")  # late requests (fonts, images) are recorded too
        finally:
            context.close()
        return visit

    def close(self) -> None:
        try:
            self._thread.submit(self._close).result(timeout=60)
        finally:
            self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


def _is_foreign(url: str, origin: str) -> bool:
    """Whether `url` leaves `origin`; data: URLs fetch nothing, blob: URLs belong to the origin inside."""
    if url.startswith("data:"):
        return False
    parts = urlsplit(url.removeprefix("blob:"))
    return f"{parts.scheme}://{parts.netloc}" != origin


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the page tests need Debian's Chromium; run `apt-get install chromium`", pytrace=False)
    chromium = Browser()
    chromium.start()
    yield chromium
    chromium.close()
