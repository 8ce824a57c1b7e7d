"""What the browser tests share: the web build, Chromium, seeding through the API, page checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.support import Account, call_sync

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "GEOMETRY_JS",
    "WEB_DIR",
    "browser_marks",
    "build_is_stale",
    "ensure_web_build",
    "new_scan",
    "settle",
    "signed_in",
    "submit_many",
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
