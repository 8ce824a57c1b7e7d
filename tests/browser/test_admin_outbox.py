"""The admin's outbox of decisions: a decision made while the server is down survives a
reload, shows on its card as not sent, is sent once (after the task is read again) by its
own admin's session only, and is dropped with a note when the task was decided meanwhile
or another admin holds it. A task whose decision waits is never the admin's next task,
and the admin home counts the decisions not sent yet."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.support import TEST_INVITE_CODE as INVITE
from tests.support import Account, ServerProcess, call_sync, register_sync
from tests.support.mongo import MONGODB_URI_ENV, SecantusServer

from .conftest import PASSWORD, OpenPage, review_offline
from .support import (
    SESSION_KEY,
    browser_marks,
    card,
    new_scan,
    submit_many,
    task_now,
    wait_for_status,
)
from .test_reconnect import while_down

pytestmark = browser_marks()

#: The localStorage keys of the admins' decision outboxes.
DECISION_KEYS_JS = (
    "() => Object.keys(localStorage).filter(k => k.startsWith('taskstream.decisions.'))"
)
#: The re-read of one task (`GET /api/tasks/{id}`), which every queued decision waits for.
TASK_READ = re.compile(r"/api/tasks/[^/?]+$")


#: A Socket.IO request with an ack id, as the page sends it: ``42<id>[event, payload]``.
REQUEST = re.compile(r"42(\d+)(\[.*)", re.DOTALL)
#: The server's answer to one: ``43<id>[answer]``.
ANSWER = re.compile(r"43(\d+)(\[.*)", re.DOTALL)


@dataclass
class Call:
    """One request of the page over Socket.IO, and the server's answer once it came."""

    event: str
    payload: dict[str, Any]
    answer: dict[str, Any] | None = None


class SocketCalls:
    """The Socket.IO requests a page sends (``task:claim_next``, ``task:release``, ...), in
    the order sent, each with the server's answer: read from the page's WebSocket frames,
    on every socket the page opens from now on (also after a reload)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.calls: list[Call] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        asked: dict[str, Call] = {}

        def sent(frame: str | bytes) -> None:
            found = REQUEST.fullmatch(frame) if isinstance(frame, str) else None
            if found:
                args = json.loads(found[2])
                payload = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
                asked[found[1]] = call = Call(str(args[0]), payload)
                self.calls.append(call)

        def received(frame: str | bytes) -> None:
            found = ANSWER.fullmatch(frame) if isinstance(frame, str) else None
            if found and found[1] in asked:
                asked.pop(found[1]).answer = json.loads(found[2])[0]

        socket.on("framesent", sent)
        socket.on("framereceived", received)

    def answered(self, event: str) -> list[Call]:
        """The requests ``event`` the server has answered, in the order sent."""
        return [c for c in self.calls if c.event == event and c.answer is not None]

    def next_tasks(self) -> list[str | None]:
        """The task each answered ``task:claim_next`` handed out (None: none left)."""
        return [
            c.answer["task"]["id"] if c.answer and c.answer.get("task") else None
            for c in self.answered("task:claim_next")
        ]

    def held(self) -> str | None:
        """The task the page's claim is on after its requests (all answered by now)."""
        assert all(c.answer is not None for c in self.calls), self.summary()
        held: str | None = None
        for call in self.calls:
            if not call.answer or not call.answer.get("ok"):
                continue
            if call.event == "task:claim_next" and call.answer.get("task"):
                held = str(call.answer["task"]["id"])
            elif call.event == "task:claim":
                held = str(call.payload["task_id"])
            elif call.event == "task:release" and call.payload["task_id"] == held:
                held = None
        return held

    def summary(self) -> list[str]:
        """Each request as ``event task_id -> answered task_id`` (for failure messages)."""

        def task(value: dict[str, Any] | None) -> str:
            found = (value or {}).get("task") or {}
            return str(found.get("id", "-")) if isinstance(found, dict) else "-"

        return [
            f"{c.event} {c.payload.get('task_id', c.payload.get('after_task_id', ''))}"
            f" -> {task(c.answer) if c.answer is not None else '(no answer)'}"
            for c in self.calls
        ]

    def wait_until(self, done: Callable[[], bool], what: str, within: float = 15.0) -> None:
        """Let the page run until ``done()`` holds (checked as frames arrive).

        Args:
            done: What the test waits for.
            what: The failure message's start.
            within: Seconds before the test fails.
        """
        deadline = time.monotonic() + within
        while not done():
            assert time.monotonic() < deadline, f"{what}: the page asked {self.summary()}"
            self.page.wait_for_timeout(50)


