"""The whole review loop in a real browser: sign-in, a worker's submission reaching the
admin's grid live, a refusal with a reason reaching the worker live, and task text that
never runs as HTML."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import WebSocketRoute, expect

from tests.support import Account, ServerProcess, call_sync

from .conftest import Accounts, OpenPage
from .support import browser_marks, new_scan, submit_many

pytestmark = browser_marks()


def test_sign_in_page_explains_errors_and_registers(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """Signing in shows a clear message for a wrong password and a wrong invite code, and
    registering a worker lands on the worker home."""
    page = open_page("/").page
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "sign-in.png"))

    page.fill("#username", accounts.admin.username)
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".form-message[role=alert]")).to_have_text("Wrong username or password.")

    page.get_by_role("tab", name="Create account").click()
    page.fill("#username", "new-admin")
    page.fill("#password", "long enough secret")
    page.get_by_role("button", name="Admin Review, validate & refuse").click()
    page.fill("#invite", "wrong-code")
    page.get_by_role("button", name="Create admin account").click()
    expect(page.locator(".form-message[role=alert]")).to_contain_text("invite code is not valid")

    page.fill("#username", accounts.workers[0].username)
    page.get_by_role("button", name="Worker Submit observations & suggestions").click()
    page.get_by_role("button", name="Create worker account").click()
    expect(page.locator(".form-message[role=alert]")).to_contain_text("username is taken")

    page.fill("#username", "fresh-worker")
    page.get_by_role("button", name="Create worker account").click()
    expect(page.get_by_role("heading", name="Open scans")).to_be_visible()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online")


def test_worker_submission_and_refusal_travel_live(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """A worker's submission appears on the admin's grid, and the admin's refusal with a
    reason appears on the worker's page, both without a reload."""
    scan = new_scan(
        server.base_url, accounts.admin, "Night shift walk-through", "Loading dock and aisles 1-9"
    )
    worker = accounts.workers[0]
    earlier = submit_many(
        server.base_url,
        scan,
        [worker],
        [
            "Observation: Pallet jack left charging in the fire lane at dock 3.",
            "Suggestion: Add a second label printer at packing station B.",
        ],
    )
    admin = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(admin.locator(".grid")).to_have_attribute("data-pending", "2")
    worker_page = open_page(f"/worker/scan/{scan}", worker).page
    expect(worker_page.locator(".mine-item")).to_have_count(2)

    text = "Emergency exit sign flickering above aisle 7; light is out half the time."
    worker_page.get_by_role("button", name="Observation").click()
    worker_page.fill("#task-content", text)
    worker_page.get_by_role("button", name="Submit").click()
    mine = worker_page.locator(".mine-item", has_text="Emergency exit sign")
    expect(mine.locator(".badge")).to_have_text("Pending")

    card = admin.locator(".grid .card", has_text="Emergency exit sign")
    expect(card).to_be_visible()
    expect(admin.locator(".grid")).to_have_attribute("data-pending", "3")
    admin.screenshot(path=str(artifacts / "admin-grid-3.png"))

    card.get_by_role("button", name="Refuse (R)").click()
    dialog = admin.locator("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Already known").click()
    admin.fill("#refuse-reason", "Already known: facilities ticket FAC-1182 is open")
    admin.screenshot(path=str(artifacts / "refuse-dialog.png"))
    dialog.get_by_role("button", name="Refuse", exact=True).click()
    expect(card).to_have_count(0)
    expect(admin.locator(".grid")).to_have_attribute("data-pending", "2")

    expect(mine.locator(".badge")).to_have_text("Refused")
    expect(mine.locator(".reason-text")).to_have_text(
        "Already known: facilities ticket FAC-1182 is open"
    )
    # One more decision, the other way, so the worker page shows each status.
    status, _ = call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{earlier[1]['id']}/decision",
        {"decision": "validated"},
        accounts.admin.token,
    )
    assert status == 200
    expect(
        worker_page.locator(".mine-item", has_text="label printer").locator(".badge")
    ).to_have_text("Validated")
    expect(worker_page.locator(".tallies .count-refused strong")).to_have_text("1")
    worker_page.screenshot(path=str(artifacts / "worker-page.png"))
    expect(admin.locator(".stat-refused .stat-value")).to_have_text("1")
    admin.screenshot(path=str(artifacts / "admin-after-decisions.png"))
    admin.get_by_role("link", name="Scans").click()
    row = admin.locator(".scan-row", has_text="Night shift walk-through")
    expect(row.locator(".count-refused strong")).to_have_text("1")
    expect(row.locator(".count-pending strong")).to_have_text("1")
    admin.screenshot(path=str(artifacts / "admin-home.png"))


