"""What the browser tests share: the web build, Chromium, seeding through the API, page checks."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.support import Account, call_sync

__all__ = [
    "ANALYTICS_GEOMETRY_JS",
    "ARTIFACTS",
    "AXE_SOURCE",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "GEOMETRY_JS",
    "OVERLAPPING_JS",
    "SMALL_TARGETS_JS",
    "WEB_DIR",
    "axe_serious",
    "browser_marks",
    "build_is_stale",
    "card",
    "check_analytics_geometry",
    "check_geometry",
    "close_scan",
    "contrast",
    "css_colour",
    "decide",
    "document_fits",
    "ensure_web_build",
    "new_scan",
    "panel_extremes",
    "pending_count",
    "settle",
    "settled_geometry",
    "shown_cards",
    "signed_in",
    "submission",
    "submit_many",
    "task_contents",
    "task_now",
    "wait_for_status",
]

ROOT: Final = Path(__file__).resolve().parents[2]
WEB_DIR: Final = ROOT / "examples" / "web"
BUILD_INDEX: Final = (
    ROOT / "examples" / "server" / "taskstream_server" / "static" / "app" / "index.html"
)
ARTIFACTS: Final = Path(__file__).resolve().parent / "artifacts"
CHROMIUM: Final = Path(os.environ.get("TASKSTREAM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SESSION_KEY: Final = "taskstream.session"


def _sources() -> Iterable[Path]:
    yield from (WEB_DIR / "src").rglob("*")
    for name in (
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ):
        yield WEB_DIR / name


def build_is_stale() -> bool:
    """True when the built index.html is missing or older than any dashboard source."""
    if not BUILD_INDEX.is_file():
        return True
    built = BUILD_INDEX.stat().st_mtime
    return any(p.is_file() and p.stat().st_mtime > built for p in _sources())


def ensure_web_build() -> None:
    """Run ``npm ci && npm run build`` in examples/web when the build is missing or stale."""
    if not build_is_stale():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the dashboard is not built and npm is not installed (Node 20 + npm 11)")
    installed = WEB_DIR / "node_modules" / ".package-lock.json"
    lock = WEB_DIR / "package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB_DIR, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB_DIR, check=True)


def card(page: Page, task: dict[str, Any]) -> Locator:
    """The admin grid's card of ``task`` (not one leaving the grid)."""
    return page.locator(f'.grid .card[data-task-id="{task["id"]}"]:not(.leaving)')


def new_scan(base_url: str, admin: Account, name: str, description: str = "") -> str:
    """A fresh open scan's id."""
    status, body = call_sync(
        base_url, "POST", "/api/scans", {"name": name, "description": description}, admin.token
    )
    assert status == 201, body
    return str(body["scan"]["id"])


def submit_many(
    base_url: str,
    scan_id: str,
    workers: Sequence[Account],
    contents: Sequence[str],
    *,
    threads: int = 8,
) -> list[dict[str, Any]]:
    """Submit ``contents`` over HTTP, round-robin over ``workers``, ``threads`` at a time (so
    with more than one the server may store them in another order); the tasks."""

    def one(index: int) -> dict[str, Any]:
        worker = workers[index % len(workers)]
        status, body = call_sync(
            base_url,
            "POST",
            f"/api/scans/{scan_id}/tasks",
            {"content": contents[index]},
            worker.token,
        )
        assert status == 201, body
        task: dict[str, Any] = body["task"]
        return task

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(len(contents))))


def decide(
    base_url: str, admin: Account, task_id: str, decision: str, reason: str | None = None
) -> dict[str, Any]:
    """Validate or refuse a task over HTTP; the task as the server answered it."""
    body: dict[str, Any] = {"decision": decision}
    if reason is not None:
        body["reason"] = reason
    status, answer = call_sync(
        base_url, "POST", f"/api/tasks/{task_id}/decision", body, admin.token
    )
    assert status == 200, answer
    task: dict[str, Any] = answer["task"]
    return task


def close_scan(base_url: str, admin: Account, scan_id: str) -> None:
    """Close a scan over HTTP."""
    status, answer = call_sync(base_url, "POST", f"/api/scans/{scan_id}/close", None, admin.token)
    assert status == 200, answer