def decisions_of(base_url: str, admin: Account, task_id: str) -> list[str]:
    """The decision entries (validated / refused / undone) of the task's history, in order."""
    status, body = call_sync(base_url, "GET", f"/api/tasks/{task_id}/history", token=admin.token)
    assert status == 200, body
    return [str(e["action"]) for e in body["entries"] if e["action"] != "created"]


def as_other_admin(page: Page, admin: Account) -> None:
    """Make ``page`` (a new tab of a signed-in context) sign in as ``admin`` instead."""
    session = json.dumps({"token": admin.token, "user": admin.user})
    page.add_init_script(script=f"sessionStorage.setItem({SESSION_KEY!r}, {json.dumps(session)});")


def queue_unsendable(page: Page, server: ServerProcess, tasks: list[dict[str, Any]]) -> None:
    """Validate ``tasks`` while the server is down (they wait in the outbox), then start it
    again with every read of a task failing, so that none of them can be sent."""
    for task in tasks:
        card(page, task).get_by_role("button", name="Validate (V)").click()
        expect(card(page, task)).to_have_attribute("data-state", "queued")
    page.route(TASK_READ, lambda route: route.abort())
    server.start()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)


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


def test_a_decision_answered_unavailable_waits_and_is_stored_once(
    web_build: None, tmp_path: Path, open_page: OpenPage
) -> None:
    """Contract: "`unavailable` (503: the store or Redis cannot be reached right now; retry
    later)": a validation made while the store is away is answered `unavailable` over a live
    socket; it waits on its card as not sent, and is stored once when the store is back."""
    if os.environ.get(MONGODB_URI_ENV):
        pytest.skip(f"{MONGODB_URI_ENV} names a server this test may not stop")
    database = SecantusServer(storage=str(tmp_path / "secantus"), selection_timeout_ms=500)
    with database, ServerProcess(store_url=database.url("outage")) as server:
        url = server.base_url
        admin = register_sync(url, "ada-admin", PASSWORD, role="admin", invite_code=INVITE)
        worker = register_sync(url, "wren", PASSWORD)
        scan = new_scan(url, admin, "Store outage")
        texts = ["Observation: the first", "Observation: the second"]
        tasks = submit_many(url, scan, [worker], texts, threads=1)
        page = open_page(f"{url}/admin/scans/{scan}", admin).page
        expect(page.locator(".grid")).to_have_attribute("data-pending", "2")
        target = tasks[1]  # the page claims the first for itself

        database.stop()  # by the PID it started; the server and its socket stay up
        card(page, target).get_by_role("button", name="Validate (V)").click()
        expect(card(page, target)).to_have_attribute("data-state", "queued", timeout=15_000)
        expect(card(page, target).locator(".card-note")).to_contain_text("not sent yet")
        assert len(page.evaluate(DECISION_KEYS_JS)) == 1
        expect(page.locator(".conn")).to_have_attribute("data-state", "online")

        database.start()  # same port, same storage directory
        validated = wait_for_status(url, admin, target["id"], "validated", within=40)
        assert validated["decided_by"] == admin.user["id"]
        expect(page.locator(".grid")).to_have_attribute("data-pending", "1", timeout=10_000)
        page.wait_for_timeout(1_000)  # a second send would show in the history now
        assert decisions_of(url, admin, target["id"]) == ["validated"]
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


