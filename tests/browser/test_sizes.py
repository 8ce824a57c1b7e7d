"""The admin scan page at desktop, laptop and phone sizes, from 1 to 1,000 pending tasks: the
grid fits without any scrolling, overlap or clipped text (``check_geometry``), and so does the
analytics pane beside or under it (``check_analytics_geometry``); on short windows (a phone in
landscape) the grid keeps cards to decide; long reasons and usernames keep the preview and the
kind chip readable."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import ServerProcess, call_sync, register_sync

from .conftest import PASSWORD, PENDING_COUNTS, Accounts, OpenPage
from .support import (
    OVERLAPPING_JS,
    browser_marks,
    check_analytics_geometry,
    check_geometry,
    decide,
    new_scan,
    pending_count,
    settle,
    submission,
    submit_many,
    wait_for_status,
)

pytestmark = browser_marks()

#: Desktop, laptop and phone (portrait) windows.
SIZES = ((1920, 1080), (1366, 768), (390, 844))


@pytest.mark.parametrize("count", PENDING_COUNTS)
def test_scan_page_fits_every_size(
    count: int,
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """At each size, the grid shows the pending tasks (or the oldest and a count of the
    rest) without scrolling, overlap, clipped or illegible text, and the analytics pane's
    tiles, labels and tables neither overlap nor stick out nor scroll sideways."""
    scan = pending_scans[count]
    expected = pending_count(server.base_url, accounts.admin, scan)
    width, height = SIZES[0]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=width, height=height).page
    expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text(f"{expected:,}")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        label = f"{count} pending, {width}x{height}"
        check_geometry(page, expected, label)
        check_analytics_geometry(page, label)


@pytest.mark.parametrize("count", [1, 12, 1000])
def test_card_buttons_are_32px_targets_on_a_phone(
    count: int,
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """On a 390x844 phone every Validate and Refuse button of the grid is at least 32x32 px
    (they were 21x20 px on compact tiles), and the grid still fits."""
    scan = pending_scans[count]
    expected = pending_count(server.base_url, accounts.admin, scan)
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=390, height=844).page
    check_geometry(page, expected, f"{count} pending, 390x844")
    sizes = page.locator(".grid .card .act").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect()).map(r => [r.width, r.height])"
    )
    assert sizes, "the grid shows buttons"
    small = [s for s in sizes if s[0] < 32 or s[1] < 32]
    assert not small, f"{len(small)} of {len(sizes)} buttons under 32 px: {small[:4]}"


#: Short and small windows: phones in landscape and portrait down to 320x568 (and its
#: landscape), a small tablet on its side, short laptop windows.
SHORT_SIZES = (
    (844, 390),
    (700, 500),
    (932, 430),
    (640, 360),
    (568, 320),
    (360, 640),
    (320, 568),
    (1024, 500),
    (1280, 600),
)

#: The boxes of the scan page's parts, and which of the grid panel's parts (filter bar, grid,
#: foot) cross the analytics pane or stick out of the panel.
BOXES_JS = """
() => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  };
  const cross = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.top >= b.top - 0.5
    && a.right <= b.right + 0.5 && a.bottom <= b.bottom + 0.5;
  const panel = document.querySelector('.grid-panel');
  const pane = box(document.querySelector('.analytics'));
  const parts = [...panel.children].filter(el => el.getBoundingClientRect().height > 0);
  const grid = document.querySelector('.grid');
  const focused = grid.querySelector('.card.is-focused:not(.leaving)');
  return {
    grid: box(grid), analytics: pane, panel: box(panel),
    crossing: [panel, ...parts].filter(el => cross(box(el), pane)).map(el => el.className),
    spilling: parts.filter(el => !inside(box(el), box(panel))).map(el => el.className),
    focused: focused ? focused.dataset.taskId : null,
    focusedInside: focused ? inside(box(focused), box(grid)) : false,
  };
}
"""


def test_short_windows_keep_cards_to_decide(
    *, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """With 11 pending, at every short or small window the grid shows at least one card
    (several where they fit) inside it and focused, V decides it, the grid panel's parts
    never cross the analytics pane, and neither the page nor the grid scrolls (the analytics
    row used to keep 190 px and leave the grid 8 px: "showing the oldest 0")."""
    url = server.base_url
    rng = random.Random(5)
    scan = new_scan(url, accounts.admin, "Short windows")
    submit_many(url, scan, accounts.workers, [submission(rng, i) for i in range(11)], threads=1)
    width, height = SHORT_SIZES[0]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=width, height=height).page
    grid = page.locator(".grid")
    shown: dict[str, int] = {}
    for index, (width, height) in enumerate(SHORT_SIZES):
        page.set_viewport_size({"width": width, "height": height})
        label = f"11 pending, {width}x{height}"
        g = check_geometry(page, 11, label)
        boxes: dict[str, Any] = page.evaluate(BOXES_JS)
        where = f"{label}: {json.dumps(boxes)}"
        assert g["shown"] >= 1, f"no card on the grid at {label}: {json.dumps(g)}"
        assert boxes["crossing"] == [], f"the grid panel crosses the analytics pane at {where}"
        assert boxes["spilling"] == [], f"part of the grid panel spills out of it at {where}"
        assert boxes["focused"], f"no card has the focus at {where}"
        assert boxes["focusedInside"], f"the focused card is not inside the grid at {where}"
        queue = page.locator(".toolbar .queue-info")
        if g["hidden"]:
            expect(queue).to_have_text(f"11 pending · showing the oldest {g['shown']}")
        if width <= 900 and height <= 370:
            # A phone on its side this short leaves the whole window to the grid.
            expect(page.locator(".analytics")).to_be_hidden()
        else:
            check_analytics_geometry(page, label)
        shown[f"{width}x{height}"] = g["shown"]
        # V decides the focused card; a new task brings the queue back to 11.
        page.keyboard.press("v")
        wait_for_status(url, accounts.admin, boxes["focused"], "validated")
        expect(grid).to_have_attribute("data-pending", "10")
        submit_many(url, scan, accounts.workers[:1], [submission(rng, 100 + index)])
        expect(grid).to_have_attribute("data-pending", "11")
    print(f"\ncards shown with 11 pending: {shown}")
    # Several cards, not one: a phone on its side has the width for two columns.
    landscape = ("844x390", "700x500", "932x430", "640x360", "568x320")
    assert min(shown[size] for size in landscape) >= 3, shown
    assert min(shown["360x640"], shown["320x568"]) >= 2, shown


#: The toolbar's visible controls (and the text beside them) that overlap one another or
#: stick out of the window.
TOOLBAR_JS = (
    """
