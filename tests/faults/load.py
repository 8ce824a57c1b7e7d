"""Submit load for fault tests: workers that submit without pause, each submission under an
idempotency key of its own, retried with that key until it is acknowledged.

Three kinds of worker share the load because each reaches the server by another road and
meets a fault in its own way: raw HTTP (a refused connection, a 503), a raw Socket.IO socket
(a dropped socket, an ack that never comes, an ``ok: false`` ack) and the shipped
:class:`TaskStreamClient`, whose own reconnect and retry are part of what is tested.

Every outcome is counted, never timed against a limit: a test asserts on what was stored
and what was acknowledged, and prints the counts and the recovery times it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiohttp
import socketio

from taskstream_core import TaskStreamError
from taskstream_core.client import TaskStreamClient
from tests.support import Account, LiveSocket

__all__ = ["KINDS", "Ack", "Kind", "SubmitLoad", "Tally", "content_of"]

Kind = Literal["http", "socket", "client"]
KINDS: Final[tuple[Kind, ...]] = ("http", "socket", "client")

#: How long one try waits for its answer before it counts as dropped and is sent again.
ANSWER_WAIT: Final = 5.0
#: A pause between tries, so a worker facing an outage does not spin.
RETRY_PAUSE: Final = 0.05
#: The least time between two submissions of one worker, unless a test asks for none: 50 a
#: second at most each, so a load is bounded in count and leaves the machine's other work
#: some room.
PACE: Final = 0.02
#: The most submissions one worker begins (a further bound; no test comes near it).
MAX_PER_WORKER: Final = 2000

_Outcome = dict[str, Any] | Literal["unavailable", "refused", "dropped"] | str


def content_of(key: str) -> str:
    """A task's content names its idempotency key (the Task object does not carry the key)."""
    return f"load {key}"


@dataclass
class Tally:
    """What the workers of one kind saw."""

    kind: Kind
    begun: int = 0
    """Submissions begun: one idempotency key each."""
    attempts: int = 0
    """Requests or emits sent, retries included (the client kind retries a lost ack inside
    ``submit`` and counts as one attempt)."""
    acked: int = 0
    acked_after_retry: int = 0
    """Acks that answered a retry: the first try's answer, or the try itself, was lost."""
    replays: int = 0
    """HTTP only: retries answered 200, the task an earlier try had stored (its answer lost)."""
    unavailable: int = 0
    """Answers with the contract's ``unavailable`` code (HTTP 503, or an ``ok: false`` ack)."""
    refused: int = 0
    """Socket connects refused with ``unavailable`` (signing in needs the store too)."""
    dropped: int = 0
    """Tries with no answer: connection refused or reset, or no ack in time."""
    unexpected: list[str] = field(default_factory=list)
    """Any other answer; a test fails on one."""
    last_unavailable: str = ""
    """The message of the latest ``unavailable`` answer (to tell why, when a test fails)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledged submission."""

    key: str
    worker: str
    task: dict[str, Any]
    at: float


class _Worker:
    """One worker account submitting one key at a time over one road."""

    def __init__(self, load: SubmitLoad, kind: Kind, account: Account) -> None:
        self.load = load
        self.kind = kind
        self.account = account
        self.name = account.username
        self.tally = load.tallies[kind]
        self.last_unavailable: str | None = None
        self._http: aiohttp.ClientSession | None = None
        self._socket: LiveSocket | None = None
        self._client: TaskStreamClient | None = None

    async def run(self) -> None:
        number = 0
        while not self.load.stopping and number < MAX_PER_WORKER:
            number += 1
            key = f"{self.name}-{number}"
            self.load.begun[key] = self.name
            self.tally.begun += 1
            began = time.monotonic()
            await self._until_acked(key)
            await asyncio.sleep(max(0.0, began + self.load.pace - time.monotonic()))

    async def _until_acked(self, key: str) -> None:
        tries = 0
        while self.load.deadline is None or time.monotonic() < self.load.deadline:
            tries += 1
            self.tally.attempts += 1
            outcome = await self._attempt(key)
            if isinstance(outcome, dict):
                self.tally.replays += outcome.pop("_replay", False)
                self.tally.acked += 1
                self.tally.acked_after_retry += tries > 1
                self.load.acks.append(Ack(key, self.name, outcome, time.monotonic()))
                return
            if outcome == "unavailable":
                self.tally.unavailable += 1
                self.tally.last_unavailable = self.last_unavailable or ""
            elif outcome == "refused":
                self.tally.refused += 1
            elif outcome == "dropped":
                self.tally.dropped += 1
            else:
                self.tally.unexpected.append(outcome)
            await asyncio.sleep(RETRY_PAUSE)
        self.load.unfinished.append(key)

    async def _attempt(self, key: str) -> _Outcome:
        if self.kind == "http":
            return await self._over_http(key)
        if self.kind == "socket":
            return await self._over_socket(key)
        return await self._over_client(key)

    async def _over_http(self, key: str) -> _Outcome:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=ANSWER_WAIT),
                headers={"Authorization": f"Bearer {self.account.token}"},
            )
        body = {"content": content_of(key), "idempotency_key": key}
        try:
            async with self._http.post(
                f"{self.load.base_url}/api/scans/{self.load.scan}/tasks", json=body
            ) as response:
                status, text = response.status, await response.text()
                answer = await response.json(content_type=None) if text else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return "dropped"
        if status in (200, 201) and isinstance(answer, dict):
            task: dict[str, Any] = answer["task"]
            return {**task, "_replay": True} if status == 200 else task
        if status == 503 and _code(answer) == "unavailable":
            self.last_unavailable = text[:300]
            return "unavailable"
        return f"HTTP {status}: {text[:200]}"

    async def _over_socket(self, key: str) -> _Outcome:
        if self._socket is None or not self._socket.connected:
            if self._socket is not None:
                await self._socket.close()
            socket = LiveSocket(self.load.base_url, self.account.token, timeout=ANSWER_WAIT)
            self._socket = None
            try:
                await socket.connect()
            except (socketio.exceptions.SocketIOError, OSError, TimeoutError):
                await socket.close()
                refusal = socket.connect_errors[-1] if socket.connect_errors else None
                code = refusal.get("code") if isinstance(refusal, dict) else None
                self.last_unavailable = repr(refusal)[:300]
                return "refused" if code == "unavailable" else "dropped"
            self._socket = socket
        payload = {"scan_id": self.load.scan, "content": content_of(key), "idempotency_key": key}
        try:
            ack = await self._socket.call("task:submit", payload)
        except (socketio.exceptions.SocketIOError, OSError, TimeoutError):
            await self._socket.close()
            self._socket = None
            return "dropped"
        if isinstance(ack, dict) and ack.get("ok") is True:
            task: dict[str, Any] = ack["task"]
            return task
        if _code(ack) == "unavailable":
            self.last_unavailable = repr(ack)[:300]
            return "unavailable"
        return f"ack {ack!r:.200}"

    async def _over_client(self, key: str) -> _Outcome:
        if self._client is None:
            client = TaskStreamClient(
                self.load.base_url, self.account.token, call_timeout=ANSWER_WAIT
            )
            try:
                await client.connect()
            except TaskStreamError:  # no connection at all: the client has nothing to retry
                await client.close()
                return "dropped"
            self._client = client
        try:
            task = await self._client.submit(self.load.scan, content_of(key), idempotency_key=key)
        except TaskStreamError as exc:
            if exc.code == "unavailable" and exc.__cause__ is not None:
                return "dropped"  # the client's own transport failure, not the server's answer
            self.last_unavailable = repr(exc)[:300]
            return "unavailable" if exc.code == "unavailable" else f"client: {exc!r}"
        return task.to_dict()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._socket is not None:
            await self._socket.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()


