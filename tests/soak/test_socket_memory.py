"""What one signed-in client can make the server hold, measured as the server's RSS.

- A client that never reads but keeps asking for large answers: each ``scan:join``
  of a scan of 300 tasks of 5,000 control characters is a 9 MB ack (JSON writes
  each one as 6 bytes). Acks used to queue without bound (40 joins: +387 MB);
  now a socket holding more than ``SEND_BUDGET`` unsent is disconnected and its
  connection aborted, whatever it was sent.
- Joins of scans that do not exist: each one used to leave the scan's seq gate
  in the broker for good (~320 bytes); now a failed join leaves nothing.

The server runs alone (the soak ``server`` fixture), with ``--log-level warning``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from taskstream_server.sockets import EVENTS_WAITING, SEND_BUDGET
from tests.support import TEST_INVITE_CODE, ServerProcess, WireSocket, call_sync, register_sync

from .test_storm import gauge, rss_mib

pytestmark = pytest.mark.contract

PASSWORD = "socket memory password"

#: Tasks in the big scan, and the control characters in each (JSON escapes each to 6 bytes).
BIG_TASKS = 300
BIG_CONTENT = "\x01" * 5_000
#: Joins of the big scan sent by the client that never reads.
GREEDY_JOINS = 40
#: RSS growth allowed after those joins: the budget, three answers (one being written,
#: one in the client's kernel buffers, one built when the budget is found spent) and
#: allocator slack. Before the budget: +387 MB.
GREEDY_BOUND_MIB = SEND_BUDGET / 2**20 + 3 * 9.1 + 40

#: Joins of scans that do not exist, after as many to warm the allocator up.
MISSING_JOINS = 20_000
#: Sent before their acks are read.
PIPELINE = EVENTS_WAITING  # in flight at once: more would be answered rate_limited
#: RSS growth allowed over MISSING_JOINS failed joins: a leak of ~320 bytes each is 6 MiB.
MISSING_BOUND_MIB = 2.0


def _pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def _signed_up(server: ServerProcess, role: str = "worker") -> str:
    code = TEST_INVITE_CODE if role == "admin" else None
    name = f"{role[0]}-{uuid.uuid4().hex[:10]}"
    return register_sync(server.base_url, name, PASSWORD, role=role, invite_code=code).token


async def _acks(socket: WireSocket, packets: list[str]) -> list[dict[str, object]]:
    """Send every packet, then read their acks (in order)."""
    ids = [socket.emit_raw(p) for p in packets]
    return [await socket.ack(i) for i in ids]


async def test_a_client_that_never_reads_its_answers_is_dropped_at_the_budget(
    server: ServerProcess,
) -> None:
    admin, worker = _signed_up(server, "admin"), _signed_up(server)
    status, body = call_sync(server.base_url, "POST", "/api/scans", {"name": "big"}, admin)
    assert status == 201
    scan = body["scan"]["id"]
    submitter = WireSocket(server.host, server.port, worker, timeout=60)
    await submitter.connect()
    submit = json.dumps(["task:submit", {"scan_id": scan, "content": BIG_CONTENT}])
    acks = []
    for start in range(0, BIG_TASKS, PIPELINE):  # more at once would be answered rate_limited
        acks += await _acks(submitter, [submit] * min(PIPELINE, BIG_TASKS - start))
    assert all(a["ok"] for a in acks), acks[0]
    await submitter.leave("clean")

    before = rss_mib(_pid(server))
    greedy = WireSocket(server.host, server.port, admin, timeout=60, receive_buffer=4096)
    await greedy.connect()
    join = f'["scan:join",{{"scan_id":"{scan}"}}]'
    for _ in range(GREEDY_JOINS):
        greedy.emit_raw(join)
    # From here on nothing reads from `greedy`: its answers pile up in the server.
    peak = before
    deadline = time.monotonic() + 60
    while gauge(server) != 0:
        assert time.monotonic() < deadline, "the socket that does not read is still connected"
        peak = max(peak, rss_mib(_pid(server)))
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the last answers built find the socket gone
    after = rss_mib(_pid(server))
    print(f"RSS {before:.1f} MiB before, peak {peak:.1f}, {after:.1f} after the drop")
    assert after - before <= GREEDY_BOUND_MIB
    assert any(
        r.get("message") == "socket does not read what it is sent; disconnecting it"
        for r in server.log_records()
    )
    await greedy.leave("reset")


async def test_joins_of_scans_that_do_not_exist_leave_nothing_behind(
    server: ServerProcess,
) -> None:
    socket = WireSocket(server.host, server.port, _signed_up(server), timeout=60)
    await socket.connect()

    async def missing(first: int) -> None:
        for start in range(first, first + MISSING_JOINS, PIPELINE):
            packets = [
                f'["scan:join",{{"scan_id":"{n:032x}"}}]' for n in range(start, start + PIPELINE)
            ]
            for ack in await _acks(socket, packets):
                assert ack["ok"] is False
                assert ack["error"]["code"] == "not_found", ack  # type: ignore[index]

    await missing(0)  # warm-up: the allocator's own growth is not a leak
    before = rss_mib(_pid(server))
    await missing(MISSING_JOINS)
    after = rss_mib(_pid(server))
    await socket.leave("clean")
    print(f"RSS {before:.1f} MiB before {MISSING_JOINS} failed joins, {after:.1f} after")
    assert after - before <= MISSING_BOUND_MIB


async def test_a_flood_of_events_on_one_socket_is_answered_rate_limited_past_the_wait(
    server: ServerProcess,
) -> None:
    """Every event is answered, none is lost; past EVENTS_WAITING waiting for their turn, the
    next ones are answered ``rate_limited`` at once instead of each holding its payload."""
    socket = WireSocket(server.host, server.port, _signed_up(server), timeout=60)
    await socket.connect()
    flood = 4 * EVENTS_WAITING
    packets = [f'["scan:join",{{"scan_id":"{n:032x}"}}]' for n in range(flood)]
    answers = await socket.acks([socket.emit_raw(p) for p in packets])
    codes = [ack["error"]["code"] for ack in answers.values()]
    await socket.leave("clean")
    assert len(codes) == flood
    assert set(codes) == {"not_found", "rate_limited"}, set(codes)
    assert codes.count("not_found") >= EVENTS_WAITING