() => {"""
    + OVERLAPPING_JS
    + """
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const name = el => (el.getAttribute('aria-label') || el.className || el.tagName).toString();
  const parts = [...document.querySelectorAll(
    '.toolbar :is(button, a[href], input, select, .scan-title, .queue-info, .presence)')]
    .filter(shown);
  const overlaps = overlapping(parts, name);
  const outside = parts.filter(el => {
    const r = el.getBoundingClientRect();
    return r.left < -0.5 || r.right > window.innerWidth + 0.5;
  }).map(name);
  return {parts: parts.map(name), overlaps, outside};
}
"""
)


def test_toolbar_controls_never_overlap_on_a_phone(
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """At 320x568, 360x640 and 390x844 the toolbar's controls (worker link, Copy, CSV, JSON,
    Close scan) and its title and count neither overlap nor leave the window (at 320 px
    Copy lay over CSV)."""
    scan = pending_scans[12]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=320, height=568).page
    for width, height in ((320, 568), (360, 640), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        check_geometry(page, 12, f"12 pending, {width}x{height}")
        found: dict[str, Any] = page.evaluate(TOOLBAR_JS)
        where = f"{width}x{height}: {json.dumps(found)}"
        assert "Export as CSV" in found["parts"], f"the toolbar lost CSV at {where}"
        assert found["overlaps"] == [], f"toolbar controls overlap at {where}"
        assert found["outside"] == [], f"toolbar controls leave the window at {where}"


#: The preview's and the grid's parts whose text runs past their box sideways, the preview's
#: task text height (and what it would take whole), and each kind chip cut by the card's head.
READABLE_JS = """
() => {
  const name = el => el.className + ' "' + el.textContent.trim().slice(0, 20) + '"';
  const over = el => el.scrollWidth > el.clientWidth + 1;
  const pane = document.querySelector('.preview');
  const text = pane.querySelector('.preview-text');
  const visible = el => el.getBoundingClientRect().width > 0;
  const chips = [...document.querySelectorAll('.grid .card:not(.leaving) .card-head .kind')]
    .filter(el => !el.hidden && visible(el));
  return {
    sideways: [pane, ...pane.querySelectorAll('*')].filter(el => visible(el) && over(el))
      .map(name),
    textHeight: text.clientHeight, textWhole: text.scrollHeight,
    chips: chips.length,
    cutChips: chips.filter(el => over(el) || el.getBoundingClientRect().width < 20).map(name),
    names: [...document.querySelectorAll('.grid .card:not(.leaving) .who')]
      .filter(el => el.textContent.length >= 32 && visible(el)).length,
    cutNames: [...document.querySelectorAll('.grid .card:not(.leaving) .who')]
      .filter(el => visible(el) && over(el) && !el.title).map(name),
  };
}
"""


def test_long_reasons_and_usernames_stay_readable(
    *, open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """In the task preview, a history holding a 1,000-character reason without a space wraps
    and leaves the task's text box its room (it was squeezed to 42 px); on the grid, a kind
    chip beside a 32-character username keeps its size and the name ellipsizes (its title
    holds it whole)."""
    url = server.base_url
    long_name = "wk_three_with_a_very_long_name32"
    assert len(long_name) == 32
    worker = register_sync(url, long_name, PASSWORD)
    scan = new_scan(url, accounts.admin, "Long reasons and names")
    body = " ".join(f"Word{i} of a long report on the loading dock door." for i in range(20))
    tasks = submit_many(
        url,
        scan,
        [worker],
        [f"Observation: {body}", "Suggestion: Label the spare fuse box", "Observation: #3 Gate"],
        threads=1,
    )
    decide(url, accounts.admin, tasks[0]["id"], "refused", "R" * 1000)
    status, answer = call_sync(
        url, "POST", f"/api/tasks/{tasks[0]['id']}/undo", {}, accounts.admin.token
    )
    assert status == 200, answer
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1280, height=800).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "3")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    for width, height in ((1280, 800), (1920, 1080), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        check_geometry(page, 3, f"3 pending, {width}x{height}")
        page.keyboard.press("Space")
        pane = page.get_by_role("complementary", name="Task preview")
        expect(pane.locator(".history-reason")).to_have_text("R" * 1000)
        settle(page)
        found: dict[str, Any] = page.evaluate(READABLE_JS)
        where = f"{width}x{height}: {json.dumps(found)}"
        assert found["sideways"] == [], f"preview text runs past its box at {where}"
        # The task's text shows whole, or at least six lines of it (it scrolls for the rest).
        assert found["textHeight"] >= min(found["textWhole"], 6 * 14.5 * 1.5), where
        page.keyboard.press("Escape")
        expect(pane).to_be_hidden()
        assert found["chips"] >= 1, f"no kind chip on the grid at {where}"
        assert found["cutChips"] == [], f"a kind chip is squeezed at {where}"
        assert found["names"] >= 1, f"no long username on the grid at {where}"
        assert found["cutNames"] == [], f"a username is cut without its title at {where}"
