"""Claims in Redis: every change is one Lua script, so "exactly one" holds across processes.

Four keys per deployment (``<prefix>`` as the broker's channel):

- ``<prefix>:claims`` — hash, task id → the claim's record (JSON, with ``ms``,
  its ``expires_at`` in epoch milliseconds);
- ``<prefix>:claims:held`` — hash, ``["scan", "admin"]`` → the task that admin
  holds in that scan (an admin holds at most one per scan);
- ``<prefix>:claims:expiry`` — sorted set, task id scored by ``ms``: what
  :meth:`RedisClaimRegistry.expire` sweeps;
- ``<prefix>:claims:version`` — integer, the version of the latest change of
  any claim: each change a script applies (a claim taken, renewed or moved
  away, released, ended or expired) ``INCR``s it, raises it to Redis's clock
  in microseconds (``TIME``) when it is below, and answers the new value with
  its outcome. One counter for every task, so a task's changes carry
  strictly increasing versions across processes; it is a key of its own,
  apart from the claims, so it outlives the claims it numbered, and being a
  single integer it needs no TTL or cleanup.

The clock is the floor for the case where this key alone is lost (evicted,
deleted, or a Redis restarted without persistence): ``INCR`` would start
again at 1, below the versions the fan-outs of every process remember for a
task (see ``CLAIM_VERSION_SECONDS``), and they would drop the task's next
announcements. Floored at the clock, the first version after the loss is
above every version before it, as long as Redis's clock does not go back.
(The counter runs ahead of the clock only when changes come faster than one
a microsecond, such as a sweep ending many claims in one script, and then by
about that many microseconds: a loss within that moment is the one other
exception.) Versions are therefore large numbers (microseconds since 1970,
about 1.8e15), not consecutive ones: exact in Lua's doubles (below 2**53) and
in Python's ints, and they stay inside the deployment
(``ScanEvent.to_record``, never an envelope). ``TIME`` before a write needs
scripts replicated by their effects, as every Redis since 5.0 does.

A script runs alone on the server: of concurrent claims of a task, one sees it
free and takes it, the others see it held. An expired claim counts as absent
everywhere; the sweep removes it and hands it to exactly one process, which
announces it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._claims import ClaimChange, ClaimOutcome
from ..errors import Unavailable
from ..models import Claim

__all__ = ["RedisClaimRegistry"]

log = logging.getLogger("taskstream.broker.redis")

_T = TypeVar("_T")

# Each drop() and each take is a change: it takes the next version from the counter
# (KEYS[4]) and answers it. bump() INCRs the counter, then raises it to Redis's clock in
# microseconds when below (see the module's docstring). The value is SET as a string of digits
# (%.0f): Lua's own tostring() gives "1.7650000001235e+15", and how Redis turns a Lua
# number argument into a string has varied between releases.
_BUMP = """
local function bump()
  local v = redis.call('INCR', KEYS[4])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if v < now then
    redis.call('SET', KEYS[4], string.format('%.0f', now))
    v = now
  end
  return v
end
"""

_DROP = (
    _BUMP
    + """
local function drop(claims, held, expiry, task, rec)
  local c = cjson.decode(rec)
  redis.call('HDEL', claims, task)
  redis.call('ZREM', expiry, task)
  local f = cjson.encode({c.scan_id, c.admin_id})
  if redis.call('HGET', held, f) == task then redis.call('HDEL', held, f) end
  return bump()
end
"""
)

_TAKE = (
    _DROP
    + """
local function take(claims, held, expiry, task, scan, admin, rec, now, exp)
  local cur = redis.call('HGET', claims, task)
  if cur then
    local c = cjson.decode(cur)
    if c.admin_id ~= admin then
      if c.ms > now then return {'held', cur} end
      drop(claims, held, expiry, task, cur)
    end
  end
  local mine = cjson.encode({scan, admin})
  local released, released_version = '', 0
  local prev = redis.call('HGET', held, mine)
  if prev and prev ~= task then
    local p = redis.call('HGET', claims, prev)
    if p and cjson.decode(p).admin_id == admin then
      released_version = drop(claims, held, expiry, prev, p)
      released = p
    end
  end
  redis.call('HSET', claims, task, rec)
  redis.call('HSET', held, mine, task)
  redis.call('ZADD', expiry, exp, task)
  return {'ok', rec, released, bump(), released_version}