def test_already_decided_shows_who_decided_first(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """When another admin decided a task first, the card says who did and what, with the
    reason (from `error.task` of the `already_decided` ack)."""
    scan = new_scan(server.base_url, accounts.admin, "Race")
    (task,) = submit_many(server.base_url, scan, accounts.workers[:1], ["Two admins, one task"])

    def hold_back_updates(ws: WebSocketRoute) -> None:
        # This admin's socket never hears of the other decision, so its click comes second.
        upstream = ws.connect_to_server()
        ws.on_message(upstream.send)
        upstream.on_message(
            lambda message: None if "task:updated" in str(message) else ws.send(message)
        )

    page = open_page(
        f"/admin/scans/{scan}",
        accounts.admin,
        before=lambda p: p.route_web_socket(re.compile(r"/socket\.io/"), hold_back_updates),
    ).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "1")
    status, _ = call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{task['id']}/decision",
        # override: the page holds the task (its reviewer's current one, CONTRACT.md §4.2)
        {"decision": "refused", "reason": "duplicate of #12", "override": True},
        accounts.admin2.token,
    )
    assert status == 200
    card = page.locator(".grid .card")
    card.get_by_role("button", name="Validate (V)").click()
    note = card.locator(".card-note")
    expect(note).to_contain_text("Refused first by bo-admin")
    expect(note).to_contain_text("duplicate of #12")
    expect(card).to_have_attribute("data-state", "conflict")
    # The card leaves once the message has been read.
    expect(card).to_have_count(0, timeout=10_000)


def test_closing_a_scan_reaches_the_worker_live(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Closing a scan from the admin's view (after confirming) disables the worker's form
    and says why, without a reload."""
    scan = new_scan(server.base_url, accounts.admin, "Closing time")
    admin = open_page(f"/admin/scans/{scan}", accounts.admin).page
    worker = open_page(f"/worker/scan/{scan}", accounts.workers[2]).page
    expect(worker.locator("#task-content")).to_be_enabled()
    expect(admin.locator(".toolbar .scan-status")).to_have_text("Open")
    admin.get_by_role("button", name="Close scan").click()
    dialog = admin.locator("dialog[open]")
    expect(dialog).to_contain_text("Workers will no longer be able to submit")
    dialog.get_by_role("button", name="Close scan").click()
    expect(admin.locator(".toolbar .scan-status")).to_have_text("Closed")
    expect(worker.locator(".scan-status")).to_have_text("Closed")
    expect(worker.locator(".banner")).to_contain_text("no longer takes submissions")
    expect(worker.locator("#task-content")).to_be_disabled()


def test_a_refused_token_goes_back_to_sign_in(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """When the server stops accepting the token (here: it was logged out elsewhere), the
    socket's `unauthorized` refusal sends the page back to sign-in with a message."""
    worker = accounts.workers[2]
    status, body = call_sync(
        server.base_url,
        "POST",
        "/api/auth/login",
        {"username": worker.username, "password": worker.password},
    )
    assert status == 200
    session = Account(worker.username, worker.password, body["token"], body["user"])
    page = open_page("/", session).page
    expect(page.locator(".conn")).to_have_attribute("data-state", "online")
    status, _ = call_sync(server.base_url, "POST", "/api/auth/logout", token=session.token)
    assert status == 204
    expect(page.locator(".auth-card")).to_be_visible()
    expect(page.locator(".auth-card")).to_contain_text("Your session has ended")
    assert page.evaluate("() => sessionStorage.getItem('taskstream.session')") is None
