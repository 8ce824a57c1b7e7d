"""Presence in Redis: each process's users of a scan under a key of its own, with a TTL.

- ``<prefix>:presence:<len>:<scan>:<process>`` — hash, user id → the present
  user (JSON); it lapses ``ttl`` seconds after the process last wrote it, so
  the users of a process that died are gone by then.
- ``<prefix>:presence:<len>:<scan>`` — sorted set of the processes that wrote
  the scan, scored by when (epoch ms): the keys a read looks at.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import Unavailable
from ..models import PresentUser

__all__ = ["RedisPresenceRegistry"]

log = logging.getLogger("taskstream.broker.redis")


class RedisPresenceRegistry:
    """Presence shared by the processes of a deployment, in Redis (a ``PresenceRegistry``).

    Made by ``RedisBroker.presence_registry()``; it uses the broker's
    connection pool, so it works while the broker is started.

    Args:
        client: Returns the started broker's Redis client.
        prefix: Starts every key name (the broker's prefix).
        ttl: Seconds a process's entries last unless written again.
    """

    def __init__(self, client: Callable[[], Redis], prefix: str, ttl: float) -> None:
        self._client = client
        self._prefix = prefix
        self.ttl = ttl
        #: Seconds between two refreshes of a process's entries: a quarter of the TTL.
        self.heartbeat = ttl / 4

    def _scan_key(self, scan_id: str) -> str:
        return f"{self._prefix}:presence:{len(scan_id)}:{scan_id}"

    async def write(self, process_id: str, scan_id: str, users: Sequence[PresentUser]) -> None:
        """Replace what a process says of a scan; it lapses after ``ttl`` unless written again.

        Args:
            process_id: The process.
            scan_id: The scan.
            users: The users present through this process (empty: none).

        Raises:
            Unavailable: Redis cannot be reached.
        """
        ttl_ms = max(round(self.ttl * 1000), 1)
        now_ms = round(time.time() * 1000)
        procs = self._scan_key(scan_id)
        key = f"{procs}:{process_id}"
        pipe = self._client().pipeline(transaction=True)
        pipe.delete(key)
        if users:
            entries = {u.user_id: json.dumps(u.to_dict(), separators=(",", ":")) for u in users}
            pipe.hset(key, mapping=entries)  # type: ignore[arg-type]  # redis-py's typing
            pipe.pexpire(key, ttl_ms)
            pipe.zadd(procs, {process_id: now_ms})
        else:
            pipe.zrem(procs, process_id)
        pipe.zremrangebyscore(procs, "-inf", now_ms - 2 * ttl_ms)
        pipe.pexpire(procs, 2 * ttl_ms)
        try:
            await pipe.execute()
        except RedisError as exc:
            log.warning("presence cannot be written to Redis: %s", exc)
            raise Unavailable("Presence cannot be written right now; retry later.") from exc

    async def read(self, scan_id: str) -> list[tuple[str, PresentUser]]:
        """Read the live entries of every process for a scan.

        Args:
            scan_id: The scan.

        Returns:
            ``(process id, user)`` pairs.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        client = self._client()
        procs_key = self._scan_key(scan_id)
        try:
            members = await client.zrange(procs_key, 0, -1)
            processes = [p.decode() if isinstance(p, bytes) else str(p) for p in members]
            if not processes:
                return []
            pipe = client.pipeline(transaction=False)
            for process in processes:
                pipe.hvals(f"{procs_key}:{process}")
            answers = await pipe.execute()
        except RedisError as exc:
            log.warning("presence cannot be read from Redis: %s", exc)
            raise Unavailable("Presence cannot be read right now; retry later.") from exc
        return [
            (process, PresentUser.from_dict(json.loads(raw)))
            for process, values in zip(processes, answers, strict=True)
            for raw in values
        ]