def task_contents(base_url: str, scan_id: str, account: Account) -> list[str]:
    """The content of every task of the scan ``account`` may list (a worker: its own)."""
    status, answer = call_sync(
        base_url, "GET", f"/api/scans/{scan_id}/tasks?limit=500", token=account.token
    )
    assert status == 200, answer
    return [str(task["content"]) for task in answer["tasks"]]


def task_now(base_url: str, account: Account, task_id: str) -> dict[str, Any]:
    """The task as the server has it now (``GET /api/tasks/{id}``)."""
    status, body = call_sync(base_url, "GET", f"/api/tasks/{task_id}", token=account.token)
    assert status == 200, body
    task: dict[str, Any] = body["task"]
    return task


def wait_for_status(
    base_url: str, account: Account, task_id: str, wanted: str, *, within: float = 10.0
) -> dict[str, Any]:
    """Poll the task until its status is ``wanted``; the task (fails after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        task = task_now(base_url, account, task_id)
        if task["status"] == wanted:
            return task
        assert time.monotonic() < deadline, f"task {task_id} is {task['status']}, not {wanted}"
        time.sleep(0.05)


def signed_in(context: BrowserContext, account: Account) -> BrowserContext:
    """Put ``account``'s session in the tab's sessionStorage, as signing in does."""
    session = json.dumps({"token": account.token, "user": account.user})
    context.add_init_script(
        script=f"if (!sessionStorage.getItem({SESSION_KEY!r})) "
        f"sessionStorage.setItem({SESSION_KEY!r}, {json.dumps(session)});"
    )
    return context


def settle(page: Page) -> None:
    """Wait for two animation frames: whatever was scheduled has been laid out and painted."""
    page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))"
    )


def settled_geometry(page: Page) -> dict[str, Any]:
    """The admin grid's geometry (``GEOMETRY_JS``) once two frames in a row measure the same.

    A resize can take the grid more than one render to settle (a render that changes the
    height of what surrounds the grid makes it render again); what stays is what counts.
    """
    settle(page)
    g: dict[str, Any] = page.evaluate(GEOMETRY_JS)
    for _ in range(10):
        settle(page)
        again: dict[str, Any] = page.evaluate(GEOMETRY_JS)
        if again == g:
            break
        g = again
    return g


def document_fits(page: Page) -> bool:
    """True when the page does not scroll: the document is no taller or wider than the window."""
    fits: bool = page.evaluate(
        "() => document.documentElement.scrollHeight <= innerHeight"
        " && document.documentElement.scrollWidth <= innerWidth"
    )
    return fits


def shown_cards(page: Page) -> list[str]:
    """The task ids of the cards on the grid now (leaving cards excluded), in queue order."""
    settle(page)
    ids: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('.grid .card:not(.leaving)')]
          .map(c => [c.getBoundingClientRect(), c.dataset.taskId])
          .sort(([a], [b]) => (a.top - b.top) || (a.left - b.left))
          .map(([, id]) => id)"""
    )
    return ids


#: Geometry of the grid page: scrolling, overlapping cards and clipped text.
GEOMETRY_JS: Final = """
() => {
  const de = document.documentElement;
  const grid = document.querySelector('.grid');
  const gridBox = grid.getBoundingClientRect();
  const tiles = [...grid.querySelectorAll('.card:not(.leaving), .more-tile:not([hidden])')];
  const boxes = tiles.map(t => t.getBoundingClientRect());
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 0.5 && h > 0.5) overlaps.push([i, j]);
    }
  }
  const outside = boxes.filter(b => b.left < gridBox.left - 0.5 || b.top < gridBox.top - 0.5
    || b.right > gridBox.right + 0.5 || b.bottom > gridBox.bottom + 0.5).length;
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const clipped = [];
  for (const el of grid.querySelectorAll('.card:not(.leaving) .fit, .more-tile .fit')) {
    if (!visible(el)) continue;
    const over = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    const titled = (el.title || (el.closest('[title]') || {}).title || '').length > 0;
    if (over && !titled) clipped.push(el.className + ': ' + el.textContent.slice(0, 40));
  }
  for (const el of grid.querySelectorAll('.card:not(.leaving) .act .label')) {
    if (!visible(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
      clipped.push('button label: ' + el.textContent);
  }
  const fonts = [...grid.querySelectorAll('.card:not(.leaving) .content')]
    .map(el => parseFloat(getComputedStyle(el).fontSize));
  return {
    scrollHeight: de.scrollHeight, innerHeight: window.innerHeight,
    scrollWidth: de.scrollWidth, innerWidth: window.innerWidth,
    innerScroll: [grid, grid.closest('.grid-panel')].filter(el => el
      && (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)).length,
    tiles: tiles.length, cards: grid.querySelectorAll('.card:not(.leaving)').length,
    overlaps: overlaps.length, outside, clipped,
    minFont: fonts.length ? Math.min(...fonts) : null,
    pending: Number(grid.dataset.pending), shown: Number(grid.dataset.shown),
    hidden: Number(grid.dataset.hidden), mode: grid.dataset.mode,
    cols: Number(grid.dataset.cols), rows: Number(grid.dataset.rows),
  };
}
"""


