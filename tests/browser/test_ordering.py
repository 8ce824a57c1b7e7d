"""Live events that reach the page before the ack of the join that subscribed to it are
buffered, applied after the ack, and applied once."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.support import ServerProcess, call_sync

from .conftest import Accounts, OpenPage
from .support import browser_marks, new_scan, submit_many

pytestmark = browser_marks()


class Holder:
    """Stands between the page and the server's WebSocket; keeps back the first join ack
    and the task events until the test releases them, in the order it chooses."""

    def __init__(self) -> None:
        self.holding = True
        self.held: list[str] = []
        self.page_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        self.page_side = ws
        upstream = ws.connect_to_server()
        ws.on_message(upstream.send)

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            join_ack = text.startswith("43") and '"tasks"' in text
            if self.holding and (join_ack or text.startswith('42["task:')):
                self.held.append(text)
                return
            ws.send(message)

        upstream.on_message(from_server)

    def wait_for(self, page: Page, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.held) < count:
            assert time.monotonic() < deadline, f"only {len(self.held)} frames held"
            page.wait_for_timeout(50)

    def release(self, frames: list[str]) -> None:
        assert self.page_side is not None
        self.holding = False
        for frame in frames:
            self.page_side.send(frame)


def test_events_racing_the_join_ack_are_applied_after_it_and_once(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Events delivered before the join ack are applied on top of the ack's snapshot, and
    an event replayed later (its seq already applied) does not bring a decided task back."""
    scan = new_scan(server.base_url, accounts.admin, "Racing the ack")
    submit_many(
        server.base_url,
        scan,
        accounts.workers[:1],
        ["In the snapshot 1", "In the snapshot 2"],
        threads=1,
    )
    holder = Holder()
    page = open_page(
        f"/admin/scans/{scan}",
        accounts.admin,
        before=lambda p: p.route_web_socket(re.compile(r"/socket\.io/"), holder.route),
    ).page
    holder.wait_for(page, 1)  # the join ack, held: the page shows nothing yet
    live = submit_many(server.base_url, scan, accounts.workers[:1], ["Live 1", "Live 2"], threads=1)
    holder.wait_for(page, 3)
    ack = next(f for f in holder.held if f.startswith("43"))
    events = [f for f in holder.held if f.startswith("42")]
    assert len(events) == 2
    # Both events before the ack: a page that applied them at once would lose them
    # when the ack's snapshot (taken before they happened) replaced its state.
    holder.release([*events, ack])
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "4")
    texts = sorted(grid.locator(".card .content").all_text_contents())
    assert texts == ["In the snapshot 1", "In the snapshot 2", "Live 1", "Live 2"]
    # A repeated, older event (seq already applied) changes nothing: the decided task
    # does not come back as pending.
    call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{live[0]['id']}/decision",
        {"decision": "validated"},
        accounts.admin.token,
    )
    expect(grid).to_have_attribute("data-pending", "3")
    holder.release([events[0], events[0]])
    page.wait_for_timeout(400)
    expect(grid).to_have_attribute("data-pending", "3")
    expect(grid.locator(".card", has_text="Live 1")).to_have_count(0)


def test_a_reset_answer_reloads_the_snapshot(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """When a resume is answered with `reset: true` (the server no longer holds the events
    after the page's seq), the page replaces its state with the snapshot and says so."""
    scan = new_scan(server.base_url, accounts.admin, "Reset")
    first = submit_many(
        server.base_url, scan, accounts.workers[:1], [f"Before {i}" for i in range(3)], threads=1
    )
    links: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        links.append(ws)
        upstream = ws.connect_to_server()
        rejoin = len(links) > 1

        def to_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if rejoin and text.startswith("42") and '"scan:join"' in text:
                # A seq beyond the scan's latest: the server answers a snapshot with reset.
                text = re.sub(r'"since_seq":\s*\d+', '"since_seq":999999', text)
            upstream.send(text)

        ws.on_message(to_server)
        upstream.on_message(ws.send)

    page = open_page(
        f"/admin/scans/{scan}",
        accounts.admin,
        before=lambda p: p.route_web_socket(re.compile(r"/socket\.io/"), route),
    ).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "3")
    links[0].close()  # the link drops; Socket.IO reconnects and resumes with since_seq
    call_sync(
        server.base_url,
        "POST",
        f"/api/tasks/{first[0]['id']}/decision",
        {"decision": "refused"},
        accounts.admin.token,
    )
    submit_many(server.base_url, scan, accounts.workers[:1], ["After 1", "After 2"], threads=1)
    expect(page.locator(".toast")).to_contain_text("Reloaded the scan")
    expect(grid).to_have_attribute("data-pending", "4")
    texts = sorted(grid.locator(".card .content").all_text_contents())
    assert texts == ["After 1", "After 2", "Before 1", "Before 2"]
    joins = page.evaluate("() => performance.getEntriesByName('live:join-ack').map(e => e.detail)")
    assert len(joins) >= 2, joins
    assert joins[-1]["tasks"] >= 2, joins
