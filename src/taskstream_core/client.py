"""An async, typed client for programs that act as workers or admins.

Bots submitting suggestions and auto-reviewers use it the same way::

    async with await TaskStreamClient.login(url, "bot-1", password) as client:
        await client.join(scan_id)
        await client.submit(scan_id, "the door on floor 2 is open")
        async for item in client.events():
            ...

It reconnects by itself and, on every reconnect, re-joins its scans with the
last ``seq`` it saw of each, so a program misses no event across a dropped
connection or a server restart, and sees none twice. Submissions carry an
idempotency key (made up when the caller gives none) and are retried across
reconnects with it, so a retried submit never makes a second task.

Needs the ``client`` extra: ``pip install 'taskstream-core[client]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
import socketio

from .errors import ERRORS_BY_CODE, AlreadyDecided, TaskStreamError, Unauthorized, Unavailable
from .models import EventType, Scan, ScanEvent, ScanStats, Task, User

__all__ = ["Snapshot", "TaskStreamClient"]

log = logging.getLogger("taskstream.client")

_LIVE_EVENTS = tuple(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of a scan when a resume could not replay every missed event.

    A program that keeps its own view of the scan should replace it with
    ``tasks``; events after ``seq`` follow as usual. :meth:`TaskStreamClient.join`
    answers one too, for the first join of a scan.

    Attributes:
        scan: The scan, as of ``seq``.
        seq: The scan's seq the snapshot is cut at.
        tasks: The tasks the program may see, oldest first.
        reset: True when it replaces a resume (the program must drop what it holds).
    """

    scan: Scan
    seq: int
    tasks: list[Task]
    reset: bool


ClientItem = ScanEvent | Snapshot


def _error(body: object, status: int) -> TaskStreamError:
    """The library's exception for a contract error body."""
    info = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(info, Mapping):
        return Unavailable(f"Unexpected answer (HTTP {status}).")
    cls = ERRORS_BY_CODE.get(str(info.get("code")), TaskStreamError)
    message = str(info.get("message") or "")
    if cls is AlreadyDecided:
        task = info.get("task")
        return AlreadyDecided(
            message, task=Task.from_dict(task) if isinstance(task, Mapping) else None
        )
    return cls(message)


