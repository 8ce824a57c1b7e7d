"""Screenshots of the dashboard's main states, for docs/dashboard.md.

``python -m tests.browser.screenshots OUTDIR`` builds the dashboard when it is stale,
starts a real ``taskstream-server`` on a temporary SQLite store, fills it through the HTTP
API with realistic data (two admins, five workers, a scan with 12 pending tasks and some
decided, one with 1,000 pending) and writes one PNG per state into OUTDIR with the system
Chromium. It runs without pytest; run it from the repository root.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import TEST_INVITE_CODE, Account, ServerProcess, call_sync, register_sync

from .support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ensure_web_build,
    new_scan,
    settle,
    signed_in,
    submission,
    submit_many,
)

__all__ = ["main", "take_screenshots"]

PASSWORD: Final = "correct horse battery"
DESKTOP: Final = (1920, 1080)
LAPTOP: Final = (1366, 768)
PHONE: Final = (390, 844)


class Shooter:
    """Opens pages as a user at a window size and saves them as PNGs into one directory."""

    def __init__(self, browser: Browser, base_url: str, out: Path) -> None:
        self.browser = browser
        self.base_url = base_url
        self.out = out
        self.written: list[Path] = []

    def shoot(
        self,
        name: str,
        path: str,
        account: Account | None,
        size: tuple[int, int],
        ready: Callable[[Page], object],
        *,
        element: str | None = None,
    ) -> None:
        """Open ``path`` as ``account`` at ``size``, wait for ``ready``, save ``name``.png
        (the whole window, or only ``element`` when given)."""
        context = self.browser.new_context(
            viewport={"width": size[0], "height": size[1]},
            reduced_motion="reduce",
            base_url=self.base_url,
        )
        try:
            if account is not None:
                signed_in(context, account)
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(path)
            ready(page)
            settle(page)
            target = self.out / f"{name}.png"
            if element is None:
                page.screenshot(path=str(target))
            else:
                page.locator(element).screenshot(path=str(target))
            self.written.append(target)
        finally:
            context.close()


def _decide(base_url: str, admin: Account, task_id: str, decision: str, reason: str | None) -> None:
    """Decide a task over HTTP as ``admin``; raises RuntimeError on any error."""
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    status, answer = call_sync(
        base_url, "POST", f"/api/tasks/{task_id}/decision", body, admin.token
    )
    if status != 200:
        raise RuntimeError(f"deciding {task_id} answered {status}: {answer}")


def _grid_ready(count: int) -> Callable[[Page], object]:
    """A wait for an admin scan page whose grid and analytics show ``count`` pending."""

    def ready(page: Page) -> None:
        expect(page.locator(".grid")).to_have_attribute("data-pending", str(count))
        expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text(f"{count:,}")

    return ready


def take_screenshots(out: Path) -> list[Path]:
    """Start a server, fill it, and write the PNGs into ``out``.

    Args:
        out: The directory for the PNGs (made when missing).

    Returns:
        The files written, in order.

    Raises:
        RuntimeError: Chromium is missing, or the server refused a step of the seeding.
    """
    if not CHROMIUM.exists():
        raise RuntimeError(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    ensure_web_build()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(21)
    with (
        tempfile.TemporaryDirectory() as data,
        ServerProcess(store_url=f"sqlite:///{data}/screens.db") as server,
    ):
        url = server.base_url
        ada = register_sync(
            url, "ada.lovelace", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
        )
        bo = register_sync(url, "bo.reyes", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
        workers = tuple(
            register_sync(url, name, PASSWORD) for name in ("wren", "kit", "sol", "maya", "tariq")
        )
        night = new_scan(url, ada, "Night shift walk-through", "Safety and flow issues, dock side")
        tasks = submit_many(url, night, workers, [submission(rng, i) for i in range(30)], threads=1)
        for index, task in enumerate(tasks[:18]):
            admin = ada if index % 3 else bo
            refused = index % 4 == 0
            reason = "Already known" if refused else None
            _decide(url, admin, task["id"], "refused" if refused else "validated", reason)
        big = new_scan(url, ada, "Warehouse safety audit", "Every aisle, every shift")
        submit_many(url, big, workers, [submission(rng, 1000 + i) for i in range(1000)])
        new_scan(url, ada, "Canteen suggestions", "Menus, queues, seating")
        worker_tasks = submit_many(url, night, workers[:1], [submission(rng, 5000)], threads=1)
        _decide(url, bo, worker_tasks[0]["id"], "validated", None)

        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            shooter = Shooter(browser, url, out)
            scan12, scan1000 = f"/admin/scans/{night}", f"/admin/scans/{big}"
            shooter.shoot(
                "signin",
                "/",
                None,
                LAPTOP,
                lambda page: expect(page.locator("input[type=password]").first).to_be_visible(),
            )
            shooter.shoot(
                "admin-home",
                "/admin",
                ada,
                LAPTOP,
                lambda page: expect(page.locator(".scan-row")).to_have_count(3),
            )
            shooter.shoot("admin-scan-12-desktop", scan12, ada, DESKTOP, _grid_ready(12))
            for label, size in (("desktop", DESKTOP), ("laptop", LAPTOP), ("phone", PHONE)):
                shooter.shoot(f"admin-scan-1000-{label}", scan1000, ada, size, _grid_ready(1000))
            shooter.shoot(
                "analytics-pane", scan12, ada, DESKTOP, _grid_ready(12), element=".analytics"
            )
            shooter.shoot("analytics-pane-phone", scan12, ada, PHONE, _grid_ready(12))

            def refuse_dialog(page: Page) -> None:
                _grid_ready(12)(page)
                page.locator(".grid .card").first.locator(".act-refuse").click()
                expect(page.locator("dialog[open]")).to_be_visible()
                page.locator("dialog .pick", has_text="Not enough detail").click()

            shooter.shoot("refuse-dialog", scan12, ada, LAPTOP, refuse_dialog)

            pending = [t for t in tasks[18:] if t["id"] != worker_tasks[0]["id"]]
            status, body = call_sync(
                url, "POST", f"/api/tasks/{pending[2]['id']}/claim", None, bo.token
            )
            if status != 200:
                raise RuntimeError(f"bo.reyes could not claim a task: {status} {body}")

            def claimed_and_undo(page: Page) -> None:
                _grid_ready(12)(page)
                expect(page.locator(".grid .card", has_text="is reviewing")).to_have_count(1)
                page.keyboard.press("v")
                expect(page.locator(".undo-bar", has_text="Undo")).to_be_visible()

            shooter.shoot("review-claim-undo", scan12, ada, DESKTOP, claimed_and_undo)
            shooter.shoot(
                "worker-scan",
                f"/worker/scan/{night}",
                workers[0],
                LAPTOP,
                lambda page: expect(page.locator(".mine-item").first).to_be_visible(),
            )
            shooter.shoot(
                "worker-scan-phone",
                f"/worker/scan/{night}",
                workers[0],
                PHONE,
                lambda page: expect(page.locator(".mine-item").first).to_be_visible(),
            )
            browser.close()
    return shooter.written


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m tests.browser.screenshots OUTDIR``; exit status 0."""
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshots")
    parser.add_argument("outdir", type=Path, help="where the PNGs go")
    args = parser.parse_args(argv)
    for path in take_screenshots(args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
