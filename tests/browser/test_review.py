"""Several admins reviewing one scan (contract v2 §4) in real browsers: a click or a key
never lands on another task than the one the reviewer looked at, cards another admin
holds say who, an admin's claim ends on the card the reviewer is on whatever order the
server runs the page's requests in, decisions can be undone, and the header shows who
reviews."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    ServerProcess,
    SocketDriver,
    call_sync,
    register_sync,
)

from .conftest import PASSWORD, Accounts, OpenPage, review_offline
from .support import (
    browser_marks,
    card,
    new_scan,
    settle,
    submit_many,
    task_now,
    wait_for_status,
)
from .test_admin_outbox import ANSWER, REQUEST, Call
from .test_reconnect import while_down

pytestmark = browser_marks()

#: True once the card of a task is gone, leaving, or no longer a pending card.
LEFT_JS = """
(id) => {
  const card = document.querySelector(`.grid .card[data-task-id="${id}"]`);
  return !card || card.classList.contains('leaving') || card.dataset.state !== 'pending';
}
"""


def seed(server: ServerProcess, accounts: Accounts, name: str, count: int) -> tuple[str, list[Any]]:
    scan = new_scan(server.base_url, accounts.admin, name)
    tasks = submit_many(
        server.base_url,
        scan,
        accounts.workers,
        [f"{name} task {i}" for i in range(1, count + 1)],
        threads=1,
    )
    return scan, tasks


@pytest.mark.parametrize("motion", [False, True], ids=["reduced-motion", "motion"])
def test_the_card_under_the_pointer_stays_while_another_admin_decides(
    motion: bool, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """12 pending, the pointer rests on task 5's Validate, another admin decides task 1:
    a click without moving validates task 5 (task 1 fades out in its cell; the grid
    re-packs only once the pointer leaves), not task 6."""
    url = server.base_url
    scan, tasks = seed(server, accounts, f"Pointer race {motion}", 12)
    page = open_page(f"/admin/scans/{scan}", accounts.admin, reduced_motion=not motion).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "12")
    page.keyboard.press("End")  # this reviewer's current task is the last one, not task 1
    expect(grid).to_have_attribute("data-focused", tasks[11]["id"])
    settle(page)
    card(page, tasks[4]).get_by_role("button", name="Validate (V)").hover()
    status, body = call_sync(
        url,
        "POST",
        f"/api/tasks/{tasks[0]['id']}/decision",
        {"decision": "refused", "override": True},
        accounts.admin2.token,
    )
    assert status == 200, body
    page.wait_for_function(LEFT_JS, arg=tasks[0]["id"])
    expect(grid).to_have_attribute("data-pending", "11")
    settle(page)
    if motion:
        page.wait_for_timeout(400)  # whatever would glide or fade has finished
    page.mouse.down()
    page.mouse.up()
    wait_for_status(url, accounts.admin, tasks[4]["id"], "validated")
    assert task_now(url, accounts.admin, tasks[5]["id"])["status"] == "pending"
    # Once the pointer leaves, the grid re-packs: no empty cell is left where task 1 was.
    page.mouse.move(1, 1)
    expect(grid).to_have_attribute("data-held", "false")
    expect(grid).to_have_attribute("data-pending", "10")


def press_v_after_the_decision(
    b: Page, url: str, accounts: Accounts, tasks: list[dict[str, Any]], *, after: str, status: str
) -> None:
    """Page ``b`` presses V once it has task 1's decision (``event``) or 50 ms after it was
    made; task 1 ends ``status`` and task 2, which slid into its place, stays pending."""
    if after == "event":
        b.wait_for_function(LEFT_JS, arg=tasks[0]["id"])
        settle(b)
    else:
        b.wait_for_timeout(50)
    b.keyboard.press("v")
    wait_for_status(url, accounts.admin, tasks[0]["id"], status)
    b.wait_for_timeout(800)  # room for a wrong decision to reach the server
    assert task_now(url, accounts.admin, tasks[1]["id"])["status"] == "pending"


@pytest.mark.parametrize("after", ["event", "50ms"])
def test_a_key_pressed_after_another_admin_decided_the_focused_task_acts_on_nothing(
    after: str, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Admin A refuses task 1 with the keyboard while admin B's focus is on task 1; B's V
    right after (once B's page has the refusal, or 50 ms after A's Enter) does not
    validate task 2: B's card stays, says who refused it, and keeps the focus. Each
    reviewer starts on a task of their own (claimed)."""
    url = server.base_url
    scan, tasks = seed(server, accounts, f"Keyboard race {after}", 6)
    a = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(a.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    b = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    b_grid = b.locator(".grid")
    expect(b_grid).to_have_attribute("data-pending", "6")
    b.keyboard.press("Home")
    expect(b_grid).to_have_attribute("data-focused", tasks[0]["id"])

    a.keyboard.press("r")
    expect(a.locator("dialog[open]")).to_be_visible()
    a.keyboard.press("Enter")
    press_v_after_the_decision(b, url, accounts, tasks, after=after, status="refused")
    refused = task_now(url, accounts.admin, tasks[0]["id"])
    assert refused["decided_by"] == accounts.admin.user["id"]
    # A V that beat the event to B's page was sent, and lost: "Refused first by ada-admin".
    expect(card(b, tasks[0]).locator(".card-note")).to_contain_text(
        re.compile(r"Refused (first )?by ada-admin")
    )


@pytest.mark.parametrize("after", ["event", "50ms"])
def test_a_key_pressed_after_another_tab_of_the_same_admin_decided_the_focused_task_acts_on_nothing(
    after: str, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Two tabs of one admin (one browser context) on task 1 (a claim is the admin's,
    not the tab's): tab 1's V validates task 1; tab 2's V right after (once tab 2 has the
    decision, or 50 ms after) does not validate task 2. Tab 2's card stays and says
    "Validated by you (another tab)"; once tab 2 had the decision, it keeps the focus."""
    url = server.base_url
    scan, tasks = seed(server, accounts, f"Two tabs {after}", 6)
    a = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(a.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    b = a.context.new_page()
    b.goto(f"/admin/scans/{scan}")
    b_grid = b.locator(".grid")
    expect(b_grid).to_have_attribute("data-pending", "6")
    expect(b_grid).to_have_attribute("data-focused", tasks[0]["id"])

    a.keyboard.press("v")
    press_v_after_the_decision(b, url, accounts, tasks, after=after, status="validated")
    # A V that beat the event to tab 2 was sent, and lost ("Validated first by you …").
    expect(card(b, tasks[0]).locator(".card-note")).to_contain_text(
        re.compile(r"Validated (first )?by you \(another tab\)")
    )
    if after == "event":
        expect(b_grid).to_have_attribute("data-focused", tasks[0]["id"])
    # Tab 1's own decision is its own: its card leaves at once and Undo is offered.
    expect(card(a, tasks[0])).to_have_count(0)
    expect(a.locator(".undo-bar")).to_contain_text("Validated · Undo")


def test_keys_act_on_the_card_that_has_the_focus(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Tab from card 7 to card 8's Validate: card 8 becomes the one focused card (one
    indicator), and V validates card 8, not card 7."""
    url = server.base_url
    scan, tasks = seed(server, accounts, "Focus", 10)
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "10")
    card(page, tasks[6]).locator(".content").click()
    expect(grid).to_have_attribute("data-focused", tasks[6]["id"])
    for _ in range(3):  # card 7 → its Validate → its Refuse → card 8's Validate
        page.keyboard.press("Tab")
    eighth = card(page, tasks[7])
    expect(eighth.get_by_role("button", name="Validate (V)")).to_be_focused()
    expect(grid).to_have_attribute("data-focused", tasks[7]["id"])
    expect(page.locator(".grid .card.is-focused")).to_have_count(1)
    # The focused button's ring is the indicator: the card draws no second ring around it.
    ring = eighth.evaluate("el => getComputedStyle(el).boxShadow")
    assert "143, 167, 255" not in ring, ring
    page.keyboard.press("v")
    wait_for_status(url, accounts.admin, tasks[7]["id"], "validated")
    assert task_now(url, accounts.admin, tasks[6]["id"])["status"] == "pending"


class SocketHold:
    """Stands between the page and the server's WebSocket: records the page's requests
    and their answers, and keeps back the requests of the events in :attr:`sent` and
    the answers to those in :attr:`answers` until the test releases them."""

    def __init__(self) -> None:
        #: Events whose requests are kept back on their way to the server.
        self.sent: set[str] = set()
        #: Events whose answers are kept back on their way to the page.
        self.answers: set[str] = set()
        self.held_sent: list[str] = []
        self.held_answers: list[str] = []
        self.calls: list[Call] = []
        self.page_side: WebSocketRoute | None = None
        self.server_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        self.page_side, self.server_side = ws, ws.connect_to_server()
        upstream = self.server_side
        asked: dict[str, Call] = {}

        def to_server(message: str | bytes) -> None:
            found = REQUEST.fullmatch(message) if isinstance(message, str) else None
            if found:
                args = json.loads(found[2])
                asked[found[1]] = call = Call(str(args[0]), args[1] if len(args) > 1 else {})
                self.calls.append(call)
                if call.event in self.sent:
                    self.held_sent.append(found[0])
                    return
            upstream.send(message)

        def to_page(message: str | bytes) -> None:
            found = ANSWER.fullmatch(message) if isinstance(message, str) else None
            if found and found[1] in asked:
                call = asked.pop(found[1])
                call.answer = json.loads(found[2])[0]
                if call.event in self.answers:
                    self.held_answers.append(found[0])
                    return
            ws.send(message)

        ws.on_message(to_server)
        upstream.on_message(to_page)

    def answered(self, event: str, task_id: str | None = None) -> list[Call]:
        """The requests ``event`` (for ``task_id`` when given) the server has answered."""
        return [
            c
            for c in self.calls
            if c.event == event
            and c.answer is not None
            and (task_id is None or c.payload.get("task_id") == task_id)
        ]

    def release_sent(self) -> None:
        """Send on the requests kept back, in the order the page sent them; hold no more."""
        assert self.server_side is not None
        self.sent.clear()
        for frame in self.held_sent:
            self.server_side.send(frame)
        self.held_sent.clear()

    def release_answers(self) -> None:
        """Hand the page the answers kept back, in the order they came; hold no more."""
        assert self.page_side is not None
        self.answers.clear()
        for frame in self.held_answers:
            self.page_side.send(frame)
        self.held_answers.clear()

    def wait_until(self, page: Page, done: Callable[[], object], what: str) -> None:
        """Let the page run until ``done()`` holds; fail with ``what`` after 10 s."""
        deadline = time.monotonic() + 10
        while not done():
            assert time.monotonic() < deadline, (
                f"{what}: {[(c.event, c.payload) for c in self.calls]}"
            )
            page.wait_for_timeout(50)


def claims_of(base_url: str, watcher: Account, scan: str) -> dict[str, str]:
    """Every live claim of the scan, as ``{admin_id: task_id}``: what another admin's
    ``scan:join`` snapshot says."""
    driver = SocketDriver(base_url)
    try:
        socket = driver.connect(watcher.token)
        joined = driver.call(socket, "scan:join", {"scan_id": scan})
        assert joined["ok"], joined
        return {str(c["admin_id"]): str(c["task_id"]) for c in joined["claims"]}
    finally:
        driver.close()


def wait_for_claim(
    page: Page,
    base_url: str,
    accounts: Accounts,
    scan: str,
    *,
    on: dict[str, Any],
    tasks: list[dict[str, Any]],
) -> None:
    """Let the page run until ada-admin's claim in ``scan`` is ``on`` the task, as
    bo-admin's snapshot shows (fails after 3 s, well before the page renews its claim,
    naming which of ``tasks`` it is on)."""
    ids = [t["id"] for t in tasks]
    me = accounts.admin.user["id"]
    deadline = time.monotonic() + 3
    while (held := claims_of(base_url, accounts.admin2, scan).get(me)) != on["id"]:
        where = f"task {ids.index(held) + 1}" if held in ids else repr(held)
        assert time.monotonic() < deadline, (
            f"the claim is on {where}, the reviewer on task {ids.index(on['id']) + 1}"
        )
        page.wait_for_timeout(50)


def held_review(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, name: str, count: int
) -> tuple[str, list[dict[str, Any]], SocketHold, Page]:
    """A scan of ``count`` tasks reviewed by ada-admin through a :class:`SocketHold`, once
    the page has claimed its first task (the first): the scan, its tasks, the hold, the page."""
    scan, tasks = seed(server, accounts, name, count)
    hold = SocketHold()
    page = open_page(
        f"/admin/scans/{scan}",
        accounts.admin,
        before=lambda p: p.route_web_socket(re.compile(r"/socket\.io/"), hold.route),
    ).page
    expect(page.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    hold.wait_until(page, lambda: hold.answered("task:claim_next"), "no first task claimed")
    return scan, tasks, hold, page


def test_a_move_while_the_next_task_is_asked_for_keeps_the_claim_on_the_card_moved_to(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """After V the page asks for the next task (`task:claim_next`); the reviewer moves to
    the last card (End) before the server runs that request, which it runs only after
    the move's `task:claim`. The admin's claim ends on the card the reviewer is on, as
    another admin's snapshot shows, not on the task the late answer handed out."""
    url = server.base_url
    scan, tasks, hold, page = held_review(open_page, server, accounts, "Claim race", 4)
    grid = page.locator(".grid")
    me = accounts.admin.user["id"]
    assert claims_of(url, accounts.admin2, scan) == {me: tasks[0]["id"]}

    hold.sent.add("task:claim_next")
    page.keyboard.press("v")
    hold.wait_until(page, lambda: hold.held_sent, "no task:claim_next after the decision")
    wait_for_status(url, accounts.admin, tasks[0]["id"], "validated")
    page.keyboard.press("End")
    expect(grid).to_have_attribute("data-focused", tasks[3]["id"])
    hold.wait_until(
        page, lambda: hold.answered("task:claim", tasks[3]["id"]), "the move claimed nothing"
    )
    hold.release_sent()
    hold.wait_until(
        page, lambda: len(hold.answered("task:claim_next")) == 2, "claim_next unanswered"
    )
    late = hold.answered("task:claim_next")[-1].answer
    assert late is not None
    assert late["task"]["id"] == tasks[1]["id"], late  # the server moved the claim there

    wait_for_claim(page, url, accounts, scan, on=tasks[3], tasks=tasks)
    expect(grid).to_have_attribute("data-focused", tasks[3]["id"])


def test_two_quick_moves_keep_the_claim_on_the_card_moved_to_last(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """J, J: the server runs the second move's `task:claim` (task 3) before the first's
    (task 2). The admin's claim ends on task 3, where the reviewer is."""
    url = server.base_url
    scan, tasks, hold, page = held_review(open_page, server, accounts, "Move race", 4)
    grid = page.locator(".grid")
    me = accounts.admin.user["id"]
    assert claims_of(url, accounts.admin2, scan) == {me: tasks[0]["id"]}

    hold.sent.add("task:claim")
    page.keyboard.press("j")
    expect(grid).to_have_attribute("data-focused", tasks[1]["id"])
    hold.wait_until(page, lambda: hold.held_sent, "the first move claimed nothing")
    hold.sent.clear()
    page.keyboard.press("j")
    expect(grid).to_have_attribute("data-focused", tasks[2]["id"])
    hold.wait_until(
        page, lambda: hold.answered("task:claim", tasks[2]["id"]), "the second move claimed nothing"
    )
    hold.release_sent()
    hold.wait_until(
        page, lambda: hold.answered("task:claim", tasks[1]["id"]), "the first move unanswered"
    )
    first = hold.answered("task:claim", tasks[1]["id"])[0].answer
    assert first is not None
    assert first["ok"], first  # the server moved the claim to task 2
    wait_for_claim(page, url, accounts, scan, on=tasks[2], tasks=tasks)
    expect(grid).to_have_attribute("data-focused", tasks[2]["id"])


def test_an_undo_answered_after_the_next_task_keeps_the_claim_on_the_undone_task(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """V, then Z while the page's `task:claim_next` waits: the server runs the undo (which
    claims the task for the admin) before `task:claim_next` (which moves the claim to the
    next task), and the page gets the next task's answer before the undo's. The undone
    task, focused, is the one the admin's claim ends on."""
    url = server.base_url
    scan, tasks, hold, page = held_review(open_page, server, accounts, "Undo race", 3)
    grid = page.locator(".grid")
    me = accounts.admin.user["id"]

    hold.sent.add("task:claim_next")
    hold.answers.add("task:undo")
    page.keyboard.press("v")
    expect(page.locator(".undo-bar")).to_contain_text("Validated · Undo")
    hold.wait_until(page, lambda: hold.held_sent, "no task:claim_next after the decision")
    page.keyboard.press("z")
    hold.wait_until(page, lambda: hold.held_answers, "no task:undo answered")
    wait_for_status(url, accounts.admin, tasks[0]["id"], "pending")
    hold.release_sent()
    hold.wait_until(
        page, lambda: len(hold.answered("task:claim_next")) == 2, "claim_next unanswered"
    )
    expect(grid).to_have_attribute("data-focused", tasks[1]["id"])  # the next task's answer
    assert claims_of(url, accounts.admin2, scan) == {me: tasks[1]["id"]}
    hold.release_answers()
    expect(card(page, tasks[0])).to_have_attribute("data-state", "pending")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    wait_for_claim(page, url, accounts, scan, on=tasks[0], tasks=tasks)


def test_cards_another_admin_holds_say_who_and_deciding_one_asks_first(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """Each admin sees the other's current task as "<username> is reviewing" (join
    `claims`, then `task:claimed` as it moves); deciding it asks, Cancel leaves it alone,
    confirming decides it with override, and the holder's card says who decided it."""
    url = server.base_url
    scan, tasks = seed(server, accounts, "Claims", 4)
    a = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(a.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    b = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    expect(b.locator(".grid")).to_have_attribute("data-focused", tasks[1]["id"])
    expect(card(b, tasks[0]).locator(".card-claim")).to_have_text("ada-admin is reviewing")
    expect(card(a, tasks[1]).locator(".card-claim")).to_have_text("bo-admin is reviewing")
    expect(card(b, tasks[1]).locator(".card-claim")).to_be_hidden()  # one's own claim: no tag

    a.keyboard.press("End")  # A's claim moves to task 4
    expect(card(b, tasks[0]).locator(".card-claim")).to_be_hidden()
    held = card(b, tasks[3])
    expect(held.locator(".card-claim")).to_have_text("ada-admin is reviewing")
    b.screenshot(path=str(artifacts / "review-claims.png"))

    held.get_by_role("button", name="Validate (V)").click()
    dialog = b.locator("dialog[open]")
    expect(dialog).to_contain_text("ada-admin is reviewing this task")
    b.screenshot(path=str(artifacts / "review-override.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    b.wait_for_timeout(300)
    assert task_now(url, accounts.admin, tasks[3]["id"])["status"] == "pending"

    held.get_by_role("button", name="Validate (V)").click()
    b.locator("dialog[open]").get_by_role("button", name="Validate anyway").click()
    decided = wait_for_status(url, accounts.admin, tasks[3]["id"], "validated")
    assert decided["decided_by"] == accounts.admin2.user["id"]
    expect(card(a, tasks[3]).locator(".card-note")).to_contain_text("Validated by bo-admin")

    # A claim that moves or ends elsewhere (here over HTTP) moves or clears the tag live.
    status, _ = call_sync(
        url, "POST", f"/api/tasks/{tasks[2]['id']}/claim", None, accounts.admin2.token
    )
    assert status == 200
    expect(card(a, tasks[2]).locator(".card-claim")).to_have_text("bo-admin is reviewing")
    expect(card(a, tasks[1]).locator(".card-claim")).to_be_hidden()
    status, _ = call_sync(
        url, "DELETE", f"/api/tasks/{tasks[2]['id']}/claim", token=accounts.admin2.token
    )
    assert status == 204
    expect(card(a, tasks[2]).locator(".card-claim")).to_be_hidden()


def test_a_decision_can_be_undone_from_the_toast_or_with_z(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """After V the toast says "Validated · Undo"; Undo puts the task back on the grid
    (pending, focused). After a refusal, Z does the same."""
    url = server.base_url
    scan, tasks = seed(server, accounts, "Undo", 3)
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    page.keyboard.press("v")
    bar = page.locator(".undo-bar")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("Validated · Undo")
    page.screenshot(path=str(artifacts / "review-undo.png"))
    wait_for_status(url, accounts.admin, tasks[0]["id"], "validated")
    expect(card(page, tasks[0])).to_have_count(0)
    bar.get_by_role("button", name="Undo").click()
    expect(card(page, tasks[0])).to_have_attribute("data-state", "pending")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    expect(bar).to_be_hidden()
    assert task_now(url, accounts.admin, tasks[0]["id"])["status"] == "pending"

    page.keyboard.press("r")
    expect(page.locator("dialog[open]")).to_be_visible()
    page.keyboard.type("Blurry photo")
    page.keyboard.press("Enter")
    expect(bar).to_contain_text("Refused · Undo")
    wait_for_status(url, accounts.admin, tasks[0]["id"], "refused")
    expect(card(page, tasks[0])).to_have_count(0)
    page.keyboard.press("z")
    expect(card(page, tasks[0])).to_have_attribute("data-state", "pending")
    undone = wait_for_status(url, accounts.admin, tasks[0]["id"], "pending")
    assert undone["reason"] is None
    expect(grid).to_have_attribute("data-pending", "3")


#: Records the text of every live region inside the undo bar's element each time it changes.
LIVE_UNDO_JS = """
() => {
  window.__liveUndo = [];
  const live = '[aria-live]:not([aria-live="off"]), [role=status], [role=alert], [role=log]';
  new MutationObserver((changes) => {
    for (const change of changes) {
      const at = change.target.nodeType === 1 ? change.target : change.target.parentElement;
      const region = at && at.closest(live);
      if (region && region.closest('.grid-foot')) window.__liveUndo.push(region.textContent);
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}
"""


def test_undo_is_announced_once_and_its_countdown_is_not(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """After V a live region says once "Validated. Press Z to undo."; the bar's countdown
    ticks (10 s, 8 s) outside any live region; once the window ends the bar is hidden and
    the live region empty (it kept "… Undo (Z) · 1 s")."""
    scan, tasks = seed(server, accounts, "Undo said", 3)
    page = open_page(
        f"/admin/scans/{scan}", accounts.admin, before=lambda p: p.clock.install()
    ).page
    expect(page.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    page.evaluate(LIVE_UNDO_JS)
    page.keyboard.press("v")
    bar = page.locator(".undo-bar")
    expect(bar).to_contain_text("Validated · Undo (Z) · 10 s")
    page.clock.fast_forward(2_500)
    expect(bar).to_contain_text("Validated · Undo (Z) · 8 s")
    heard = page.evaluate("() => window.__liveUndo")
    assert {text for text in heard if text} == {"Validated. Press Z to undo."}, heard
    said = page.locator(".grid-foot [role=status]")
    expect(said).to_have_text("Validated. Press Z to undo.")
    page.clock.fast_forward(9_000)
    expect(bar).to_be_hidden()
    expect(said).to_have_text("")


def test_the_header_shows_the_reviewers_here_now(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Both admins appear in each other's header as avatars with two letters, distinct
    colours and the full username as accessible name; one leaving disappears."""
    scan, _ = seed(server, accounts, "Presence", 2)
    a = open_page(f"/admin/scans/{scan}", accounts.admin).page
    b = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    other = a.get_by_role("img", name="bo-admin is reviewing")
    me = a.get_by_role("img", name="ada-admin (you)")
    expect(other).to_be_visible()
    expect(me).to_be_visible()
    expect(b.get_by_role("img", name="ada-admin is reviewing")).to_be_visible()
    assert other.text_content() != me.text_content()
    assert other.get_attribute("title") == "bo-admin is reviewing"
    colours = [x.evaluate("el => getComputedStyle(el).backgroundImage") for x in (other, me)]
    assert colours[0] != colours[1], colours
    b.close()
    expect(other).to_have_count(0, timeout=10_000)
    expect(me).to_be_visible()


def test_usernames_are_shown_whole_and_avatars_differ(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """Six workers crew1…crew6: each card shows the full username (not cut), and the six
    tile avatars read six different two-letter initials."""
    url = server.base_url
    crew = [register_sync(url, f"crew{i}", PASSWORD) for i in range(1, 7)]
    scan = new_scan(url, accounts.admin, "Crew")
    submit_many(url, scan, crew, [f"Crew task {i}" for i in range(6)], threads=1)
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "6")
    expect(page.locator(".grid .card")).to_have_count(6)
    settle(page)
    page.screenshot(path=str(artifacts / "review-crew.png"))
    heads = page.eval_on_selector_all(
        ".grid .card",
        """cards => cards.map(c => {
          const who = c.querySelector('.who');
          return { who: who.textContent, cut: who.scrollWidth > who.clientWidth + 1,
                   initials: c.querySelector('.tile-avatar').textContent };
        })""",
    )
    assert sorted(h["who"] for h in heads) == [f"crew{i}" for i in range(1, 7)]
    assert [h for h in heads if h["cut"]] == []
    assert sorted(h["initials"] for h in heads) == [f"C{i}" for i in range(1, 7)]


def test_decisions_made_offline_are_sent_after_reading_the_task_again(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """With the server down, two decisions wait on their cards; while down another admin
    refuses one of the two tasks. Back online the page reads each task again: the still
    pending one is validated, the other keeps the other admin's refusal and the page says
    the decision was not sent."""
    server, url = own_server, own_server.base_url
    page, admin, other, worker, scan, tasks = review_offline(server, open_page, "Offline", 3)
    for task in tasks[:2]:
        card(page, task).get_by_role("button", name="Validate (V)").click()
        expect(card(page, task)).to_have_attribute("data-state", "queued")
        expect(card(page, task).locator(".card-note")).to_contain_text("not sent yet")
    assert server.store_url is not None
    while_down(server.store_url, worker, other, scan, contents=[], refuse=tasks[1]["id"])
    server.start()

    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    validated = wait_for_status(url, admin, tasks[0]["id"], "validated", within=20)
    assert validated["decided_by"] == admin.user["id"]
    expect(
        page.locator(".toast", has_text="Not sent: that task was refused meanwhile")
    ).to_be_visible()
    expect(card(page, tasks[1]).locator(".card-note")).to_contain_text(
        "Refused meanwhile by bo-admin"
    )
    kept = task_now(url, admin, tasks[1]["id"])
    assert kept["status"] == "refused"
    assert kept["decided_by"] == other.user["id"]
    assert kept["reason"] == "Seen while offline"
    expect(page.locator(".grid")).to_have_attribute("data-pending", "1", timeout=10_000)


class SocketGate:
    """Keeps the page's Socket.IO link shut (WebSocket and long-polling) while
    :attr:`shut`, so the test can act on a restarted server before the page is back."""

    def __init__(self) -> None:
        self.shut = False

    def websocket(self, ws: WebSocketRoute) -> None:
        if self.shut:
            ws.close()
        else:
            ws.connect_to_server()

    def polling(self, route: Route) -> None:
        if self.shut:
            route.abort()
        else:
            route.continue_()

    def install(self, page: Page) -> None:
        page.route_web_socket(re.compile(r"/socket\.io/"), self.websocket)
        page.route(re.compile(r"/socket\.io/"), self.polling)


def restart_while_bo_claims(
    server: ServerProcess, page: Page, gate: SocketGate, bo: Account, task: dict[str, Any]
) -> None:
    """Stop the server (SIGTERM), start it again on the same port and store, and let
    bo-admin claim ``task`` over HTTP before the page's link is back; then let it back."""
    gate.shut = True
    server.stop()
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    server.start()
    status, _ = call_sync(server.base_url, "POST", f"/api/tasks/{task['id']}/claim", None, bo.token)
    assert status == 200
    gate.shut = False
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)


def test_a_reconnected_page_moves_on_from_a_task_another_admin_took_meanwhile(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """ada-admin is on task 1, her claim; the server restarts and bo-admin claims task 1
    before ada's page is back. Back online, the page's claim of task 1 meets bo's: the
    focus moves on to task 2, which it claims. A card ada then opens herself while bo holds
    it keeps the focus across the next restart (it says "bo-admin is reviewing")."""
    server, url = own_server, own_server.base_url
    ada = register_sync(url, "ada-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    bo = register_sync(url, "bo-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    wren = register_sync(url, "wren", PASSWORD)
    scan = new_scan(url, ada, "Reclaim")
    tasks = submit_many(url, scan, [wren], [f"Reclaim task {i}" for i in range(1, 5)], threads=1)
    gate = SocketGate()
    page = open_page(f"{url}/admin/scans/{scan}", ada, before=gate.install).page
    grid = page.locator(".grid")
    me = ada.user["id"]

    def claim_of_ada_becomes(task: dict[str, Any]) -> None:
        deadline = time.monotonic() + 5
        while (held := claims_of(url, bo, scan).get(me)) != task["id"]:
            assert time.monotonic() < deadline, f"ada's claim is on {held}, not {task['id']}"
            page.wait_for_timeout(100)

    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    claim_of_ada_becomes(tasks[0])

    restart_while_bo_claims(server, page, gate, bo, tasks[0])
    expect(grid).to_have_attribute("data-focused", tasks[1]["id"], timeout=5_000)
    claim_of_ada_becomes(tasks[1])
    expect(card(page, tasks[0]).locator(".card-claim")).to_have_text("bo-admin is reviewing")
    assert claims_of(url, ada, scan).get(bo.user["id"]) == tasks[0]["id"]

    # Opened by the reviewer while bo-admin holds it: the card keeps the focus, restart or not.
    page.keyboard.press("k")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    restart_while_bo_claims(server, page, gate, bo, tasks[0])
    expect(card(page, tasks[0]).locator(".card-claim")).to_have_text("bo-admin is reviewing")
    page.wait_for_timeout(1_500)
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])


def wait_without_claim(base_url: str, watcher: Account, scan: str, holder: Account) -> None:
    """Poll ``watcher``'s ``scan:join`` until it lists no claim of ``holder``'s; fail after 2 s."""
    deadline = time.monotonic() + 2
    while (held := claims_of(base_url, watcher, scan).get(holder.user["id"])) is not None:
        assert time.monotonic() < deadline, f"{holder.user['username']} still holds {held}"
        time.sleep(0.1)


@pytest.mark.parametrize("leave", ["close", "goto"])
def test_a_reviewer_leaving_the_page_releases_the_claim_at_once(
    leave: str, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """bo-admin closes the tab (or the whole page goes to /admin): within 2 s ada-admin's
    `scan:join` lists no claim of bo-admin's, and ada's grid no longer says bo reviews."""
    url = server.base_url
    scan, tasks = seed(server, accounts, f"Leave by {leave}", 4)
    a = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(a.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    b = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    expect(b.locator(".grid")).to_have_attribute("data-focused", tasks[1]["id"])
    tag = card(a, tasks[1]).locator(".card-claim")
    expect(tag).to_have_text("bo-admin is reviewing")
    assert claims_of(url, accounts.admin, scan).get(accounts.admin2.user["id"]) == tasks[1]["id"]

    if leave == "close":
        b.close(run_before_unload=True)
    else:
        b.goto("/admin")
        expect(b.locator(".scan-row").first).to_be_visible()
    wait_without_claim(url, accounts.admin, scan, accounts.admin2)
    expect(tag).to_be_hidden(timeout=2_000)


def test_a_page_back_from_the_cache_claims_its_task_again(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Going into the back/forward cache (`pagehide`, persisted) releases the claim; coming
    back (`pageshow`, persisted) claims the focused card again. The events are dispatched:
    Playwright's Chromium keeps no back/forward cache."""
    url = server.base_url
    scan, tasks = seed(server, accounts, "Back from the cache", 3)
    page = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    expect(page.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    bo = accounts.admin2.user["id"]
    deadline = time.monotonic() + 3
    while claims_of(url, accounts.admin, scan).get(bo) != tasks[0]["id"]:
        assert time.monotonic() < deadline, "the page claimed nothing"
        page.wait_for_timeout(50)

    event = "(type) => window.dispatchEvent(new PageTransitionEvent(type, { persisted: true }))"
    page.evaluate(event, "pagehide")
    wait_without_claim(url, accounts.admin, scan, accounts.admin2)
    page.evaluate(event, "pageshow")
    deadline = time.monotonic() + 2
    while claims_of(url, accounts.admin, scan).get(bo) != tasks[0]["id"]:
        assert time.monotonic() < deadline, "the restored page did not claim its task again"
        page.wait_for_timeout(50)


def test_a_refusal_reason_counts_characters_and_survives_an_ended_session(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """A reason is at most 1,000 characters counted in code points: 1,000 emoji go through
    (the box cut them at 500), 1,001 of anything are refused with the counter's numbers and
    the dialog stays open. A reason half-typed when the session ends (its token logged out
    elsewhere) is back in the dialog for that task after signing in again."""
    url = server.base_url
    scan, tasks = seed(server, accounts, "Reason limits", 3)
    status, body = call_sync(
        url, "POST", "/api/auth/login", {"username": accounts.admin.username, "password": PASSWORD}
    )
    assert status == 200, body
    session = Account(accounts.admin.username, PASSWORD, body["token"], body["user"])
    page = open_page(f"/admin/scans/{scan}", session).page
    grid = page.locator(".grid")
    dialog = page.locator("dialog[open]")
    reason = page.locator("#refuse-reason")
    counter = dialog.locator(".counter")
    alert = dialog.locator(".form-message")
    for task, char in ((tasks[0], "🎉"), (tasks[1], "x")):
        expect(grid).to_have_attribute("data-focused", task["id"])
        page.keyboard.press("r")
        expect(dialog).to_be_visible()
        expect(counter).to_have_text("0 / 1,000")
        reason.fill(char * 1001)
        expect(reason).to_have_value(char * 1001)
        expect(counter).to_have_text("1,001 / 1,000")
        reason.press("Enter")
        expect(alert).to_have_text("That is 1 character over the limit of 1,000.")
        expect(dialog).to_be_visible()
        reason.fill(char * 1000)
        expect(counter).to_have_text("1,000 / 1,000")
        reason.press("Enter")
        expect(dialog).to_be_hidden()
        assert wait_for_status(url, accounts.admin, task["id"], "refused")["reason"] == char * 1000

    expect(grid).to_have_attribute("data-focused", tasks[2]["id"])
    page.keyboard.press("r")
    reason.fill("Half a reason about the photo 📷")
    status, _ = call_sync(url, "POST", "/api/auth/logout", token=session.token)
    assert status == 204
    expect(page.locator(".auth-card")).to_contain_text("Your session has ended")
    page.get_by_label("Username").fill(accounts.admin.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(grid).to_have_attribute("data-focused", tasks[2]["id"])
    page.keyboard.press("r")
    expect(reason).to_have_value("Half a reason about the photo 📷")
    reason.press("Enter")
    refused = wait_for_status(url, accounts.admin, tasks[2]["id"], "refused")
    assert refused["reason"] == "Half a reason about the photo 📷"
