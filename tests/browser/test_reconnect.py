"""The admin grid and the worker page across server restarts: they resume from the last
seq they applied, show what happened while they were cut off, and never duplicate a card."""

from __future__ import annotations

import asyncio
import threading

from playwright.sync_api import Page, expect

from taskstream_core import TaskStream, TokenIssuer, open_store
from tests.support import (
    TEST_INVITE_CODE,
    TEST_JWT_SECRET,
    Account,
    ServerProcess,
    register_sync,
)

from .conftest import PASSWORD, OpenPage
from .support import browser_marks, new_scan, submit_many

pytestmark = browser_marks()


def while_down(
    store_url: str, worker: Account, admin: Account, scan: str, *, contents: list[str], refuse: str
) -> None:
    """With the server stopped, store submissions and a refusal straight through the core."""

    async def work() -> None:
        core = TaskStream(
            store=open_store(store_url),
            tokens=TokenIssuer(TEST_JWT_SECRET),
            admin_invite_code=TEST_INVITE_CODE,
        )
        async with core:
            worker_principal = await core.accounts.authenticate(worker.token)
            admin_principal = await core.accounts.authenticate(admin.token)
            for text in contents:
                await core.submit_task(worker_principal, scan, text)
            await core.decide_task(admin_principal, refuse, "refused", "Seen while offline")

    errors: list[BaseException] = []

    def run() -> None:  # its own thread: Playwright's sync API owns this one's event loop
        try:
            asyncio.run(work())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]


def card_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        ".grid .card:not(.leaving)", "cards => cards.map(c => c.dataset.taskId)"
    )
    return ids


def test_grid_and_worker_page_recover_after_restarts(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """After a stop, changes made while down and a restart, the grid shows exactly the
    pending tasks (none twice, none missing) and the worker sees the refusal made offline."""
    server = own_server
    url = server.base_url
    admin = register_sync(url, "rita-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    worker = register_sync(url, "omar", PASSWORD)
    scan = new_scan(url, admin, "Restarts")
    first = submit_many(url, scan, [worker], [f"Before the restart {i}" for i in range(5)])

    admin_page = open_page(f"{url}/admin/scans/{scan}", admin).page
    worker_page = open_page(f"{url}/worker/scan/{scan}", worker).page
    grid = admin_page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "5")
    expect(worker_page.locator(".mine-item")).to_have_count(5)

    server.stop()
    expect(admin_page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    expect(worker_page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    offline = [f"Stored while the server was down {i}" for i in range(3)]
    assert server.store_url is not None
    while_down(server.store_url, worker, admin, scan, contents=offline, refuse=first[0]["id"])
    server.start()

    expect(admin_page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    expect(grid).to_have_attribute("data-pending", "7", timeout=20_000)
    for text in offline:
        expect(grid.locator(".card", has_text=text)).to_have_count(1)
    expect(grid.locator(".card", has_text="Before the restart 0")).to_have_count(0)
    refused = worker_page.locator(".mine-item", has_text="Before the restart 0")
    expect(refused.locator(".badge")).to_have_text("Refused", timeout=20_000)
    expect(refused.locator(".reason-text")).to_have_text("Seen while offline")
    expect(worker_page.locator(".mine-item")).to_have_count(8)
    joins = admin_page.evaluate(
        "() => performance.getEntriesByName('live:join-ack').map(e => e.detail)"
    )
    # The first join was a snapshot; the rejoin resumed from since_seq with the missed events.
    assert joins[0]["tasks"] == 5, joins
    assert joins[-1]["tasks"] == 0, joins
    assert joins[-1]["events"] >= 4, joins

    # A plain restart, with submissions racing the pages' reconnection.
    server.restart()
    submit_many(url, scan, [worker], [f"Right after the restart {i}" for i in range(4)])
    expect(grid).to_have_attribute("data-pending", "11", timeout=20_000)
    expect(worker_page.locator(".mine-item")).to_have_count(12, timeout=20_000)
    ids = card_ids(admin_page)
    assert len(ids) == 11, ids
    assert len(set(ids)) == 11, ids
    items = worker_page.eval_on_selector_all(
        ".mine-item", "items => items.map(i => i.dataset.taskId)"
    )
    assert len(set(items)) == 12, items
