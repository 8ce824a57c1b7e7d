"""The live grid at 1 to 1,000 pending tasks: no scrolling, no overlap, no clipped text,
at laptop and desktop sizes and after resizes; and how long the browser takes to lay out
1,000 pending tasks and to absorb a burst of 100 arrivals."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import ServerProcess

from .conftest import Accounts, OpenPage
from .support import (
    browser_marks,
    card,
    check_geometry,
    new_scan,
    pending_count,
    settle,
    shown_cards,
    submission,
    submit_many,
    wait_for_status,
)

pytestmark = browser_marks()

COUNTS = (1, 12, 60, 200, 1000)
SIZES = ((1280, 800), (1920, 1080), (1024, 768), (820, 1180))


@pytest.fixture(scope="module")
def scans(server: ServerProcess, accounts: Accounts) -> dict[int, str]:
    """One scan per pending count, seeded over HTTP by the three workers."""
    rng = random.Random(7)
    made: dict[int, str] = {}
    started = time.monotonic()
    for count in COUNTS:
        scan = new_scan(server.base_url, accounts.admin, f"Grid with {count} pending")
        submit_many(
            server.base_url, scan, accounts.workers, [submission(rng, i) for i in range(count)]
        )
        made[count] = scan
    print(f"\nseeded {sum(COUNTS)} tasks in {time.monotonic() - started:.1f} s")
    return made


@pytest.mark.parametrize("count", COUNTS)
def test_grid_fits_the_viewport(
    count: int,
    *,
    scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    artifacts: Path,
) -> None:
    """Every pending task fits without scrolling, overlapping or clipping (or, past the
    legible minimum, the oldest fit and a tile counts the rest), before and after resizes."""
    scan = scans[count]
    expected = pending_count(server.base_url, accounts.admin, scan)
    width, height = SIZES[0]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=width, height=height).page
    summary = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        g = check_geometry(page, expected, f"{count} tasks, {width}x{height}")
        summary.append(f"{width}x{height}: {g['mode']} {g['cols']}x{g['rows']} shown {g['shown']}")
        if count in (12, 1000) or (count == 60 and width in (1024, 820)):
            page.screenshot(path=str(artifacts / f"admin-grid-{count}-{width}x{height}.png"))
    # And back to the first size: the layout follows the window both ways.
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    check_geometry(page, expected, f"{count} tasks, back to {SIZES[0]}")
    print(f"\n{count} pending: " + "; ".join(summary))


PERF_SETUP_JS = """
() => {
  const state = { frames: [], longtasks: [], running: true };
  window.__perf = state;
  const loop = t => { state.frames.push(t); if (state.running) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) state.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no longtask support */ }
  return performance.now();
}
"""

PERF_READ_JS = """
([since, items]) => {
  const state = window.__perf;
  state.running = false;
  const after = name => performance.getEntriesByName(name).filter(e => e.startTime >= since);
  const events = after('live:event');
  const until = after('live:events-until');
  const frame = after('grid:frame').find(e => e.detail.items >= items);
  const renders = after('grid:render');
  const frames = state.frames.filter(t => t >= since);
  let worstGap = 0;
  for (let i = 1; i < frames.length; i++) worstGap = Math.max(worstGap, frames[i] - frames[i - 1]);
  const long = state.longtasks.filter(([t]) => t >= since);
  return {
    firstEvent: events.length ? events[0].startTime : null,
    lastEvent: until.length ? until[until.length - 1].startTime : null,
    events: until.reduce((n, e) => n + e.detail.count, 0),
    done: frame ? frame.startTime : null,
    renders: renders.length,
    renderTotal: renders.reduce((s, e) => s + e.duration, 0),
    renderMax: renders.reduce((m, e) => Math.max(m, e.duration), 0),
    worstFrameGap: worstGap,
    longTasks: long.length,
    longestTask: long.reduce((m, [, d]) => Math.max(m, d), 0),
  };
}
"""


def test_layout_and_burst_timings_in_the_browser(
    *,
    scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    artifacts: Path,
) -> None:
    """Measures (and prints) the time to lay out 1,000 pending tasks and to absorb a burst
    of 100 arrivals, with the grid's own render cost and the worst frame gap; the grid must
    end up complete, without duplicates."""
    scan = scans[1000]
    expected = pending_count(server.base_url, accounts.admin, scan)
    figures: dict[str, Any] = {}
    for width, height in ((1920, 1080), (1280, 800)):
        page = open_page(
            f"/admin/scans/{scan}", accounts.admin, width=width, height=height, reduced_motion=False
        ).page
        expect(page.locator(".grid")).to_have_attribute("data-pending", str(expected))
        settle(page)
        first: dict[str, float] = page.evaluate(
            """(items) => {
              const ack = performance.getEntriesByName('live:join-ack')[0];
              const find = name => performance.getEntriesByName(name)
                .find(e => e.detail.items >= items);
              const frame = find('grid:frame');
              const render = find('grid:render');
              return { ack: ack.startTime, frame: frame.startTime, render: render.duration,
                       shown: render.detail.shown };
            }""",
            expected,
        )
        figures[f"layout_{width}x{height}"] = {
            "snapshot_to_painted_ms": round(first["frame"] - first["ack"], 1),
            "render_js_ms": round(first["render"], 2),
            "cards_in_dom": first["shown"],
        }
        # A resize re-lays the whole grid out.
        since = page.evaluate(PERF_SETUP_JS)
        page.set_viewport_size({"width": width - 200, "height": height - 100})
        settle(page)
        resize = page.evaluate(PERF_READ_JS, [since, 0])
        figures[f"resize_{width}x{height}"] = {
            "render_js_ms": round(resize["renderMax"], 2),
            "worst_frame_gap_ms": round(resize["worstFrameGap"], 1),
        }
        page.set_viewport_size({"width": width, "height": height})
        settle(page)

    # The burst: 100 arrivals as fast as the server takes them, on the last page opened.
    since = page.evaluate(PERF_SETUP_JS)
    started = time.monotonic()
    rng = random.Random(11)
    submit_many(
        server.base_url,
        scan,
        accounts.workers,
        [submission(rng, 10_000 + i) for i in range(100)],
    )
    submitted = time.monotonic() - started
    expect(page.locator(".grid")).to_have_attribute("data-pending", str(expected + 100))
    settle(page)
    burst = page.evaluate(PERF_READ_JS, [since, expected + 100])
    assert burst["events"] >= 100
    figures["burst_100"] = {
        "server_side_submit_s": round(submitted, 2),
        "first_to_last_arrival_ms": round(burst["lastEvent"] - burst["firstEvent"], 1),
        "first_arrival_to_painted_ms": round(burst["done"] - burst["firstEvent"], 1),
        "last_arrival_to_painted_ms": round(burst["done"] - burst["lastEvent"], 1),
        "renders": burst["renders"],
        "render_js_total_ms": round(burst["renderTotal"], 1),
        "render_js_max_ms": round(burst["renderMax"], 2),
        "worst_frame_gap_ms": round(burst["worstFrameGap"], 1),
        "long_tasks": burst["longTasks"],
        "longest_task_ms": round(burst["longestTask"], 1),
    }
    ids = page.eval_on_selector_all(".grid .card", "cards => cards.map(c => c.dataset.taskId)")
    assert len(ids) == len(set(ids)), "a task has two cards"
    report = json.dumps(figures, indent=2)
    (artifacts / "perf.json").write_text(report + "\n")
    print(f"\nbrowser timings (Chromium headless, this machine):\n{report}")


def test_arrivals_held_under_the_pointer_are_announced(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """5 pending, the pointer rests on card 3, 40 more arrive: card 3 stays where it was,
    the arrivals that find no free cell wait, and the toolbar says how many appear when
    the pointer leaves the grid; once it leaves they do, and the sentence goes."""
    url = server.base_url
    scan = new_scan(url, accounts.admin, "Held arrivals")
    tasks = submit_many(url, scan, accounts.workers, [f"Held {i}" for i in range(5)], threads=1)
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    grid = page.locator(".grid")
    toolbar = page.locator(".toolbar")
    expect(grid).to_have_attribute("data-pending", "5")
    settle(page)
    third = card(page, tasks[2])
    third.locator(".content").hover()
    before = third.bounding_box()
    submit_many(url, scan, accounts.workers, [f"Arrival {i}" for i in range(40)])
    expect(grid).to_have_attribute("data-pending", "45")
    expect(grid).to_have_attribute("data-held", "true")
    waiting = int(grid.get_attribute("data-waiting") or 0)
    assert waiting > 0
    note = page.locator(".queue-wait")
    expect(note).to_be_visible()
    expect(toolbar).to_contain_text(f"{waiting} more when the pointer leaves the grid")
    assert third.bounding_box() == before
    page.screenshot(path=str(artifacts / "admin-grid-held-arrivals.png"))

    page.mouse.move(1, 1)
    expect(grid).to_have_attribute("data-waiting", "0")
    expect(grid).to_have_attribute("data-held", "false")
    expect(toolbar).not_to_contain_text("when the pointer leaves")
    expect(note).to_be_hidden()
    assert int(grid.get_attribute("data-shown") or 0) > 6


#: The rows the grid's cards stand in, from the top, and how many cards stand in each.
ROWS_JS = """
() => {
  const rows = new Map();
  for (const c of document.querySelectorAll('.grid .card:not(.leaving)')) {
    const top = Math.round(c.getBoundingClientRect().top);
    rows.set(top, (rows.get(top) || 0) + 1);
  }
  return [...rows.entries()].sort(([a], [b]) => a - b).map(([, n]) => n);
}
"""


def test_keys_decide_with_the_pointer_resting_and_the_waiting_tasks_fill_the_grid(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """100 pending, the pointer resting on the grid, V pressed 12 times: the decided cards'
    cells do not stay empty. The oldest pending tasks fill the grid in order, every row
    but the last full, and the "more" tile counts the rest."""
    url = server.base_url
    scan = new_scan(url, accounts.admin, "Keys under a resting pointer")
    tasks = submit_many(url, scan, accounts.workers, [f"Key {i}" for i in range(100)], threads=1)
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    settle(page)
    box = grid.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for index in range(12):
        expect(grid).to_have_attribute("data-focused", tasks[index]["id"])
        page.keyboard.press("v")
    wait_for_status(url, accounts.admin, tasks[11]["id"], "validated")
    expect(grid).to_have_attribute("data-pending", "88")
    expect(grid).to_have_attribute("data-held", "false")
    settle(page)
    shown = int(grid.get_attribute("data-shown") or 0)
    cols = int(grid.get_attribute("data-cols") or 0)
    assert shown_cards(page) == [t["id"] for t in tasks[12 : 12 + shown]]
    rows: list[int] = page.evaluate(ROWS_JS)
    assert all(n == cols for n in rows[:-1]), rows
    expect(page.locator(".more-tile")).to_contain_text(f"+{88 - shown}")