def test_a_task_whose_decision_waits_is_never_the_next_task(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """The two oldest tasks are validated while the server is down; the page is reloaded
    once it is back, while the tasks cannot be read again (the decisions still wait). The
    server, which knows nothing of them, answers them first to `task:claim_next`: the page
    asks again after each, and its current task is the third one. After deciding the third
    and fourth, only the waiting two are left: the page releases the claim it was handed
    and focuses none of them."""
    server = own_server
    page, _, _, _, _, tasks = review_offline(server, open_page, "Next task", 4)
    waiting = {task["id"] for task in tasks[:2]}
    queue_unsendable(page, server, tasks[:2])
    calls = SocketCalls(page)
    page.reload()
    for task in tasks[:2]:
        expect(card(page, task)).to_have_attribute("data-state", "queued")
    grid = page.locator(".grid")

    calls.wait_until(
        lambda: tasks[2]["id"] in calls.next_tasks(), "the third task never became the next one"
    )
    expect(grid).to_have_attribute("data-focused", tasks[2]["id"])
    assert calls.held() == tasks[2]["id"]

    # The focus moves on after a decision; past the last task the page starts from the oldest.
    card(page, tasks[2]).get_by_role("button", name="Validate (V)").click()
    calls.wait_until(lambda: tasks[3]["id"] in calls.next_tasks(), "no fourth task")
    expect(grid).to_have_attribute("data-focused", tasks[3]["id"])
    card(page, tasks[3]).get_by_role("button", name="Validate (V)").click()
    calls.wait_until(
        lambda: any(c.payload["task_id"] in waiting for c in calls.answered("task:release")),
        "the claim on a task whose decision waits was never released",
    )
    expect(grid).to_have_attribute("data-focused", "")
    calls.wait_until(lambda: all(c.answer is not None for c in calls.calls), "unanswered requests")
    assert calls.held() not in waiting
    for task in tasks[:2]:
        expect(card(page, task)).to_have_attribute("data-state", "queued")
    claimed = [c.payload["task_id"] for c in calls.calls if c.event == "task:claim"]
    assert not waiting.intersection(claimed), claimed


def test_the_admin_home_counts_the_decisions_not_sent(
    own_server: ServerProcess, open_page: OpenPage, artifacts: Path
) -> None:
    """Two decisions wait (the server was down, then the tasks cannot be read again): the
    admin home, loaded afresh, says "2 not sent yet" on that scan's row and nothing on
    another scan's, as the worker's open scans do for submissions. Another tab of the same
    admin opens the scan and sends them: the home's note goes away."""
    server, url = own_server, own_server.base_url
    page, admin, _, _, scan, tasks = review_offline(server, open_page, "Home count", 3)
    queue_unsendable(page, server, tasks[:2])
    quiet = new_scan(url, admin, "Nothing waits")
    page.goto(f"{url}/admin")
    note = page.locator(f'.scan-row[data-scan-id="{scan}"] .unsent-note')
    expect(note).to_have_text("2 not sent yet")
    expect(note).to_be_visible()
    expect(page.locator(f'.scan-row[data-scan-id="{quiet}"]')).to_be_visible()
    expect(page.locator(f'.scan-row[data-scan-id="{quiet}"] .unsent-note')).to_be_hidden()
    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        expect(note).to_be_in_viewport()
        page.locator(".scan-list").screenshot(
            path=str(artifacts / f"admin-home-not-sent-{width}x{height}.png")
        )

    second = page.context.new_page()
    second.goto(f"{url}/admin/scans/{scan}")
    for task in tasks[:2]:
        wait_for_status(url, admin, task["id"], "validated", within=20)
    expect(note).to_be_hidden()
    assert page.evaluate(DECISION_KEYS_JS) == []
    second.close()