class TaskStreamClient:
    """A TaskStream server's HTTP API and live events, for a program acting as a user.

    Make one with :meth:`login` or :meth:`register`, or from a token you hold;
    use it as an async context manager to open (and close) the live connection.
    Contract errors raise the library's exceptions (:class:`~taskstream_core.errors.NotFound`,
    :class:`~taskstream_core.errors.AlreadyDecided`...).

    Args:
        base_url: The server's root URL (``http://host:8000``).
        token: The bearer token.
        user: The signed-in user, when known (:meth:`me` reads it).
        call_timeout: Seconds to wait for an answer to a live call.
        reconnect_delay: Seconds before the first reconnection attempt.
        max_reconnect_delay: The longest wait between reconnection attempts.

    Attributes:
        base_url: The server's root URL, without a trailing ``/``.
        token: The bearer token.
        user: The signed-in user, or None until known.
        call_timeout: Seconds to wait for an answer to a live call.

    Example:
        ```python
        async with await TaskStreamClient.login(url, "reviewer", password) as client:
            await client.join(scan_id)
            async for item in client.events():
                if isinstance(item, ScanEvent) and item.task and item.task.is_pending:
                    await client.decide(item.task.id, "validated")
        ```
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        user: User | None = None,
        call_timeout: float = 10.0,
        reconnect_delay: float = 0.25,
        max_reconnect_delay: float = 3.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user = user
        self.call_timeout = call_timeout
        self._http: aiohttp.ClientSession | None = None
        self._sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_attempts=0,
            reconnection_delay=reconnect_delay,
            reconnection_delay_max=max_reconnect_delay,
            randomization_factor=0.2,
        )
        self._items: asyncio.Queue[ClientItem | TaskStreamError] = asyncio.Queue()
        self._last_seq: dict[str, int] = {}
        self._joining: dict[str, list[dict[str, Any]]] = {}
        self._connected = asyncio.Event()
        self._closed = False
        self._rejoin_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._refused = False
        self._refusal: TaskStreamError | None = None
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._register_handlers()

    # -- construction ----------------------------------------------------------------
    @classmethod
    async def login(cls, base_url: str, username: str, password: str, **options: Any) -> Self:
        """Sign in and make a client with the new token.

        Args:
            base_url: The server's root URL.
            username: The user's name.
            password: The user's password.
            **options: Passed on to the constructor (``call_timeout``...).

        Returns:
            The client, not yet connected.

        Raises:
            Unauthorized: The username or password is wrong.
            RateLimited: Too many failed sign-ins for this username of late.
            TaskStreamError: Another contract error (its subclass for the code).
        """
        body = await cls._post_anonymous(
            base_url, "/api/auth/login", {"username": username, "password": password}
        )
        return cls(base_url, body["token"], user=User.from_dict(body["user"]), **options)

    @classmethod
    async def register(
        cls,
        base_url: str,
        username: str,
        password: str,
        *,
        role: str = "worker",
        invite_code: str | None = None,
        **options: Any,
    ) -> Self:
        """Create an account, and make a client signed in to it.

        Args:
            base_url: The server's root URL.
            username: 3–32 letters, digits, ``_``, ``.`` or ``-``.
            password: 8–256 characters.
            role: ``"worker"`` or ``"admin"``.
            invite_code: The server's admin invite code; required for an admin.
            **options: Passed on to the constructor (``call_timeout``...).

        Returns:
            The client, not yet connected.

        Raises:
            InvalidRequest: A field breaks the contract's rules.
            Conflict: The username is taken.
            Forbidden: An admin without the right invite code.
            TaskStreamError: Another contract error (its subclass for the code).
        """
        payload: dict[str, Any] = {"username": username, "password": password, "role": role}
        if invite_code is not None:
            payload["invite_code"] = invite_code
        body = await cls._post_anonymous(base_url, "/api/auth/register", payload)
        return cls(base_url, body["token"], user=User.from_dict(body["user"]), **options)

    @staticmethod
    async def _post_anonymous(base_url: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(base_url.rstrip("/") + path, json=payload) as response,
        ):
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise _error(body, response.status)
            return dict(body)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- HTTP ------------------------------------------------------------------------
    async def request(self, method: str, path: str, payload: object = None, **params: Any) -> Any:
        """Make one call of the HTTP API with the client's token.

        Args:
            method: The HTTP method (``"GET"``, ``"POST"``...).
            path: The path under the server's root (``"/api/scans"``).
            payload: The JSON body, or None for none.
            **params: Query parameters; None values are left out.

        Returns:
            The decoded JSON answer, or None for ``204 No Content``.

        Raises:
            TaskStreamError: The server answered a contract error (its subclass for the code).
        """
        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        query = {k: str(v) for k, v in params.items() if v is not None}
        async with self._http.request(
            method, self.base_url + path, json=payload, params=query
        ) as response:
            if response.status == 204:
                return None
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise _error(body, response.status)
            return body

    async def me(self) -> User:
        """Read the signed-in user, and remember it as :attr:`user`.

        Returns:
            The user.

        Raises:
            Unauthorized: The token is no longer accepted.
        """
        self.user = User.from_dict((await self.request("GET", "/api/auth/me"))["user"])
        return self.user

    async def create_scan(self, name: str, description: str | None = None) -> Scan:
        """Create an open scan (admins only).

        Args:
            name: 1–200 characters.
            description: Up to 2,000 characters, or None.

        Returns:
            The new scan.

        Raises:
            Forbidden: The user is not an admin.
            InvalidRequest: A field breaks the contract's rules.
        """
        body = {"name": name} if description is None else {"name": name, "description": description}
        return Scan.from_dict((await self.request("POST", "/api/scans", body))["scan"])

    async def list_scans(self) -> list[Scan]:
        """List the scans the user may see, newest first (workers: open ones only).

        Returns:
            The scans.
        """
        return [Scan.from_dict(s) for s in (await self.request("GET", "/api/scans"))["scans"]]

    async def get_scan(self, scan_id: str) -> Scan:
        """Read one scan.

        Args:
            scan_id: The scan's id.

        Returns:
            The scan with its current counts.

        Raises:
            NotFound: No such scan.
        """
        return Scan.from_dict((await self.request("GET", f"/api/scans/{scan_id}"))["scan"])

    async def close_scan(self, scan_id: str) -> Scan:
        """Close a scan so it accepts no more tasks (admins only).

        Args:
            scan_id: The scan's id.

        Returns:
            The scan, closed.

        Raises:
            Forbidden: The user is not an admin.
            NotFound: No such scan.
        """
        return Scan.from_dict((await self.request("POST", f"/api/scans/{scan_id}/close"))["scan"])

    async def get_task(self, task_id: str) -> Task:
        """Read one task (a worker: only their own).

        Args:
            task_id: The task's id.

        Returns:
            The task.

        Raises:
            Forbidden: The task is another worker's.
            NotFound: No such task.
        """
        return Task.from_dict((await self.request("GET", f"/api/tasks/{task_id}"))["task"])

    async def list_tasks(
        self, scan_id: str, *, status: str | None = None, limit: int | None = None
    ) -> AsyncIterator[Task]:
        """Iterate over every task of a scan the user may read, oldest first.

        Follows the pages' cursors as it goes.

        Args:
            scan_id: The scan's id.
            status: Only tasks in this status (``"pending"``...), when given.
            limit: The page size to ask for (1–500), when given.

        Yields:
            Each task.

        Raises:
            NotFound: No such scan.
            InvalidRequest: ``status`` or ``limit`` is not valid.
        """
        cursor: str | None = None
        while True:
            page = await self.request(
                "GET", f"/api/scans/{scan_id}/tasks", status=status, limit=limit, cursor=cursor
            )
            for task in page["tasks"]:
                yield Task.from_dict(task)
            cursor = page["next_cursor"]
            if cursor is None:
                return

    async def stats(self, scan_id: str) -> ScanStats:
        """Read a scan's statistics (admins only).

        Args:
            scan_id: The scan's id.

        Returns:
            The statistics.

        Raises:
            Forbidden: The user is not an admin.
            NotFound: No such scan.
        """
        return ScanStats.from_dict(await self.request("GET", f"/api/scans/{scan_id}/stats"))

    async def logout(self) -> None:
        """Sign out: the server refuses the client's token from now on."""
        await self.request("POST", "/api/auth/logout")

    # -- Socket.IO -------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the live connection; it then reconnects by itself until :meth:`close`.

        Raises:
            Unauthorized: The server refused the token.
            Unavailable: The server cannot be reached.
        """
        try:
            await self._sio.connect(
                self.base_url,
                auth={"token": self.token},
                transports=["websocket"],
                socketio_path="socket.io",
                wait_timeout=self.call_timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            # python-socketio's exception does not carry the refusal's data;
            # the connect_error handler has kept what the server said.
            raise self._refusal or Unavailable(f"Cannot connect: {exc}") from exc

    async def close(self) -> None:
        """Close the live connection and the HTTP session; the client stops reconnecting."""
        self._closed = True
        for task in (self._rejoin_task, self._reconnect_task):
            if task is not None:
                task.cancel()
        await self._sio.disconnect()
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def connected(self) -> bool:
        """Whether the live connection is up right now."""
        return self._sio.connected and self._connected.is_set()

    def _register_handlers(self) -> None:
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on("connect_error", self._on_connect_error)
        for name in _LIVE_EVENTS:
            self._sio.on(name, self._on_event)

    async def _on_connect(self) -> None:
        self._connected.set()
        if self._last_seq:  # a reconnect: catch up on every scan we had joined
            self._rejoin_task = asyncio.get_running_loop().create_task(self._rejoin())

    async def _on_disconnect(self, reason: object = None) -> None:
        self._connected.clear()
        # python-socketio reconnects by itself after a transport failure, but not
        # when the server closed the socket (it fell behind, or is shutting down):
        # then we reconnect ourselves, and find out whether the token still holds.
        if reason == socketio.AsyncClient.reason.SERVER_DISCONNECT and not self._closed:
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self._reconnect_delay
        while not self._closed and not self._refused and not self._sio.connected:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)
            with contextlib.suppress(socketio.exceptions.ConnectionError, ValueError):
                await self._sio.connect(
                    self.base_url,
                    auth={"token": self.token},
                    transports=["websocket"],
                    wait_timeout=self.call_timeout,
                )

    async def _on_connect_error(self, data: object = None) -> None:
        error = self._refusal = _connect_error(data)
        if isinstance(error, Unauthorized) and not self._closed:
            log.warning("the server refused the token; giving up reconnecting")
            self._refused = True
            self._items.put_nowait(error)
            asyncio.get_running_loop().create_task(self._sio.disconnect())

    async def _rejoin(self) -> None:
        for scan_id, seq in list(self._last_seq.items()):
            try:
                await self._join(scan_id, seq)
            except TaskStreamError as exc:
                log.warning("could not resume scan %s: %s", scan_id, exc)

    async def _on_event(self, envelope: object) -> None:
        if not isinstance(envelope, dict):
            return
        scan_id = str(envelope.get("scan_id"))
        buffered = self._joining.get(scan_id)
        if buffered is not None:  # a join or resume is answering: order after it
            buffered.append(envelope)
        else:
            self._accept(envelope)

    def _accept(self, envelope: Mapping[str, Any]) -> None:
        """Queue an event once, in seq order per scan; stats pass through."""
        event = _event(envelope)
        if event.type is not EventType.SCAN_STATS:
            if event.seq <= self._last_seq.get(event.scan_id, -1):
                return
            self._last_seq[event.scan_id] = event.seq
        self._items.put_nowait(event)

    async def _emit(self, name: str, payload: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        """Send an event and wait for its ack, across reconnects when ``retry``."""
        while True:
            await asyncio.wait_for(self._connected.wait(), self.call_timeout * 3)
            try:
                ack = await self._sio.call(name, payload, timeout=self.call_timeout)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                if not retry or self._closed:
                    raise Unavailable(f"No answer to {name} from the server.") from None
                continue
            if not isinstance(ack, dict):
                raise Unavailable(f"Unexpected answer to {name}.")
            if not ack.get("ok"):
                raise _error(ack, 0)
            return ack

    async def join(self, scan_id: str) -> Snapshot:
        """Join a scan: its later events arrive through :meth:`events`.

        After a reconnect the client resumes each joined scan by itself from the
        last seq it saw.

        Args:
            scan_id: The scan's id.

        Returns:
            The snapshot the server answered: the tasks the user may see, as of its seq.

        Raises:
            NotFound: No such scan.
            Unavailable: No answer from the server.
        """
        result = await self._join(scan_id, None)
        assert isinstance(result, Snapshot)
        return result

    async def _join(self, scan_id: str, since_seq: int | None) -> Snapshot | None:
        self._joining.setdefault(scan_id, [])
        try:
            payload: dict[str, Any] = {"scan_id": scan_id}
            if since_seq is not None:
                payload["since_seq"] = since_seq
            ack = await self._emit("scan:join", payload, retry=True)
            snapshot: Snapshot | None = None
            if "events" in ack:
                for envelope in ack["events"]:
                    self._accept(envelope)
                self._last_seq[scan_id] = max(self._last_seq.get(scan_id, 0), int(ack["seq"]))
            else:
                snapshot = Snapshot(
                    scan=Scan.from_dict(ack["scan"]),
                    seq=int(ack["seq"]),
                    tasks=[Task.from_dict(t) for t in ack["tasks"]],
                    reset=bool(ack.get("reset")),
                )
                self._last_seq[scan_id] = snapshot.seq
                if snapshot.reset:
                    self._items.put_nowait(snapshot)
        finally:
            for envelope in self._joining.pop(scan_id, []):
                self._accept(envelope)
        return snapshot

    async def leave(self, scan_id: str) -> None:
        """Stop receiving a scan's events.

        Args:
            scan_id: The scan's id.

        Raises:
            Unavailable: No answer from the server.
        """
        self._last_seq.pop(scan_id, None)
        await self._emit("scan:leave", {"scan_id": scan_id}, retry=False)

    async def submit(
        self, scan_id: str, content: str, *, idempotency_key: str | None = None
    ) -> Task:
        """Submit a task (workers only); retried with the same key until acknowledged.

        Args:
            scan_id: The scan's id.
            content: 1–5,000 characters.
            idempotency_key: The key that makes retries safe; a random one when None.

        Returns:
            The stored task (the first one, when the key was used before).

        Raises:
            ScanClosed: The scan is closed.
            NotFound: No such scan.
            Forbidden: The user is not a worker.
            InvalidRequest: A field breaks the contract's rules.
        """
        key = idempotency_key or uuid.uuid4().hex
        payload = {"scan_id": scan_id, "content": content, "idempotency_key": key}
        return Task.from_dict((await self._emit("task:submit", payload, retry=True))["task"])

    async def decide(self, task_id: str, decision: str, reason: str | None = None) -> Task:
        """Validate or refuse a pending task (admins only).

        A retry that finds this user's same decision stored counts as a success.

        Args:
            task_id: The task's id.
            decision: ``"validated"`` or ``"refused"``.
            reason: Up to 1,000 characters, or None.

        Returns:
            The decided task.

        Raises:
            AlreadyDecided: Another decision won; the error carries the task.
            NotFound: No such task.
            Forbidden: The user is not an admin.
            InvalidRequest: A field breaks the contract's rules.
        """
        payload: dict[str, Any] = {"task_id": task_id, "decision": decision}
        if reason is not None:
            payload["reason"] = reason
        try:
            ack = await self._emit("task:decide", payload, retry=True)
        except AlreadyDecided as exc:
            mine = (
                self.user is not None
                and exc.task is not None
                and exc.task.decided_by == self.user.id
            )
            if mine and exc.task is not None and exc.task.status.value == decision:
                return exc.task
            raise
        return Task.from_dict(ack["task"])

    async def events(self) -> AsyncIterator[ClientItem]:
        """Iterate over the live events of the joined scans, each once, in seq order per scan.

        Yields:
            Each event; a :class:`Snapshot` instead of events when a resume could
            not replay them all.

        Raises:
            Unauthorized: The server stopped accepting the token (it was logged
                out or expired).
        """
        while True:
            item = await self._items.get()
            if isinstance(item, TaskStreamError):
                raise item
            yield item

    async def next_event(self) -> ClientItem:
        """Wait for the next live item (wrap it in ``asyncio.timeout`` to bound the wait).

        Returns:
            The next event, or a :class:`Snapshot` (see :meth:`events`).

        Raises:
            Unauthorized: The server stopped accepting the token.
        """
        item = await self._items.get()
        if isinstance(item, TaskStreamError):
            raise item
        return item

    async def wait_connected(self) -> None:
        """Return once the live connection is up (again)."""
        await self._connected.wait()


def _event(envelope: Mapping[str, Any]) -> ScanEvent:
    event = ScanEvent.from_record(envelope)
    stats = envelope.get("stats")
    if isinstance(stats, Mapping):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return ScanEvent(event.type, event.scan_id, event.seq, stats=ScanStats.from_dict(stats))
    return event


def _connect_error(data: object) -> TaskStreamError:
    if isinstance(data, Mapping) and data.get("code") == "unauthorized":
        return Unauthorized(str(data.get("message") or "The server refused the token."))
    return Unavailable(f"Cannot connect: {data}")