end
"""
)

# KEYS (every script): claims, held, expiry, version.
# ARGV: task, scan, admin, record, now_ms, expires_ms.
_CLAIM = (
    _TAKE
    + """
return take(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
            tonumber(ARGV[5]), tonumber(ARGV[6]))
"""
)

# ARGV: scan, admin, record template (task_id ""), now_ms, expires_ms, task ids...
_CLAIM_FIRST = (
    _TAKE
    + """
local now, exp = tonumber(ARGV[4]), tonumber(ARGV[5])
local template = cjson.decode(ARGV[3])
for i = 6, #ARGV do
  local task = ARGV[i]
  local cur = redis.call('HGET', KEYS[1], task)
  local free = true
  if cur then
    local c = cjson.decode(cur)
    free = c.admin_id == ARGV[2] or c.ms <= now
  end
  if free then
    template.task_id = task
    return take(KEYS[1], KEYS[2], KEYS[3], task, ARGV[1], ARGV[2], cjson.encode(template), now, exp)
  end
end
return false
"""
)

# ARGV: task, admin ('' for any).
_RELEASE = (
    _DROP
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
if ARGV[2] ~= '' and cjson.decode(cur).admin_id ~= ARGV[2] then return false end
return {cur, drop(KEYS[1], KEYS[2], KEYS[3], ARGV[1], cur)}
"""
)

