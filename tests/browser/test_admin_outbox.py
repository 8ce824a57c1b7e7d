"""The admin's outbox of decisions: a decision made while the server is down survives a
reload, shows on its card as not sent, is sent once (after the task is read again) by its
own admin's session only, and is dropped with a note when the task was decided meanwhile
or another admin holds it."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.support import Account, ServerProcess, call_sync

from .conftest import OpenPage, review_offline
from .support import SESSION_KEY, browser_marks, card, task_now, wait_for_status
from .test_reconnect import while_down

pytestmark = browser_marks()

#: The localStorage keys of the admins' decision outboxes.
DECISION_KEYS_JS = (
    "() => Object.keys(localStorage).filter(k => k.startsWith('taskstream.decisions.'))"
)
#: The re-read of one task (`GET /api/tasks/{id}`), which every queued decision waits for.
TASK_READ = re.compile(r"/api/tasks/[^/?]+$")


def decisions_of(base_url: str, admin: Account, task_id: str) -> list[str]:
    """The decision entries (validated / refused / undone) of the task's history, in order."""
    status, body = call_sync(base_url, "GET", f"/api/tasks/{task_id}/history", token=admin.token)
    assert status == 200, body
    return [str(e["action"]) for e in body["entries"] if e["action"] != "created"]


def as_other_admin(page: Page, admin: Account) -> None:
    """Make ``page`` (a new tab of a signed-in context) sign in as ``admin`` instead."""
    session = json.dumps({"token": admin.token, "user": admin.user})
    page.add_init_script(script=f"sessionStorage.setItem({SESSION_KEY!r}, {json.dumps(session)});")


def test_an_admins_unsent_decisions_survive_a_reload_and_are_stored_once(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """With the server down, a validation and a refusal with its reason wait on their
    cards. Back up, while the tasks cannot be read again, the tab is reloaded (a reload
    while the server is down cannot load the page at all): it shows both as not sent,
    another admin's tab in the same browser sends neither, and once the tasks can be read
    the page sends each exactly once."""
    server, url = own_server, own_server.base_url
    page, admin, other, _, scan, tasks = review_offline(server, open_page, "Admin outbox", 4)
    validate, refuse = tasks[2], tasks[3]  # the pages claim the first two for themselves
    card(page, validate).get_by_role("button", name="Validate (V)").click()
    expect(card(page, validate)).to_have_attribute("data-state", "queued")
    card(page, refuse).get_by_role("button", name="Refuse (R)").click()
    expect(page.locator("dialog[open]")).to_be_visible()
    page.keyboard.type("Blurry photo")
    page.keyboard.press("Enter")
    expect(card(page, refuse)).to_have_attribute("data-state", "queued")
    expect(card(page, refuse).locator(".card-note")).to_contain_text("not sent yet")
    assert len(page.evaluate(DECISION_KEYS_JS)) == 1

    # The tasks cannot be read again for now: the decisions must wait, even once the
    # server is back. The page is reloaded then (a reload while the server is down cannot
    # load the page at all): what it held in memory is gone.
    page.route(TASK_READ, lambda route: route.abort())
    server.start()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    page.reload()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    for task, note in ((validate, "Validated"), (refuse, "Refused — Blurry photo")):
        expect(card(page, task)).to_have_attribute("data-state", "queued")
        expect(card(page, task).locator(".card-note")).to_contain_text(f"{note} — not sent yet")

    # Another admin's tab in the same browser shares the storage, not the decisions.
    second = page.context.new_page()
    as_other_admin(second, other)
    second.goto(f"{url}/admin/scans/{scan}")
    expect(second.locator(".user-name")).to_have_text("bo-admin")
    expect(second.locator(".grid")).to_have_attribute("data-pending", "4")
    expect(card(second, validate)).to_have_attribute("data-state", "pending")
    second.wait_for_timeout(1_500)  # room for a wrong send
    assert task_now(url, admin, validate["id"])["status"] == "pending"
    assert task_now(url, admin, refuse["id"])["status"] == "pending"
    second.close()

    page.unroute(TASK_READ)
    validated = wait_for_status(url, admin, validate["id"], "validated", within=40)
    refused = wait_for_status(url, admin, refuse["id"], "refused", within=20)
    assert validated["decided_by"] == admin.user["id"]
    assert refused["decided_by"] == admin.user["id"]
    assert refused["reason"] == "Blurry photo"
    expect(page.locator(".grid")).to_have_attribute("data-pending", "2", timeout=10_000)
    page.wait_for_timeout(1_000)  # a second send would show in the history now
    assert decisions_of(url, admin, validate["id"]) == ["validated"]
    assert decisions_of(url, admin, refuse["id"]) == ["refused"]
    assert page.evaluate(DECISION_KEYS_JS) == []


def test_a_reloaded_decision_is_dropped_when_the_task_was_decided_or_is_held(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """Two decisions wait while the server is down. Meanwhile another admin refuses one
    task and, once the server is back, holds the other (a claim); the tab is reloaded
    before it could read the tasks again. The reloaded page reads both again: it drops
    the first with "Refused meanwhile by bo-admin", and shows the second as not sent
    because bo-admin is reviewing it, without retrying; nothing of this admin is stored."""
    server, url = own_server, own_server.base_url
    page, admin, other, worker, scan, tasks = review_offline(
        server, open_page, "Admin outbox drops", 3
    )
    for task in tasks[:2]:
        card(page, task).get_by_role("button", name="Validate (V)").click()
        expect(card(page, task)).to_have_attribute("data-state", "queued")
    assert server.store_url is not None
    while_down(server.store_url, worker, other, scan, contents=[], refuse=tasks[0]["id"])
    page.route(TASK_READ, lambda route: route.abort())
    server.start()
    status, body = call_sync(url, "POST", f"/api/tasks/{tasks[1]['id']}/claim", None, other.token)
    assert status == 200, body
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    page.reload()
    expect(card(page, tasks[1])).to_have_attribute("data-state", "queued")
    page.unroute(TASK_READ)
    expect(card(page, tasks[0]).locator(".card-note")).to_contain_text(
        "Refused meanwhile by bo-admin"
    )
    expect(
        page.locator(".toast", has_text="Not sent: that task was refused meanwhile")
    ).to_be_visible()
    expect(card(page, tasks[1]).locator(".card-note")).to_contain_text(
        "not sent: bo-admin is reviewing it"
    )
    expect(page.locator(".toast", has_text="Not sent: bo-admin is reviewing")).to_be_visible()
    # Not retried: the card goes back to pending, held by bo-admin, and the queue is empty.
    expect(card(page, tasks[1])).to_have_attribute("data-state", "pending", timeout=10_000)
    expect(card(page, tasks[1]).locator(".card-claim")).to_have_text("bo-admin is reviewing")
    assert page.evaluate(DECISION_KEYS_JS) == []
    page.wait_for_timeout(2_500)
    assert task_now(url, admin, tasks[1]["id"])["status"] == "pending"
    assert decisions_of(url, admin, tasks[1]["id"]) == []
    kept = task_now(url, admin, tasks[0]["id"])
    assert kept["decided_by"] == other.user["id"]
    assert decisions_of(url, admin, tasks[0]["id"]) == ["refused"]