def browser_marks() -> list[pytest.MarkDecorator]:
    """What every browser test module is marked with."""
    return [
        pytest.mark.browser,
        pytest.mark.skipif(
            not CHROMIUM.exists(),
            reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
        ),
    ]


def pending_count(base_url: str, admin: Account, scan_id: str) -> int:
    """How many tasks of the scan are pending, as the server counts them."""
    status, body = call_sync(base_url, "GET", f"/api/scans/{scan_id}", token=admin.token)
    assert status == 200, body
    return int(body["scan"]["counts"]["pending"])


_PLACES: Final = (
    "dock 3",
    "aisle 7",
    "the cold room",
    "packing station B",
    "gate 12",
    "the mezzanine",
)
_THINGS: Final = (
    "pallet jack left charging in the fire lane",
    "emergency exit sign flickering",
    "label printer jams every few labels",
    "spill near the conveyor, no cone placed",
    "forklift horn does not work",
    "stacked boxes lean over the walkway and block the view of oncoming traffic",
)
_MORE: Final = (
    "",
    " Seen twice this week.",
    " It slows the whole shift down and people have started working around it, which is"
    " worse: the workaround sends pickers through the loading lane while trucks back in.",
)


def submission(rng: random.Random, index: int) -> str:
    """A plausible submission numbered ``index``, of varied length (some need the ellipsis).

    Args:
        rng: The generator that picks kind, subject, place and length.
        index: The number the text carries, so every submission is distinct.

    Returns:
        "Observation: …" or "Suggestion: …", 60 to 300 characters.
    """
    kind = rng.choice(["Observation", "Suggestion"])
    thing, place = rng.choice(_THINGS).capitalize(), rng.choice(_PLACES)
    return f"{kind}: #{index} {thing} at {place}.{rng.choice(_MORE)}"


def check_geometry(page: Page, expected: int, label: str) -> dict[str, Any]:
    """Assert that the admin grid holds ``expected`` pending tasks and fits the window: no
    page or grid scroll either way, no overlapping or protruding cards, no clipped text without its
    full text in a title, no card text under 11 px, and a "more" tile counting the rest.

    Args:
        page: An admin scan page.
        expected: The scan's pending count (waited for on the grid first).
        label: What the failure messages name (count and window size).

    Returns:
        The measured geometry (``GEOMETRY_JS``).
    """
    expect(page.locator(".grid")).to_have_attribute("data-pending", str(expected))
    g = settled_geometry(page)
    where = f"{label}: {json.dumps(g)}"
    assert g["scrollHeight"] <= g["innerHeight"], f"the page scrolls vertically at {where}"
    assert g["scrollWidth"] <= g["innerWidth"], f"the page scrolls horizontally at {where}"
    assert g["innerScroll"] == 0, f"the grid scrolls inside at {where}"
    assert g["overlaps"] == 0, f"cards overlap at {where}"
    assert g["outside"] == 0, f"cards stick out of the grid at {where}"
    assert g["clipped"] == [], f"text is clipped without its full text in a title at {where}"
    assert g["minFont"] is None or g["minFont"] >= 11, f"text below the legible minimum at {where}"
    assert g["shown"] + g["hidden"] == expected
    if g["hidden"]:
        assert g["cards"] == g["shown"], where
        assert g["tiles"] == g["shown"] + 1, where
        more = page.locator(".more-tile .more-count")
        assert more.text_content() == f"+{g['hidden']:,}", where
    else:
        assert g["cards"] == expected, where
    return g


