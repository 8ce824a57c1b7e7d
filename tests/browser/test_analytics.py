"""The admin's analytics pane: per-minute figures that agree with each other, the v2 figures
(decisions per minute, reviewers, oldest pending age, time to empty), the Workers table
as a keyboard-reachable control that picks a worker for the grid, long usernames shown
whole in both tables, and table rows kept in place across new figures."""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support import TEST_INVITE_CODE, Account, ServerProcess, call_sync, register_sync

from .conftest import PASSWORD, Accounts, OpenPage
from .support import (
    browser_marks,
    check_analytics_geometry,
    new_scan,
    settle,
    submission,
    submit_many,
)

pytestmark = browser_marks()

#: A username of the longest length the contract allows.
LONG_NAME = "a-worker-with-a-very-long-name32"

BARS_JS = "() => [...document.querySelectorAll('.spark-bar')].map(b => b.getBBox().height)"


def decide(server: ServerProcess, admin: Account, task_id: str, decision: str) -> None:
    """Decide a task over HTTP as ``admin``; fails the test on any error."""
    status, body = call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{task_id}/decision",
        {"decision": decision},
        admin.token,
    )
    assert status == 200, body


def figure(page: Page, key: str) -> str:
    """The text of the analytics tile ``key`` (``rate``, ``spm``, ``dpm``, ``oldest``, …)."""
    return page.locator(f".analytics .an-{key} .an-value").inner_text()


