"""What the presence soak found on two processes sharing Redis: a storm of joins runs the
Redis connection pool dry.

Each ``scan:join`` reads the scan's presence from Redis (and an admin's, its
claims). ``RedisBroker`` makes its client with redis-py's default pool, which
redis-py 8 caps at 100 connections and, once they are all in use, refuses
with ``MaxConnectionsError("Too many connections")`` instead of waiting. With
a few hundred joins at once the reads fail: the answers' presence leaves out
everyone, the joiner included (CONTRACT.md §4.1 says "the joiner included"),
and under the real server a publish that fails the same way sends every
viewer of the scan away to resume (the soak saw all 1,000 sockets dropped).
``?max_connections=2000`` on ``--redis-url`` avoided it. The broker's pool now
waits for a free connection (redis-py's ``BlockingConnectionPool``) instead.
"""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core import ViewerSession
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.testing import make_app, sign_up

from ..support.redis_server import redis_skip_reason, shared_redis_url, unique_prefix

JOINS = 300


@pytest.mark.skipif(redis_skip_reason() is not None, reason=str(redis_skip_reason()))
async def test_hundreds_of_joins_at_once_each_count_their_joiner() -> None:
    broker = RedisBroker(shared_redis_url(), prefix=unique_prefix())
    async with make_app(broker=broker) as app:
        ada = await sign_up(app, "ada", "admin")
        wes = await sign_up(app, "wes")
        scan = await app.create_scan(ada, "storm")
        viewers = [ViewerSession(app, wes) for _ in range(JOINS)]
        try:
            answers = await asyncio.gather(*(v.join(scan.id) for v in viewers))
            assert all(a.presence is not None for a in answers)
            uncounted = [a for a in answers if a.presence and a.presence.submitters < 1]
            assert not uncounted, f"{len(uncounted)} of {JOINS} answers left out their joiner"
        finally:
            for viewer in viewers:
                viewer.close()
