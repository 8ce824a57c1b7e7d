"""Issue #6, Security 5 (browser side), in a real Chromium: cross-origin pages are refused by
default and let in when configured, and user text is shown as text on every surface.

tests/browser/test_keyboard_xss.py shows HTML in a task's content as text on the admin grid and
the worker page; this module covers what it does not: the refusal dialog's quote of the task,
the refusal reason the worker reads, and a scan's name and description.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    browser_marks,
    ensure_web_build,
    new_scan,
    signed_in,
    submit_many,
)
from tests.contract.helpers import PASSWORD, Users
from tests.support import Account, ServerProcess, free_port, register_sync

pytestmark = browser_marks()

CONTENT = '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">'
REASON = '</textarea><script>window.__xss = 2</script><iframe src="javascript:window.__xss=3">'
NAME = '<svg onload="window.__xss = 4">scan'
DESCRIPTION = "<b onmouseover=\"window.__xss = 5\">bold?</b> & 'quotes'"

#: Fetches the API and opens a raw Engine.IO websocket from the page; what each got.
PROBE_JS = """
async ([api, token]) => {
  const out = {};
  const attempt = async (path, init) => {
    try { const r = await fetch(api + path, init); return String(r.status); }
    catch (e) { return "blocked"; }
  };
  out.health = await attempt("/api/health", {});
  out.me = await attempt("/api/auth/me", {headers: {Authorization: "Bearer " + token}});
  out.socket = await new Promise((resolve) => {
    const ws = new WebSocket(api.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket");
    ws.onmessage = (m) => { resolve("open " + String(m.data).slice(0, 1)); ws.close(); };
    ws.onerror = () => resolve("refused");
    setTimeout(() => resolve("no answer"), 10000);
  });
  return out;
}
"""


class _ForeignPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another origin</title><p>not the dashboard</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def foreign_origin() -> Iterator[str]:
    """A page on another origin (another port of 127.0.0.1), as an attacker's site would be."""
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _ForeignPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[Callable[..., BrowserContext]]:
    made: list[BrowserContext] = []

    def new(**kwargs: Any) -> BrowserContext:
        made.append(chromium.new_context(**kwargs))
        return made[-1]

    yield new
    for item in made:
        item.close()


def probe(page: Page, api: str, token: str) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(PROBE_JS, [api, token])
    return result


def test_a_foreign_page_cannot_use_the_api_or_sockets_by_default(
    context: Callable[..., BrowserContext], foreign_origin: str, server: ServerProcess, users: Users
) -> None:
    """Chromium, on another origin, holding a valid token: the API's answers are unreadable
    (no grant) and the Socket.IO websocket is refused, while the dashboard's own origin may."""
    page = context().new_page()
    page.goto(foreign_origin)
    assert probe(page, server.base_url, users.worker.token) == {
        "health": "blocked",
        "me": "blocked",
        "socket": "refused",
    }
    own = context(base_url=server.base_url).new_page()
    own.goto("/api/health")  # the server's own origin (no CSP applies to a JSON document's fetch)
    assert probe(own, server.base_url, users.worker.token) == {
        "health": "200",
        "me": "200",
        "socket": "open 0",
    }


def test_a_configured_origin_may_use_the_api_and_sockets(
    context: Callable[..., BrowserContext], foreign_origin: str, tmp_path: Path
) -> None:
    """With `--cors-origin <that origin>`, the same page reads the API and opens the socket."""
    with ServerProcess(
        store_url="memory://", args=["--cors-origin", foreign_origin], cwd=tmp_path
    ) as server:
        worker = register_sync(server.base_url, "cors-browser", PASSWORD)
        page = context().new_page()
        page.goto(foreign_origin)
        assert probe(page, server.base_url, worker.token) == {
            "health": "200",
            "me": "200",
            "socket": "open 0",
        }


# -- user text is text -----------------------------------------------------------------------------
def _open(
    context: Callable[..., BrowserContext], server: ServerProcess, account: Account, path: str
) -> tuple[Page, list[str]]:
    """A signed-in page; the list collects CSP violations and script errors."""
    ctx = signed_in(context(base_url=server.base_url, reduced_motion="reduce"), account)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and ("Content Security Policy" in m.text or "Refused" in m.text)
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(path)
    return page, problems


def _nothing_ran(page: Page) -> None:
    assert page.evaluate("() => window.__xss") is None
    injected = "#app img, #app script, #app iframe, [onerror], [onload], [onmouseover]"
    assert page.locator(injected).count() == 0


def test_the_refusal_dialog_reason_and_scan_text_are_shown_as_text(
    context: Callable[..., BrowserContext], server: ServerProcess, users: Users
) -> None:
    """HTML in a task is quoted literally in the refusal dialog; HTML typed as the reason reaches
    the worker's page literally; HTML in a scan's name and description shows literally on the
    admin's list and the worker's page; none of it runs."""
    ensure_web_build()
    scan = new_scan(server.base_url, users.admin, NAME, DESCRIPTION)
    submit_many(server.base_url, scan, [users.worker], [CONTENT])

    admin, admin_problems = _open(context, server, users.admin, f"/admin/scans/{scan}")
    grid = admin.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "1")
    expect(admin.locator(".grid .content")).to_have_text(CONTENT)
    admin.keyboard.press("r")
    dialog = admin.locator("dialog.dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".refuse-quote")).to_have_text(CONTENT)
    _nothing_ran(admin)
    admin.fill("#refuse-reason", REASON)
    admin.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(grid).to_have_attribute("data-pending", "0")
    _nothing_ran(admin)

    worker, worker_problems = _open(context, server, users.worker, f"/worker/scan/{scan}")
    item = worker.locator(".mine-item")
    expect(item.locator(".reason-text")).to_have_text(REASON)
    expect(item.locator(".mine-content")).to_have_text(CONTENT)
    expect(worker.locator("body")).to_contain_text(NAME)
    _nothing_ran(worker)

    admin.goto("/admin")
    row = admin.locator(".scan-row", has_text=NAME)
    expect(row).to_be_visible()
    _nothing_ran(admin)
    assert not admin_problems + worker_problems, admin_problems + worker_problems


def test_the_token_is_kept_in_session_storage_only(
    context: Callable[..., BrowserContext], server: ServerProcess, users: Users
) -> None:
    """Signing in through the form puts the session in this tab's sessionStorage, never in
    localStorage or a cookie (docs/security.md argues the choice)."""
    ensure_web_build()
    page = context(base_url=server.base_url).new_page()
    page.goto("/")
    page.fill("#username", users.worker2.username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online")
    stored = page.evaluate("() => sessionStorage.getItem('taskstream.session')")
    assert stored is not None
    assert "token" in stored
    assert page.evaluate("() => localStorage.length") == 0
    assert page.context.cookies() == []