def _code(body: object) -> object:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


class SubmitLoad:
    """Workers submitting to one scan until :meth:`finish`; ``kinds[i]`` is worker i's road.

    With ``pace=0`` a worker sends its next submission as soon as the last was acknowledged,
    so every worker nearly always has one in flight (what a crash should meet).

    :meth:`finish` lets each worker see its current submission through (retrying it with its
    key for at most ``patience`` seconds), so that normally every key begun is acknowledged.
    """

    def __init__(
        self,
        base_url: str,
        scan: str,
        workers: Sequence[Account],
        kinds: Sequence[Kind],
        *,
        patience: float = 60.0,
        pace: float = PACE,
    ) -> None:
        self.base_url = base_url
        self.scan = scan
        self.patience = patience
        self.pace = pace
        self.tallies: dict[Kind, Tally] = {kind: Tally(kind) for kind in KINDS}
        self.begun: dict[str, str] = {}  # key -> worker name
        self.acks: list[Ack] = []
        self.unfinished: list[str] = []
        self.stopping = False
        self.deadline: float | None = None
        self._workers = [
            _Worker(self, kind, account) for account, kind in zip(workers, kinds, strict=True)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(worker.run()) for worker in self._workers]

    async def finish(self) -> None:
        self.stopping = True
        self.deadline = time.monotonic() + self.patience
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for worker in self._workers:
                await worker.close()

    async def abort(self) -> None:
        """Stop at once (a test that failed midway): cancel, then close every connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._workers:
            await worker.close()

    @property
    def workers(self) -> list[str]:
        return [worker.name for worker in self._workers]

    def acked_since(self, moment: float) -> dict[str, int]:
        """Acks per worker (every worker listed) that arrived after ``moment``."""
        counts = dict.fromkeys(self.workers, 0)
        for ack in self.acks:
            if ack.at > moment:
                counts[ack.worker] += 1
        return counts

    def first_ack_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first ack after it."""
        later = [ack.at for ack in self.acks if ack.at > moment]
        return min(later) - moment if later else None

    def every_worker_acked_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` until every worker had an ack after it."""
        firsts: dict[str, float] = {}
        for ack in self.acks:
            if ack.at > moment and ack.worker not in firsts:
                firsts[ack.worker] = ack.at
        if set(firsts) != set(self.workers):
            return None
        return max(firsts.values()) - moment

    async def wait_until(
        self, condition: Callable[[], bool], what: str, patience: float = 90.0
    ) -> None:
        """Poll ``condition`` while the load runs; fail naming ``what`` if it never holds
        within ``patience`` seconds (a bound on a stuck test, not a speed requirement)."""
        deadline = time.monotonic() + patience
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {patience}s; {self.summary()}")
            for task in self._tasks:
                if task.done() and task.exception() is not None:
                    raise AssertionError(f"a worker failed: {task.exception()!r}")
            await asyncio.sleep(0.02)

    def summary(self) -> str:
        return f"acks per worker {self.acked_since(0)}; " + "; ".join(
            f"{t.kind}: begun {t.begun}, attempts {t.attempts}, acked {t.acked}, "
            f"unavailable {t.unavailable} (last: {t.last_unavailable}), dropped {t.dropped}, "
            f"unexpected {t.unexpected[:3]}"
            for t in self.tallies.values()
        )