#: A script's helper (spliced in): the pairs of ``list``'s elements whose boxes overlap, neither
#: holding the other, each as ``name(a) / name(b)``.
OVERLAPPING_JS: Final = """
  const overlapping = (list, name) => {
    const out = [];
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i], b = list[j];
        if (a.contains(b) || b.contains(a)) continue;
        const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
        const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        if (w > 0.5 && h > 0.5) out.push(name(a) + ' / ' + name(b));
      }
    }
    return out;
  };
"""

#: Geometry of the analytics pane: its blocks and its text, measured against each other,
#: the pane and the window.
ANALYTICS_GEOMETRY_JS: Final = (
    """
() => {"""
    + OVERLAPPING_JS
    + """
  const pane = document.querySelector('.analytics');
  const paneBox = pane.getBoundingClientRect();
  const visible = el => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const name = el => el.className.baseVal !== undefined ? el.className.baseVal
    : (el.className || el.tagName.toLowerCase()) + ' "' + el.textContent.trim().slice(0, 30) + '"';
  const ownText = el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const texts = [...pane.querySelectorAll('*')].filter(el => ownText(el) && visible(el));
  const blocks = [...pane.querySelectorAll('.stat, .metric, .lat, .an-tile, .an-table-wrap')]
    .filter(visible);
  const offEdge = [...texts, ...blocks].filter(el => {
    const r = el.getBoundingClientRect();
    return r.left < paneBox.left - 0.5 || r.right > paneBox.right + 0.5
      || r.left < -0.5 || r.right > window.innerWidth + 0.5;
  }).map(name);
  const boxed = el => {
    const d = getComputedStyle(el).display;
    return !d.startsWith('inline') || d === 'inline-block';
  };
  const over = el => boxed(el) && el.scrollWidth > el.clientWidth + 1;
  const titled = el => (el.title || (el.closest('[title]') || {}).title || '').length > 0;
  const spills = el => getComputedStyle(el).overflowX === 'visible';
  const clipped = texts.filter(el => over(el) && !spills(el) && !titled(el)).map(name);
  const spilled = texts.filter(el => over(el) && spills(el)).map(name);
  const small = texts.filter(el => parseFloat(getComputedStyle(el).fontSize) < 11).map(name);
  const sideways = [pane, ...pane.querySelectorAll('*')]
    .filter(el => el.scrollWidth > el.clientWidth + 1
      && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)).map(name);
  const de = document.documentElement;
  return {
    texts: texts.length, blocks: blocks.length,
    overlapsText: overlapping(texts, name), overlapsBlocks: overlapping(blocks, name),
    offEdge, clipped, spilled, small, sideways,
    pageScrollX: de.scrollWidth > window.innerWidth,
    pageScrollY: de.scrollHeight > window.innerHeight,
  };
}
"""
)


def check_analytics_geometry(page: Page, label: str) -> dict[str, Any]:
    """Assert that the analytics pane is laid out cleanly: no block or text overlaps
    another, nothing sticks out of the pane or the window, nothing scrolls sideways, no
    text is cut without a title or set under 11 px.

    Args:
        page: An admin scan page whose analytics have their figures.
        label: What the failure messages name (count and window size).

    Returns:
        The measured geometry (``ANALYTICS_GEOMETRY_JS``).
    """
    settle(page)
    g: dict[str, Any] = page.evaluate(ANALYTICS_GEOMETRY_JS)
    where = f"{label}: {json.dumps(g)}"
    assert g["texts"] > 10, f"the analytics pane is not shown at {where}"
    assert g["blocks"] > 4, f"the analytics pane is not shown at {where}"
    assert g["overlapsBlocks"] == [], f"analytics tiles overlap at {where}"
    assert g["overlapsText"] == [], f"analytics labels overlap at {where}"
    assert g["offEdge"] == [], f"analytics content sticks out of the pane at {where}"
    assert g["sideways"] == [], f"part of the analytics pane scrolls sideways at {where}"
    assert g["clipped"] == [], f"analytics text is cut without a title at {where}"
    assert g["spilled"] == [], f"analytics text spills out of its box at {where}"
    assert g["small"] == [], f"analytics text under 11 px at {where}"
    assert not g["pageScrollX"], f"the page scrolls horizontally at {where}"
    assert not g["pageScrollY"], f"the page scrolls vertically at {where}"
    return g


