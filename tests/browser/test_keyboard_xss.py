"""Working a queue with the keyboard only, and task text that is shown, never run."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.support import ServerProcess, call_sync

from .conftest import Accounts, OpenPage
from .support import browser_marks, new_scan, submit_many

pytestmark = browser_marks()

XSS = [
    '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">',
    "<script>window.__xss = (window.__xss || 0) + 1</script>",
    '"><svg onload="window.__xss = 1"><b>bold?</b>',
]


def test_keyboard_only_validation_of_ten_tasks(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """Arrows and J/K move between cards, V validates and R refuses (reason typed, Enter),
    so ten tasks are decided without touching the mouse."""
    scan = new_scan(server.base_url, accounts.admin, "Keyboard queue")
    tasks = submit_many(
        server.base_url,
        scan,
        accounts.workers,
        [f"Keyboard task {i}" for i in range(10)],
        threads=1,
    )
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "10")
    # The oldest card holds the focus from the start.
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    keyboard = page.keyboard
    keyboard.press("j")
    keyboard.press("ArrowRight")
    keyboard.press("k")
    expect(grid).to_have_attribute("data-focused", tasks[1]["id"])
    keyboard.press("ArrowLeft")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    decided = {"validated": 0, "refused": 0}
    for index in range(10):
        expect(grid).to_have_attribute("data-pending", str(10 - index))
        if index % 3 == 2:
            keyboard.press("r")
            expect(page.locator("dialog")).to_be_visible()
            keyboard.type("Needs a photo")
            keyboard.press("Enter")
            expect(page.locator("dialog")).to_be_hidden()
            decided["refused"] += 1
        else:
            keyboard.press("v")
            decided["validated"] += 1
    expect(grid).to_have_attribute("data-pending", "0")
    expect(page.locator(".grid-empty")).to_be_visible()
    expect(page.locator(".stat-validated .stat-value")).to_have_text(str(decided["validated"]))
    expect(page.locator(".stat-refused .stat-value")).to_have_text(str(decided["refused"]))
    status, body = call_sync(
        server.base_url, "GET", f"/api/scans/{scan}/tasks", token=accounts.admin.token
    )
    assert status == 200
    statuses = [t["status"] for t in body["tasks"]]
    assert statuses.count("validated") == 7
    assert statuses.count("refused") == 3
    reasons = {t["reason"] for t in body["tasks"] if t["status"] == "refused"}
    assert reasons == {"Needs a photo"}
    page.screenshot(path=str(artifacts / "admin-queue-clear.png"))


def test_task_text_is_shown_as_text_and_never_runs(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """HTML in a task (an <img onerror>, a <script>, an <svg onload>) appears literally on
    the admin grid and the worker page, and none of it runs."""
    scan = new_scan(server.base_url, accounts.admin, '<img src=x onerror="window.__xss=9">')
    worker = accounts.workers[1]
    submit_many(server.base_url, scan, [worker], XSS)
    admin = open_page(f"/admin/scans/{scan}", accounts.admin)
    expect(admin.page.locator(".grid")).to_have_attribute("data-pending", "3")
    worker_page = open_page(f"/worker/scan/{scan}", worker)
    expect(worker_page.page.locator(".mine-item")).to_have_count(3)
    admin.page.goto("/admin")
    expect(admin.page.locator(".scan-row").first).to_be_visible()
    admin.page.go_back()
    expect(admin.page.locator(".grid")).to_have_attribute("data-pending", "3")
    for watched, where in ((admin, ".grid .content"), (worker_page, ".mine-content")):
        page = watched.page
        # data-pending is set before the cards are painted: wait for the cards themselves.
        expect(page.locator(where)).to_have_count(len(XSS))
        texts = page.locator(where).all_text_contents()
        for payload in XSS:
            assert payload in texts, f"{payload!r} is not shown as text in {texts}"
        assert page.evaluate("() => window.__xss") is None
        assert page.locator("#app img, #app script, #app b, main svg[onload]").count() == 0


def test_bidi_overrides_in_user_text_do_not_reorder_what_is_shown(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """A right-to-left override (U+202E) in a task, the scan's name or a reason cannot show
    letters in another order than they were typed: the grid, the preview and the worker's
    list show the text without bidi embedding and override controls."""
    spoof = "invoice\u202etxt.exe"
    scan = new_scan(server.base_url, accounts.admin, "scan \u202dname")
    worker = accounts.workers[1]
    submit_many(server.base_url, scan, [worker], [spoof])
    admin = open_page(f"/admin/scans/{scan}", accounts.admin)
    expect(admin.page.locator(".grid .content")).to_have_count(1)
    worker_page = open_page(f"/worker/scan/{scan}", worker)
    expect(worker_page.page.locator(".mine-content")).to_have_count(1)
    for page, where in ((admin.page, ".grid .content"), (worker_page.page, ".mine-content")):
        assert page.locator(where).all_text_contents() == ["invoicetxt.exe"]
        shown = page.evaluate("() => document.body.innerText + document.title")
        assert "\u202e" not in shown
        assert "\u202d" not in shown
        assert "scan name" in shown