# ARGV: now_ms, limit. Answers each claim removed and its version, one after the other.
_EXPIRE = (
    _DROP
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, task in ipairs(due) do
  local cur = redis.call('HGET', KEYS[1], task)
  if not cur then
    redis.call('ZREM', KEYS[3], task)
  elseif cjson.decode(cur).ms <= tonumber(ARGV[1]) then
    table.insert(out, cur)
    table.insert(out, drop(KEYS[1], KEYS[2], KEYS[3], task, cur))
  end
end
return out
"""
)

_SWEEP_BATCH = 500


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _record(claim: Claim) -> str:
    return json.dumps({**claim.to_record(), "ms": _ms(claim.expires_at)}, separators=(",", ":"))


def _claim(raw: bytes | str) -> Claim:
    return Claim.from_dict(json.loads(raw))


class RedisClaimRegistry:
    """The claims of a deployment in Redis, shared by every process (a ``ClaimRegistry``).

    Made by ``RedisBroker.claim_registry()``; it uses the broker's connection
    pool, so it works while the broker is started. Clocks of the processes must
    agree (NTP): expiry compares ``expires_at`` with the caller's time. Redis's
    own clock must not go back: it is the floor of the versions (see the
    module's docstring).

    Args:
        client: Returns the started broker's Redis client.
        prefix: Starts every key name (the broker's prefix).
    """

    def __init__(self, client: Callable[[], Redis], prefix: str) -> None:
        self._client = client
        self._keys = [
            f"{prefix}:claims",
            f"{prefix}:claims:held",
            f"{prefix}:claims:expiry",
            f"{prefix}:claims:version",
        ]
        self._scripts: dict[str, Any] = {}

    async def _run(self, name: str, source: str, args: Sequence[str | int]) -> Any:
        client = self._client()
        script = self._scripts.get(name)
        if script is None or script.registered_client is not client:
            script = self._scripts[name] = client.register_script(source)
        return await self._guard(script(keys=self._keys, args=list(args)))

    async def _guard(self, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except RedisError as exc:
            log.warning("claims cannot be read or changed in Redis: %s", exc)
            raise Unavailable("Claims cannot be read or changed right now; retry later.") from exc

    def _outcome(self, answer: list[Any]) -> ClaimOutcome:
        if answer[0] == b"held":
            return ClaimOutcome(held=_claim(answer[1]))
        released = _claim(answer[2]) if answer[2] else None
        return ClaimOutcome(
            claim=_claim(answer[1]),
            released=released,
            version=int(answer[3]),
            released_version=int(answer[4]),
        )

    def _ended(self, answer: list[Any] | None) -> ClaimChange | None:
        return ClaimChange(_claim(answer[0]), int(answer[1])) if answer else None

    async def claim(self, claim: Claim, now: datetime) -> ClaimOutcome:
        """Take or renew a claim, unless another admin holds the task at ``now``.

        Args:
            claim: The claim wanted.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        args: list[str | int] = [claim.task_id, claim.scan_id, claim.admin_id, _record(claim)]
        answer = await self._run("claim", _CLAIM, [*args, _ms(now), _ms(claim.expires_at)])
        return self._outcome(answer)

    async def claim_first(
        self, task_ids: Sequence[str], claim: Claim, now: datetime
    ) -> ClaimOutcome | None:
        """Claim the first of ``task_ids`` no other admin holds at ``now``.

        Args:
            task_ids: Candidate tasks, in the order to try them.
            claim: The claim wanted; its ``task_id`` is ignored.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome, or None when every candidate is held.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        if not task_ids:
            return None
        template = _record(claim)
        args: list[str | int] = [
            claim.scan_id,
            claim.admin_id,
            template,
            _ms(now),
            _ms(claim.expires_at),
        ]
        answer = await self._run("claim_first", _CLAIM_FIRST, [*args, *task_ids])
        return self._outcome(answer) if answer else None

    async def release(self, task_id: str, admin_id: str) -> ClaimChange | None:
        """End a claim if ``admin_id`` holds it.

        Args:
            task_id: The task.
            admin_id: The admin releasing it.

        Returns:
            The claim ended and the change's version, or None.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        return self._ended(await self._run("release", _RELEASE, [task_id, admin_id]))

    async def end(self, task_id: str) -> ClaimChange | None:
        """End whatever claim is on a task.

        Args:
            task_id: The task.

        Returns:
            The claim ended and the change's version, or None.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        return self._ended(await self._run("release", _RELEASE, [task_id, ""]))

    async def get(self, task_id: str, now: datetime) -> Claim | None:
        """Read the live claim on a task.

        Args:
            task_id: The task.
            now: The time liveness is judged at.

        Returns:
            The claim, or None.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        raw = await self._guard(self._client().hget(self._keys[0], task_id))
        claim = _claim(raw) if raw else None
        return claim if claim is not None and claim.is_live(now) else None

    async def in_scan(self, scan_id: str, now: datetime) -> list[Claim]:
        """Read every live claim of a scan.

        Args:
            scan_id: The scan.
            now: The time liveness is judged at.

        Returns:
            The claims.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        raws = await self._guard(self._client().hvals(self._keys[0]))
        claims = (_claim(raw) for raw in raws)
        return [c for c in claims if c.scan_id == scan_id and c.is_live(now)]

    async def expire(self, now: datetime) -> list[ClaimChange]:
        """Remove the claims expired at ``now``; each is returned to exactly one process.

        Args:
            now: The time expiry is judged at.

        Returns:
            The claims removed, with their changes' versions.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        answer = await self._run("expire", _EXPIRE, [_ms(now), _SWEEP_BATCH])
        return [
            ClaimChange(_claim(raw), int(v))
            for raw, v in zip(answer[::2], answer[1::2], strict=True)
        ]

    async def version(self) -> int:
        """Read the version of the latest change, to any task.

        Every later change takes a higher one, even after the counter's key is lost.

        Returns:
            The version; 0 before the first change, and after the counter's key is
            lost until the next change.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        raw = await self._guard(self._client().get(self._keys[3]))
        return int(raw) if raw else 0