#: axe-core's build, from the dashboard's devDependencies (``npm ci`` in examples/web).
AXE_SOURCE: Final = WEB_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_serious(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; its serious and critical violations.

    The page's context must bypass the server's CSP (``bypass_csp=True``): axe is
    injected as a script the policy does not list.

    Args:
        page: A loaded page.

    Returns:
        One ``{"rule", "impact", "help", "targets"}`` per violated rule, ``targets`` the
        CSS selectors of the offending nodes (at most 10).

    Raises:
        FileNotFoundError: axe-core is not installed (run ``npm ci`` in examples/web).
    """
    if not AXE_SOURCE.is_file():
        raise FileNotFoundError(f"{AXE_SOURCE} is missing: run `npm ci` in {WEB_DIR}")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_SOURCE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
          const result = await window.axe.run(document, { resultTypes: ['violations'] });
          return result.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({ rule: v.id, impact: v.impact, help: v.help,
                         targets: v.nodes.slice(0, 10).map(n => n.target.join(' ')) }));
        }"""
    )
    return found


#: Visible buttons, links and tabs smaller than 32 × 32 CSS pixels: ``[{what, w, h}]``.
SMALL_TARGETS_JS: Final = """
() => [...document.querySelectorAll('button, a[href], [role=tab]')]
  .filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  })
  .map(el => {
    const r = el.getBoundingClientRect();
    return {what: el.outerHTML.slice(0, 90), w: r.width, h: r.height};
  })
  .filter(t => t.w < 32 || t.h < 32)
"""

#: The darkest and lightest pixel of a PNG region (base64), as [[r, g, b], [r, g, b]] by
#: relative luminance; decoded in the page with createImageBitmap, which no CSP restricts.
_EXTREMES_JS: Final = """
async (png) => {
  const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const g = canvas.getContext('2d');
  g.drawImage(bitmap, 0, 0);
  const data = g.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  let lo = null, hi = null, loL = 2, hiL = -1;
  for (let i = 0; i < data.length; i += 4) {
    const L = 0.2126 * lin(data[i]) + 0.7152 * lin(data[i + 1]) + 0.0722 * lin(data[i + 2]);
    if (L < loL) { loL = L; lo = [data[i], data[i + 1], data[i + 2]]; }
    if (L > hiL) { hiL = L; hi = [data[i], data[i + 1], data[i + 2]]; }
  }
  return [lo, hi];
}
"""

#: Hide (or show again) everything inside a panel, leaving its own background.
_HIDE_INSIDE_JS: Final = """
([selector, hide]) => {
  document.activeElement?.blur();
  for (const el of document.querySelectorAll(selector + ' *')) {
    el.style.visibility = hide ? 'hidden' : '';
  }
}
"""

RGB = tuple[int, int, int]


def _luminance(rgb: Sequence[int]) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.04045 else float(((v + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Sequence[int], b: Sequence[int]) -> float:
    """The WCAG 2 contrast ratio of two opaque sRGB colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def css_colour(page: Page, variable: str) -> RGB:
    """An opaque ``#rrggbb`` custom property of the document's root, as (r, g, b)."""
    value = str(
        page.evaluate(
            "v => getComputedStyle(document.documentElement).getPropertyValue(v).trim()", variable
        )
    )
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", value), f"{variable} is {value!r}, not #rrggbb"
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


def panel_extremes(page: Page, selector: str, inset: int = 16) -> tuple[RGB, RGB]:
    """The darkest and lightest pixel of the first ``selector``'s own background (everything
    inside it hidden; ``inset`` px in from its edges, past the border and rounded corners)."""
    panel = page.locator(selector).first
    box = panel.bounding_box()
    assert box is not None, f"{selector} is not shown"
    page.evaluate(_HIDE_INSIDE_JS, [selector, True])
    settle(page)
    try:
        png = page.screenshot(
            clip={
                "x": box["x"] + inset,
                "y": box["y"] + inset,
                "width": box["width"] - 2 * inset,
                "height": box["height"] - 2 * inset,
            },
            animations="disabled",
        )
    finally:
        page.evaluate(_HIDE_INSIDE_JS, [selector, False])
    lo, hi = page.evaluate(_EXTREMES_JS, base64.b64encode(png).decode("ascii"))
    return (lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])