def parse_time(value: str) -> float:
    """A contract timestamp (ISO 8601, UTC) as Unix time in seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_submissions_per_minute_agree_with_the_chart(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """The "Submissions / min" figure (the server's last 60 s) is the chart's last bar and the
    peak, also when the browser's clock has passed into the next calendar minute since
    the submissions: the bars are 60 s windows ending now, not calendar minutes."""
    scan = new_scan(server.base_url, accounts.admin, "Per-minute agreement")
    if not 1.5 <= time.time() % 60 <= 58:  # submit clear of a minute boundary
        time.sleep(3)
    rng = random.Random(3)
    contents = [submission(rng, i) for i in range(6)]
    tasks = submit_many(server.base_url, scan, accounts.workers, contents)
    created = sorted(parse_time(task["created_at"]) for task in tasks)
    # The browser's "now": in the calendar minute after the first submission's (or just
    # after the last submission), still within the 60 s the server counts.
    now = max(created[-1] + 0.25, (created[0] // 60 + 1) * 60 + 0.25)
    assert now - created[0] < 59.5
    assert now // 60 != created[0] // 60
    page = open_page(
        f"/admin/scans/{scan}",
        accounts.admin,
        width=1366,
        height=768,
        before=lambda page: page.clock.set_fixed_time(datetime.fromtimestamp(now, UTC)),
    ).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "6")
    expect(page.locator(".analytics .an-spm .an-value")).to_have_text("6")
    expect(page.locator(".analytics .an-peak")).to_have_text("peak 6/min")
    settle(page)
    bars: list[float] = page.evaluate(BARS_JS)
    assert bars[-1] == max(bars) > 1, f"the last minute's bar is not the peak: {bars}"
    assert all(height <= 1 for height in bars[:-1]), f"earlier minutes show submissions: {bars}"


def test_decisions_reviewers_oldest_and_time_to_empty(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Before any decision: no decision rate, so no time to empty, and no reviewers; after
    decisions by two admins (one undone) the pane shows the decisions of the last minute,
    each reviewer's figures and the time to empty at that rate; the oldest pending age ticks."""
    scan = new_scan(server.base_url, accounts.admin, "Reviewer figures")
    rng = random.Random(5)
    tasks = submit_many(
        server.base_url, scan, accounts.workers, [submission(rng, i) for i in range(8)], threads=1
    )
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1920, height=1080).page
    expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text("8")
    assert figure(page, "dpm") == "0"
    assert figure(page, "empty") == "—"
    expect(page.locator(".reviewer-table tbody")).to_have_text("No decisions yet")
    oldest = page.locator(".analytics .an-oldest .an-value")
    expect(oldest).to_have_text(re.compile(r"^\d+ s$"))
    before = oldest.inner_text()
    expect(oldest).not_to_have_text(before, timeout=5_000)  # it ticks without any event

    admin, other = accounts.admin, accounts.admin2
    decide(server, admin, tasks[0]["id"], "validated")
    decide(server, admin, tasks[1]["id"], "validated")
    decide(server, admin, tasks[2]["id"], "refused")
    decide(server, admin, tasks[3]["id"], "validated")
    status, body = call_sync(
        server.base_url, "POST", f"/api/tasks/{tasks[3]['id']}/undo", None, admin.token
    )
    assert status == 200, body
    decide(server, other, tasks[4]["id"], "refused")

    # 4 decisions stand, 4 tasks pending: 4 / (4 per minute) = one minute to empty.
    expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text("4")
    expect(page.locator(".analytics .an-dpm .an-value")).to_have_text("4")
    expect(page.locator(".analytics .an-empty .an-value")).to_have_text("≈ 1 min")
    rows = page.locator(".reviewer-table tbody tr")
    expect(rows).to_have_count(2)
    cells = [row.locator("th, td").all_inner_texts()[:5] for row in rows.all()]
    assert cells == [
        [admin.username, "3", "2", "1", "1"],
        [other.username, "1", "0", "1", "0"],
    ]
    expect(page.locator(".analytics .an-rate .an-value")).to_have_text("50%")
    for width, height in ((1920, 1080), (1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        check_analytics_geometry(page, f"two reviewers, {width}x{height}")


@pytest.fixture(scope="module")
def crowd(server: ServerProcess, accounts: Accounts) -> tuple[str, list[Account]]:
    """A scan with seven workers, one with a 32-character name, each with a different
    number of submissions (the first the most)."""
    names = [LONG_NAME, "ivo", "juno", "lark", "moss", "nell", "otto"]
    workers = [register_sync(server.base_url, name, PASSWORD) for name in names]
    scan = new_scan(server.base_url, accounts.admin, "Many workers")
    rng = random.Random(9)
    for rank, worker in enumerate(workers):
        count = len(workers) - rank
        submit_many(server.base_url, scan, [worker], [submission(rng, i) for i in range(count)])
    return scan, workers


def _filtered_to(page: Page, worker: Account | None) -> None:
    """The queue's worker filter shows ``worker``'s tasks only (None: everyone's)."""
    select = page.get_by_label("Filter by worker")
    expect(select).to_have_value(worker.id if worker is not None else "")
    cards = page.locator(".grid .card .who")
    if worker is None:
        expect(page.locator(".grid")).to_have_attribute("data-pending", "28")
        return
    expect(cards.first).to_have_text(worker.username)
    # Retried: the grid re-renders a moment after the select changed.
    others = cards.filter(has_not_text=re.compile(rf"^{re.escape(worker.username)}$"))
    expect(others).to_have_count(0)


def test_workers_table_fits_and_picks_a_worker_by_keyboard_and_click(
    crowd: tuple[str, list[Account]], open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """At 1366x768 the Workers table neither scrolls sideways nor hides a long name without
    a title; Tab reaches its workers; Enter, Space and a click on the row pick a worker
    (``aria-pressed``, and the queue shows only that worker's tasks) or clear the pick; a focused
    worker keeps the focus when new figures reorder the table."""
    scan, workers = crowd
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1366, height=768).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "28")
    buttons = page.locator(".worker-table .an-worker")
    expect(buttons).to_have_count(7)
    check_analytics_geometry(page, "7 workers, 1366x768")
    expect(buttons.first).to_have_attribute("title", f"{LONG_NAME}: show only their tasks")

    page.locator(".analytics").focus()
    page.keyboard.press("Tab")
    expect(buttons.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(buttons.first).to_have_attribute("aria-pressed", "true")
    _filtered_to(page, workers[0])
    page.keyboard.press("Tab")
    expect(buttons.nth(1)).to_be_focused()
    page.keyboard.press(" ")
    expect(buttons.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(buttons.first).to_have_attribute("aria-pressed", "false")
    _filtered_to(page, workers[1])
    page.keyboard.press(" ")
    expect(buttons.nth(1)).to_have_attribute("aria-pressed", "false")
    _filtered_to(page, None)

    third = page.locator(".worker-table tbody tr").nth(2)
    third.locator("td").first.click()
    expect(third.locator(".an-worker")).to_have_attribute("aria-pressed", "true")
    _filtered_to(page, workers[2])

    # The last worker, focused, climbs to the top as their submissions arrive.
    last = buttons.filter(has_text=workers[-1].username)
    last.focus()
    rng = random.Random(10)
    submit_many(server.base_url, scan, [workers[-1]], [submission(rng, 100 + i) for i in range(8)])
    expect(buttons.first).to_have_text(workers[-1].username)
    expect(last).to_be_focused()
    picked = buttons.filter(has_text=workers[2].username)
    expect(picked).to_have_attribute("aria-pressed", "true")


#: An admin's username of the longest length the contract allows, with dots to break at.
LONG_REVIEWER = "ada.lovelace.reviews.everything2"

#: How a name cell of the analytics tables shows its name (``[selector of the name
#: elements, name]``): whether its text is cut (by the cell, the table or the pane), and the
#: text as rendered.
NAME_SHOWN_JS = """
([selector, name]) => {
  const el = [...document.querySelectorAll(selector)].find(e => e.textContent === name);
  if (!el) return null;
  const cell = el.closest('th');
  const box = cell.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(el);
  const lines = [...range.getClientRects()].filter(r => r.width > 0);
  const outside = lines.filter(r => r.left < box.left - 0.5 || r.right > box.right + 0.5);
  const clippers = [];
  for (let a = el; a; a = a.parentElement) {
    if (a === el || getComputedStyle(a).overflowX !== 'visible') {
      const b = a.getBoundingClientRect();
      const cut = a.scrollWidth > a.clientWidth + 1
        || lines.some(r => r.left < b.left - 0.5 || r.right > b.right + 0.5);
      if (cut) clippers.push(a.className || a.tagName);
    }
  }
  return { text: el.innerText.replace(/\\s+/g, ''), lines: lines.length,
           outside: outside.length, clippers,
           ellipsis: getComputedStyle(el).textOverflow };
}
"""


def check_name_shown(page: Page, selector: str, name: str, label: str) -> None:
    """Assert that the name element (``selector``) showing ``name`` shows it whole: every
    character, every line inside its cell, nothing cutting it, no ellipsis.

    Args:
        page: An admin scan page with the analytics pane.
        selector: The name elements of one table (``.worker-table tbody .an-worker``).
        name: The username.
        label: What the failure messages name (window size).
    """
    shown = page.evaluate(NAME_SHOWN_JS, [selector, name])
    where = f"{label}: {shown}"
    assert shown is not None, where
    assert shown["text"] == name, where
    assert shown["outside"] == 0, where
    assert shown["clippers"] == [], where
    assert shown["ellipsis"] != "ellipsis", where


def test_the_reviewers_table_shows_long_usernames_whole(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """A reviewer with a 32-character username: the Reviewers table shows the whole name
    (wrapped on narrow panes, never cut with an ellipsis) at 1366x768 and on a 390x844
    phone, and the pane still neither scrolls sideways nor makes the page scroll."""
    url = server.base_url
    reviewer = register_sync(
        url, LONG_REVIEWER, PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    scan = new_scan(url, accounts.admin, "Long reviewer name")
    tasks = submit_many(url, scan, accounts.workers, ["Observation: long names"] * 3, threads=1)
    decide(server, reviewer, tasks[0]["id"], "validated")
    decide(server, accounts.admin, tasks[1]["id"], "refused")
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1366, height=768).page
    name = page.locator(".reviewer-table tbody .an-name-text", has_text=LONG_REVIEWER[:12])
    expect(name).to_have_count(1)
    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        check_name_shown(
            page, ".reviewer-table tbody .an-name-text", LONG_REVIEWER, f"{width}x{height}"
        )
        check_analytics_geometry(page, f"long reviewer name, {width}x{height}")
        page.locator(".reviewer-table").screenshot(
            path=str(artifacts / f"analytics-long-reviewer-{width}x{height}.png")
        )


def test_the_workers_table_shows_long_usernames_whole(
    crowd: tuple[str, list[Account]], open_page: OpenPage, accounts: Accounts, artifacts: Path
) -> None:
    """A worker with a 32-character username: the Workers table shows the whole name on
    its button (wrapped on narrow panes, never cut with an ellipsis) at 1366x768 and on a
    390x844 phone, and the pane still neither scrolls sideways nor makes the page scroll."""
    scan, _ = crowd
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1366, height=768).page
    expect(page.locator(".worker-table .an-worker", has_text=LONG_NAME)).to_have_count(1)
    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        check_name_shown(page, ".worker-table tbody .an-worker", LONG_NAME, f"{width}x{height}")
        check_analytics_geometry(page, f"long worker name, {width}x{height}")
        page.locator(".worker-table").screenshot(
            path=str(artifacts / f"analytics-long-worker-{width}x{height}.png")
        )


#: Mark each row of both tables with a property of the page's own (``[property, value]``):
#: a row made again does not have it.
MARK_ROWS_JS = """
([key, value]) => {
  for (const row of document.querySelectorAll('.worker-table tbody tr, .reviewer-table tbody tr'))
    row[key] = value;
}
"""

#: Each row of one table (``[selector, property]``): its name, and the property's value.
ROWS_JS = """
([selector, key]) => [...document.querySelectorAll(selector + ' tbody tr')]
  .map(row => [row.querySelector('th').textContent, row[key] ?? null])
"""


def decide_anyway(server: ServerProcess, admin: Account, task_id: str, decision: str) -> None:
    """Decide a task over HTTP as ``admin``, also when the page's admin holds it
    (``override``); fails the test on any error."""
    status, body = call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{task_id}/decision",
        {"decision": decision, "override": True},
        admin.token,
    )
    assert status == 200, body


def test_the_tables_keep_their_rows_across_new_figures(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """New figures (``scan:stats``) update the Workers and Reviewers tables in place: a row
    keeps its element (a property set on it in the page survives) while its figures change,
    a new worker or reviewer adds a row in its place by rank, and the rows stay in order."""
    url = server.base_url
    admin, other = accounts.admin, accounts.admin2
    wren, kit = accounts.workers[0], accounts.workers[1]
    scan = new_scan(url, admin, "Rows kept in place")
    rng = random.Random(13)
    tasks = submit_many(url, scan, [wren], [submission(rng, i) for i in range(4)], threads=1)
    decide(server, admin, tasks[0]["id"], "validated")
    page = open_page(f"/admin/scans/{scan}", admin, width=1366, height=768).page
    reviewers = page.locator(".reviewer-table tbody tr")
    workers = page.locator(".worker-table tbody tr")
    expect(reviewers).to_have_count(1)
    expect(reviewers.first.locator("th, td").nth(1)).to_have_text("1")
    expect(workers.first.locator("td").first).to_have_text("4")
    page.evaluate(MARK_ROWS_JS, ["keptRow", "first"])

    # New figures for the same people: the same rows, new values.
    decide(server, admin, tasks[1]["id"], "refused")
    submit_many(url, scan, [wren], [submission(rng, 10)])
    expect(reviewers.first.locator("th, td").nth(1)).to_have_text("2")
    expect(reviewers.first.locator("td").nth(2)).to_have_text("1")
    expect(workers.first.locator("td").first).to_have_text("5")
    assert page.evaluate(ROWS_JS, [".reviewer-table", "keptRow"]) == [[admin.username, "first"]]
    assert page.evaluate(ROWS_JS, [".worker-table", "keptRow"]) == [[wren.username, "first"]]

    # A new reviewer and a new worker: rows added in their places by rank, the others kept.
    # The page's admin holds the task it shows as current: the other admin overrides.
    decide_anyway(server, other, tasks[2]["id"], "validated")
    more = submit_many(url, scan, [kit], [submission(rng, 20 + i) for i in range(7)], threads=1)
    expect(reviewers).to_have_count(2)
    expect(workers.first.locator("th")).to_have_text(kit.username)
    expect(workers.first.locator("td").first).to_have_text("7")
    assert page.evaluate(ROWS_JS, [".reviewer-table", "keptRow"]) == [
        [admin.username, "first"],
        [other.username, None],
    ]
    assert page.evaluate(ROWS_JS, [".worker-table", "keptRow"]) == [
        [kit.username, None],
        [wren.username, "first"],
    ]

    # The other reviewer overtakes: the two rows swap, each keeping its element.
    page.evaluate(MARK_ROWS_JS, ["keptRow2", "second"])
    decide_anyway(server, other, tasks[3]["id"], "refused")
    decide_anyway(server, other, more[0]["id"], "validated")
    expect(reviewers.first.locator("th")).to_have_text(other.username)
    expect(reviewers.first.locator("th, td").nth(1)).to_have_text("3")
    assert page.evaluate(ROWS_JS, [".reviewer-table", "keptRow2"]) == [
        [other.username, "second"],
        [admin.username, "second"],
    ]
