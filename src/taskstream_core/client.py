"""An async, typed client for programs that act as workers or admins.

Bots submitting suggestions and auto-reviewers use it the same way::

    async with await TaskStreamClient.login(url, "bot-1", password, relogin=True) as client:
        await client.join(scan_id)
        await client.submit(scan_id, "the door on floor 2 is open")
        async for item in client.events():
            ...

It reconnects by itself and, on every reconnect, re-joins its scans with the
last ``seq`` it saw of each, so a program misses no event across a dropped
connection or a server restart, and sees none twice. Submissions carry an
idempotency key (made up when the caller gives none) and are retried across
reconnects with it, so a retried submit never makes a second task. A token
refresh hook keeps it signed in past its token's expiry; its event queue is
bounded, and a consumer that falls behind past the bound gets the missed
events again from the server (drop to resume). Transport failures raise
:class:`~taskstream_core.errors.Unavailable`.

Needs the ``client`` extra: ``pip install "taskstream-core[client]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self, TypedDict

import jwt
from typing_extensions import Unpack

try:
    import aiohttp
    import socketio
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "taskstream_core.client needs the 'client' extra: "
        'pip install "taskstream-core[client]"'
        f" ({exc})"
    ) from exc

from .errors import (
    ERRORS_BY_CODE,
    AlreadyDecided,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    TaskStreamError,
    Unauthorized,
    Unavailable,
)
from .models import (
    Claim,
    EventType,
    HistoryAction,
    Presence,
    Scan,
    ScanEvent,
    ScanStats,
    Task,
    TaskHistory,
    TaskStatus,
    User,
)

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "ClaimedTask",
    "ClientItem",
    "ClientOptions",
    "Snapshot",
    "TaskStreamClient",
    "TokenRefresh",
]

log = logging.getLogger("taskstream.client")

_LIVE_EVENTS = tuple(t.value for t in EventType)

DEFAULT_MAX_QUEUED: Final = 10_000
"""How many events the client's queue holds by default before it drops them to resume."""

TokenRefresh = Callable[[], str | Awaitable[str]]
"""A callable, sync or async, that returns a fresh token for the client's user."""


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`TaskStreamClient` that ``login`` and ``register``
    pass on to it; each is the constructor's argument of its name."""

    #: Seconds to wait for an answer to a live call or an HTTP request (10).
    call_timeout: float
    #: Seconds before the first reconnection attempt (0.25).
    reconnect_delay: float
    #: The longest wait between reconnection attempts (3).
    max_reconnect_delay: float
    #: A callable (sync or async) that returns a fresh token for the same user.
    token_refresh: TokenRefresh | None
    #: Seconds before the token's ``exp`` to refresh it (60).
    refresh_margin: float
    #: The most events the queue holds before it drops them to resume (10,000).
    max_queued: int


def _check_options(options: Mapping[str, object]) -> None:
    """Refuse an unknown option before any request is made."""
    unknown = sorted(options.keys() - ClientOptions.__annotations__.keys())
    if unknown:
        raise TypeError(f"Unknown client option(s): {', '.join(unknown)}.")


#: What a transport failure raises inside aiohttp and python-socketio.
_TRANSPORT_ERRORS: Final = (
    aiohttp.ClientError,
    socketio.exceptions.SocketIOError,
    OSError,
    TimeoutError,
)

#: The first and the longest pause before a live call answered ``unavailable`` (or
#: ``rate_limited`` without a ``retry_after``) goes again.
_UNAVAILABLE_PAUSE: Final = 0.1
_UNAVAILABLE_PAUSE_MAX: Final = 2.0

#: The most live calls one client has in flight on its connection at once; the others
#: wait their turn in the client. Below the reference server's bound on the events one
#: socket may have waiting (64, past which it answers ``rate_limited``).
_LIVE_CALLS_MAX: Final = 32

#: What ``_send_once`` answers when the live call must be sent again.
_AGAIN: Final = object()

#: The errors of a resume that mean the scan cannot be joined again; any other is retried.
_NOT_JOINABLE: Final = (NotFound, Forbidden, InvalidRequest)


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
        presence: Who is present in the scan as of the join, in the shape the
            user may see (an admin: who; a worker: counts only); None from a
            server that does not send it (contract v1).
        claims: For an admin, every live claim of the scan; empty for a worker.
    """

    scan: Scan
    seq: int
    tasks: list[Task]
    reset: bool
    presence: Presence | None = None
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """What :meth:`TaskStreamClient.claim_next` hands out: a pending task, now held by the caller.

    Attributes:
        task: The task, pending.
        claim: The caller's claim on it.
    """

    task: Task
    claim: Claim


ClientItem = ScanEvent | Snapshot
"""What :meth:`TaskStreamClient.events` yields: a live event, or a snapshot after a reset.

Live events include the notices of contract §4 (``task:claimed``,
``scan:presence``; ``ScanEvent.type.is_notice``): they carry ``seq`` 0, are
not part of the scan's order, and, like ``scan:stats``, are skipped while the
queue is full, since the next one tells what is true then.
"""

#: How many task → scan pairs the client remembers to name a claim's scan.
_TASK_SCANS_KEPT: Final = 50_000


def _error(body: object, status: int, retry_after: float | None = None) -> TaskStreamError:
    """The library's exception for a contract error body.

    Args:
        body: The decoded answer (an HTTP body or an ack).
        status: The HTTP status, or 0 for an ack.
        retry_after: An HTTP answer's ``Retry-After``, in seconds, when it sent one.

    Returns:
        The error's class for its code; a ``RateLimited`` carries ``retry_after``
        (the header's, else the body's own ``retry_after`` when it names one).
    """
    info = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(info, Mapping):
        return Unavailable(f"Unexpected answer (HTTP {status}).")
    cls = ERRORS_BY_CODE.get(str(info.get("code")), TaskStreamError)
    message = str(info.get("message") or "")
    if cls is RateLimited:
        if retry_after is None:
            retry_after = _seconds(info.get("retry_after"))
        return RateLimited(message, retry_after=retry_after)
    if cls is AlreadyDecided:
        task = info.get("task")
        return AlreadyDecided(
            message, task=Task.from_dict(task) if isinstance(task, Mapping) else None
        )
    claim = info.get("claim")
    if cls is Conflict and isinstance(claim, Mapping):
        with contextlib.suppress(ValueError):  # the claim's scan is filled in by the caller
            return Conflict(message, claim=Claim.from_dict(claim, scan_id=""))
    return cls(message)


def _seconds(value: object) -> float | None:
    """A non-negative number of seconds (a ``Retry-After`` value...), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date, or garbage
    return seconds if 0 <= seconds < float("inf") else None


class _Backlog:
    """The client's event queue: bounded for events, never for the error that ends it.

    ``room`` is set while the queue holds at most half its bound, which is when a
    paced resume may fetch more.
    """

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._items: deque[ClientItem | TaskStreamError] = deque()
        self._ready = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.bound

    def put(self, item: ClientItem | TaskStreamError) -> None:
        self._items.append(item)
        self._ready.set()
        if len(self._items) > self.bound // 2:
            self.room.clear()

    def clear(self) -> int:
        """Drop every event (not the error); answer how many were dropped."""
        kept = [i for i in self._items if isinstance(i, TaskStreamError)]
        dropped = len(self._items) - len(kept)
        self._items = deque(kept)
        self.room.set()
        return dropped

    async def get(self) -> ClientItem:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        head = self._items[0]
        if isinstance(head, TaskStreamError):
            raise head  # kept: every later call raises it too
        self._items.popleft()
        if len(self._items) <= self.bound // 2:
            self.room.set()
        return head


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - spreads reconnects, not a secret


class TaskStreamClient:
    """A TaskStream server's HTTP API and live events, for a program acting as a user.

    Make one with :meth:`login` or :meth:`register`, or from a token you hold;
    use it as an async context manager to open (and close) the live connection.
    Contract errors raise the library's exceptions (:class:`~taskstream_core.errors.NotFound`,
    :class:`~taskstream_core.errors.AlreadyDecided`...); a server that cannot be
    reached, a refused connection, a reset or a timeout raise
    :class:`~taskstream_core.errors.Unavailable`, with aiohttp's or python-socketio's
    exception as its ``__cause__``.

    Tokens expire (the reference server's last 12 hours). With ``token_refresh``
    the client asks for a fresh one ``refresh_margin`` seconds before the
    current one's ``exp`` (read from the token, not verified) and whenever the
    server answers ``unauthorized``; a live connection then reconnects with the
    new token and resumes every joined scan where it stopped. Without it, the
    client stops with :class:`~taskstream_core.errors.Unauthorized` once the
    server refuses the token.

    Events wait in a queue of at most ``max_queued`` items. When the consumer
    falls further behind, the client drops what it holds and re-joins each scan
    from the last ``seq`` the consumer received, so the server replays the
    events: the consumer still sees each one once, in order (drop to resume).
    :attr:`overflows` counts these drops, and each is logged as a warning on the
    ``taskstream.client`` logger.

    Args:
        base_url: The server's root URL (``http://host:8000``).
        token: The bearer token.
        user: The signed-in user, when known (:meth:`me` reads it).
        call_timeout: Seconds to wait for an answer to a live call, and for an
            HTTP connection or the next bytes of an HTTP answer.
        reconnect_delay: Seconds before the first reconnection attempt.
        max_reconnect_delay: The longest wait between reconnection attempts.
        token_refresh: A callable (sync or async) that returns a fresh token for
            the same user, or None to keep ``token`` until it is refused.
        refresh_margin: Seconds before the token's ``exp`` to refresh it; a token
            that lives less than twice as long is refreshed half-way through its life.
        max_queued: The most events the queue holds before it drops them to resume.

    Raises:
        ValueError: ``max_queued`` is less than 2, or ``refresh_margin`` is negative.

    Attributes:
        base_url: The server's root URL, without a trailing ``/``.
        token: The bearer token in use (the latest one ``token_refresh`` gave).
        user: The signed-in user, or None until known.
        call_timeout: Seconds to wait for an answer to a live call.
        refresh_margin: Seconds before the token's ``exp`` to refresh it.
        max_queued: The most events the queue holds before it drops them to resume.

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
        token_refresh: TokenRefresh | None = None,
        refresh_margin: float = 60.0,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        if max_queued < 2:
            raise ValueError("max_queued must be at least 2.")
        if refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative.")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.user = user
        self.call_timeout = call_timeout
        self.refresh_margin = refresh_margin
        self.max_queued = max_queued
        self._token_refresh = token_refresh
        self._http: aiohttp.ClientSession | None = None
        self._sio = socketio.AsyncClient(reconnection=False)
        self._queue = _Backlog(max_queued)
        #: Per joined scan: the seq of the last event queued, and of the last one handed out.
        self._last_seq: dict[str, int] = {}
        self._delivered: dict[str, int] = {}
        #: Scans whose live events are dropped until a resume catches them up.
        self._behind: set[str] = set()
        #: Live events that arrived while a join of their scan was being answered.
        self._joining: dict[str, list[dict[str, Any]]] = {}
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._failed = asyncio.Event()
        self._failure: TaskStreamError | None = None
        self._refusal: TaskStreamError | None = None
        self._closed = False
        self._closing = asyncio.Event()
        #: Turns for live calls on the connection (``_LIVE_CALLS_MAX`` at once).
        self._live_calls = asyncio.Semaphore(_LIVE_CALLS_MAX)
        self._logged_out = False
        self._swap_now = False
        self._socket_token: str | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        #: No proactive refresh before this time (time.time()), after a failed one.
        self._refresh_not_before = 0.0
        #: A token the hook could not replace ahead of time: wait for the server to refuse it.
        self._no_early_refresh: str | None = None
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._overflows = 0
        self._discarded = 0
        #: The scan of each task seen lately, oldest first (a claim's answer names no scan).
        self._task_scans: dict[str, str] = {}
        self._register_handlers()

    # -- construction ----------------------------------------------------------------
    @classmethod
    async def login(
        cls,
        base_url: str,
        username: str,
        password: str,
        *,
        relogin: bool = False,
        **options: Unpack[ClientOptions],
    ) -> Self:
        """Sign in and make a client with the new token.

        Args:
            base_url: The server's root URL.
            username: The user's name.
            password: The user's password.
            relogin: Keep the credentials and sign in again whenever the token
                needs refreshing (a bot that runs for days); not with ``token_refresh``.
            **options: Passed on to the constructor (``call_timeout``...).

        Returns:
            The client, not yet connected.

        Raises:
            Unauthorized: The username or password is wrong.
            RateLimited: Too many failed sign-ins for this username of late.
            Unavailable: The server cannot be reached.
            TaskStreamError: Another contract error (its subclass for the code).
            TypeError: ``relogin`` together with ``token_refresh``, or an unknown option.
        """
        _check_options(options)
        if relogin:
            if options.get("token_refresh") is not None:
                raise TypeError("Give relogin=True or token_refresh, not both.")
            options["token_refresh"] = cls.password_refresh(base_url, username, password)
        body = await cls._post_anonymous(
            base_url,
            "/api/auth/login",
            {"username": username, "password": password},
            options.get("call_timeout", 10.0),
        )
        return cls(base_url, body["token"], user=User.from_dict(body["user"]), **options)

    @classmethod
    def password_refresh(
        cls, base_url: str, username: str, password: str
    ) -> Callable[[], Awaitable[str]]:
        """A ``token_refresh`` hook that signs in with stored credentials.

        Args:
            base_url: The server's root URL.
            username: The user's name.
            password: The user's password (kept in the hook).

        Returns:
            An async callable that answers a fresh token from ``POST /api/auth/login``.
        """

        async def sign_in() -> str:
            body = await cls._post_anonymous(
                base_url, "/api/auth/login", {"username": username, "password": password}
            )
            return str(body["token"])

        return sign_in

    @classmethod
    async def register(
        cls,
        base_url: str,
        username: str,
        password: str,
        *,
        role: str = "worker",
        invite_code: str | None = None,
        **options: Unpack[ClientOptions],
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
            Unavailable: The server cannot be reached.
            TaskStreamError: Another contract error (its subclass for the code).
            TypeError: An unknown option.
        """
        _check_options(options)
        payload: dict[str, Any] = {"username": username, "password": password, "role": role}
        if invite_code is not None:
            payload["invite_code"] = invite_code
        body = await cls._post_anonymous(
            base_url, "/api/auth/register", payload, options.get("call_timeout", 10.0)
        )
        return cls(base_url, body["token"], user=User.from_dict(body["user"]), **options)

    @staticmethod
    async def _post_anonymous(
        base_url: str, path: str, payload: dict[str, Any], wait: float = 10.0
    ) -> dict[str, Any]:
        url = base_url.rstrip("/") + path
        limits = aiohttp.ClientTimeout(total=None, sock_connect=wait, sock_read=wait)
        try:
            async with (
                aiohttp.ClientSession(timeout=limits) as http,
                http.post(url, json=payload) as response,
            ):
                status, body = response.status, await _read_json(response)
                retry_after = _seconds(response.headers.get("Retry-After"))
        except _TRANSPORT_ERRORS as exc:
            raise Unavailable(f"Cannot reach {url}: {exc or type(exc).__name__}") from exc
        if status >= 400 or not isinstance(body, Mapping):
            raise _error(body, status, retry_after)
        return dict(body)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """How many events wait in the queue for the consumer right now."""
        return len(self._queue)

    @property
    def overflows(self) -> int:
        """How many times the queue went over ``max_queued`` and was dropped to resume."""
        return self._overflows

    @property
    def discarded(self) -> int:
        """How many queued events those drops threw away (the server replayed them)."""
        return self._discarded

    # -- tokens ----------------------------------------------------------------------
    def _refresh_due_in(self, token: str | None) -> float | None:
        """Seconds until ``token`` should be replaced, or None when it never needs to be."""
        if (
            token is None
            or self._token_refresh is None
            or self._logged_out
            or token == self._no_early_refresh
        ):
            return None
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            expires = float(claims["exp"])
            issued = float(claims.get("iat", expires - 2 * self.refresh_margin))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
        margin = min(self.refresh_margin, (expires - issued) / 2)
        now = time.time()
        return max(expires - margin, self._refresh_not_before) - now

    async def _refresh(self, stale: str | None) -> str:
        """Replace the token ``stale`` (unless another call already did), once.

        Raises:
            Unauthorized: No hook, the client logged out, or the hook gave no token.
            Unavailable: The hook could not reach what it asks.
        """
        async with self._refresh_lock:
            if stale is not None and self.token != stale:
                return self.token
            if self._token_refresh is None or self._logged_out:
                raise Unauthorized(
                    "The server refused the token, and the client has no hook to refresh it "
                    "or has logged out."
                )
            try:
                fresh: object = self._token_refresh()
                if inspect.isawaitable(fresh):
                    fresh = await fresh
            except TaskStreamError:
                raise
            except _TRANSPORT_ERRORS as exc:
                raise Unavailable(f"The token refresh hook failed: {exc!r}") from exc
            if not isinstance(fresh, str) or not fresh:
                raise Unauthorized("The token refresh hook returned no token.")
            self.token = fresh
            log.info("token refreshed")
            return fresh

    async def _refresh_early(self, token: str) -> None:
        """Refresh ahead of expiry; a failure is logged and the current token kept."""
        try:
            await self._refresh(token)
        except Unavailable as exc:
            delay = max(self._max_reconnect_delay, 1.0)
            log.warning("could not refresh the token (%s); trying again in %.0f s", exc, delay)
            self._refresh_not_before = time.time() + delay
            return
        except Exception as exc:
            # Not transient: keep the token until the server refuses it, then ask once more.
            log.warning("could not refresh the token: %r", exc)
            self._no_early_refresh = token
            return
        if (self._refresh_due_in(self.token) or 1.0) <= 0:
            log.warning("the refreshed token expires as soon as the old one; not refreshing early")
            self._no_early_refresh = self.token

    # -- HTTP ------------------------------------------------------------------------
    async def request(self, method: str, path: str, payload: object = None, **params: Any) -> Any:
        """Make one call of the HTTP API with the client's token.

        The token is refreshed first when it is about to expire, and once more
        (with the call made again) when the server answers ``401``, if the client
        has a ``token_refresh`` hook.

        Args:
            method: The HTTP method (``"GET"``, ``"POST"``...).
            path: The path under the server's root (``"/api/scans"``).
            payload: The JSON body, or None for none.
            **params: Query parameters; None values are left out.

        Returns:
            The decoded JSON answer, or None for ``204 No Content``.

        Raises:
            Unauthorized: The server refused the token, and the refreshed one too.
            Unavailable: The server cannot be reached, reset the connection or did
                not answer in time, or the client is closed.
            RateLimited: The server answered ``429``; ``retry_after`` is its
                ``Retry-After`` when it sent one.
            TaskStreamError: The server answered another contract error (its subclass
                for the code).
        """
        due = self._refresh_due_in(self.token)
        if due is not None and due <= 0:
            await self._refresh_early(self.token)
        query = {k: str(v) for k, v in params.items() if v is not None}
        token = self.token
        status, body, retry_after = await self._http_call(method, path, payload, query, token)
        if status == 401 and self._token_refresh is not None and not self._logged_out:
            token = await self._refresh(token)
            status, body, retry_after = await self._http_call(method, path, payload, query, token)
        if status >= 400:
            raise _error(body, status, retry_after)
        return body

    async def _http_call(
        self, method: str, path: str, payload: object, query: dict[str, str], token: str
    ) -> tuple[int, Any, float | None]:
        """One HTTP exchange: the status, the decoded body and the ``Retry-After`` seconds.

        Raises:
            Unavailable: The client is closed (no session is opened), or a transport failure.
        """
        if self._closed:
            raise Unavailable(f"{method} {path}: the client is closed.")
        if self._http is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.call_timeout, sock_read=self.call_timeout
            )
            self._http = aiohttp.ClientSession(timeout=timeout)
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._http.request(
                method, url, json=payload, params=query, headers=headers
            ) as response:
                if response.status == 204:
                    return 204, None, None
                retry_after = _seconds(response.headers.get("Retry-After"))
                return response.status, await _read_json(response), retry_after
        except _TRANSPORT_ERRORS as exc:
            raise Unavailable(
                f"{method} {path}: cannot reach {self.base_url} ({exc or type(exc).__name__})"
            ) from exc

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

    async def task_history(self, task_id: str) -> TaskHistory:
        """Read who did what to a task, in seq order (a worker: only their own tasks).

        Args:
            task_id: The task's id.

        Returns:
            The task's history: created, then each decision and undo.

        Raises:
            Forbidden: The task is another worker's.
            NotFound: No such task.
        """
        return TaskHistory.from_dict(await self.request("GET", f"/api/tasks/{task_id}/history"))

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
        """Sign out: the server refuses the client's token from now on.

        The refresh hook is not called after this: the live connection, which
        the server closes, stays closed and :meth:`events` raises
        :class:`~taskstream_core.errors.Unauthorized`.

        Raises:
            Unauthorized: The server refused the token already.
            Unavailable: The server cannot be reached.
        """
        self._logged_out = True
        await self.request("POST", "/api/auth/logout")

    # -- Socket.IO: the connection -----------------------------------------------------
    async def connect(self) -> None:
        """Open the live connection; it then reconnects by itself until :meth:`close`.

        Raises:
            Unauthorized: The server refused the token (and the refreshed one, with a hook).
            Unavailable: The server cannot be reached.
        """
        await self._open()
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        """Close the live connection and the HTTP session; the client stops reconnecting.

        What waits on the client ends: :meth:`events` stops once the events already
        queued are taken, :meth:`next_event` then raises
        :class:`~taskstream_core.errors.Unavailable`, and so do the live calls, the
        HTTP calls and :meth:`wait_connected`, in flight or made later.
        """
        if not self._closed:
            self._queue.put(Unavailable("The client is closed."))
        self._closed = True
        self._closing.set()
        for task in (self._supervisor, self._resync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(*_TRANSPORT_ERRORS):
            await self._sio.disconnect()
        self._connected.clear()
        self._lost.set()  # the live calls in flight end now
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def connected(self) -> bool:
        """Whether the live connection is up right now."""
        return bool(self._sio.connected) and self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once the live connection is up (again).

        Raises:
            Unauthorized: The client stopped: the server refused its token for good.
            Unavailable: The client is closed (also while this waits), or its live
                connection was never opened.
        """
        await self._wait_for_connection(None)

    def _register_handlers(self) -> None:
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on("connect_error", self._on_connect_error)
        for name in _LIVE_EVENTS:
            self._sio.on(name, self._on_event)

    async def _open(self) -> None:
        """Connect with the current token; on an ``unauthorized`` refusal, refresh once and retry.

        Raises:
            Unauthorized: Refused, and no fresh token or the fresh one refused too.
            Unavailable: The server cannot be reached.
        """
        due = self._refresh_due_in(self.token)
        if due is not None and due <= 0:
            await self._refresh_early(self.token)
        token = self.token
        try:
            await self._connect_with(token)
        except Unauthorized:
            if self._token_refresh is None or self._logged_out:
                raise
            await self._connect_with(await self._refresh(token))

    async def _connect_with(self, token: str) -> None:
        self._refusal = None
        self._socket_token = token
        try:
            # python-socketio bounds the wait for the namespace, not the handshake before it.
            async with asyncio.timeout(2 * self.call_timeout):
                await self._sio.connect(
                    self.base_url,
                    auth={"token": token},
                    transports=["websocket"],
                    socketio_path="socket.io",
                    wait_timeout=self.call_timeout,
                )
        except (*_TRANSPORT_ERRORS, ValueError) as exc:
            if isinstance(exc, TimeoutError):  # interrupted half-way: reset the transport
                with contextlib.suppress(*_TRANSPORT_ERRORS):
                    await self._sio.disconnect()
            # python-socketio's exception does not carry the refusal's data;
            # the connect_error handler has kept what the server said.
            refusal = self._refusal or Unavailable(
                f"Cannot connect to {self.base_url}: {exc or type(exc).__name__}"
            )
            raise refusal from exc

    async def _supervise(self) -> None:
        """Keep the live connection up, with a fresh token, until :meth:`close`."""
        delay = self._reconnect_delay
        while not self._closed:
            if self._connected.is_set():
                due = self._refresh_due_in(self._socket_token)
                if due is not None and self.token != self._socket_token:
                    due = min(due, 0.0)  # an HTTP call refreshed it already: carry it over
                try:
                    await asyncio.wait_for(self._lost.wait(), due)
                except TimeoutError:
                    await self._swap_token()
                    continue
                if not self._swap_now:
                    await asyncio.sleep(_jitter(self._reconnect_delay))
                self._swap_now = False
                continue
            try:
                await self._open()
            except Unavailable as exc:
                log.info("reconnecting to %s failed: %s", self.base_url, exc)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, self._max_reconnect_delay)
            except Unauthorized as exc:
                self._fail(exc)
                return
            except Exception as exc:  # the refresh hook failed for good
                error = Unauthorized(f"The token was refused and could not be refreshed: {exc!r}")
                error.__cause__ = exc
                self._fail(error)
                return
            else:
                delay = self._reconnect_delay
                self._swap_now = False

    async def _swap_token(self) -> None:
        """Refresh the token ahead of its expiry, and reconnect to carry the new one."""
        if self.token == self._socket_token and self._socket_token is not None:
            await self._refresh_early(self._socket_token)
        if self.token != self._socket_token and self._connected.is_set():
            log.info("reconnecting with the refreshed token")
            await self._drop_connection()

    async def _drop_connection(self) -> None:
        """Close the live connection on purpose; the supervisor reconnects at once."""
        self._swap_now = True
        with contextlib.suppress(*_TRANSPORT_ERRORS):
            await self._sio.disconnect()
        self._connected.clear()
        self._lost.set()

    def _fail(self, error: TaskStreamError) -> None:
        log.warning("the server refused the token; the client stops: %s", error)
        self._failure = error
        self._failed.set()
        self._queue.put(error)

    async def _on_connect(self) -> None:
        self._lost.clear()
        self._connected.set()
        if self._last_seq:  # a reconnect: catch up on every scan we had joined
            self._behind.update(self._last_seq)
            self._ensure_resync()

    async def _on_disconnect(self, reason: object = None) -> None:
        self._connected.clear()
        self._lost.set()

    async def _on_connect_error(self, data: object = None) -> None:
        self._refusal = _connect_error(data)

    async def _wait_for_connection(self, deadline: float | None) -> None:
        """Wait for the live connection, until ``deadline`` (loop time) when given.

        Raises:
            Unauthorized: The client stopped for a refused token.
            Unavailable: Closed, never connected, or not connected by ``deadline``.
        """
        loop = asyncio.get_running_loop()
        if self._closed:
            raise Unavailable("The client is closed.")
        while not self._connected.is_set():
            if self._failure is not None:
                raise self._failure
            if self._closed:
                raise Unavailable("The client is closed.")
            if self._supervisor is None:
                raise Unavailable("The live connection is not open (use connect() or async with).")
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                raise Unavailable(f"No live connection to {self.base_url}.") from TimeoutError(
                    "not connected in time"
                )
            waiters = [
                asyncio.ensure_future(self._connected.wait()),
                asyncio.ensure_future(self._failed.wait()),
                asyncio.ensure_future(self._closing.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise Unavailable("The client is closed.")

    # -- Socket.IO: calls --------------------------------------------------------------
    async def _emit(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an event and wait for its ack, across reconnects, for ``3 × call_timeout``.

        At most ``_LIVE_CALLS_MAX`` calls are on the wire at once; the others wait
        their turn (within the same deadline). An ack ``unavailable`` ("retry later":
        the store or Redis is away, or the server is sending this socket away to
        resume) or ``rate_limited`` (the server did not run the call) is sent again
        after a pause (the ack's ``retry_after`` when it names one), until then.

        Raises:
            Unauthorized: Refused, and the refreshed token refused too.
            Unavailable: No answer in time (the server's own ``unavailable`` when it
                gave one), or the client is closed.
            RateLimited: Still answered ``rate_limited`` at the deadline.
            TaskStreamError: The ack's contract error.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * self.call_timeout
        refreshed = False
        pause = _UNAVAILABLE_PAUSE
        while True:
            await self._wait_for_connection(deadline)
            token = self._socket_token
            ack = await self._send_once(name, payload, deadline)
            if ack is _AGAIN:
                continue
            if not isinstance(ack, dict):
                raise Unavailable(f"Unexpected answer to {name}.")
            if ack.get("ok"):
                return ack
            error = _error(ack, 0)
            if isinstance(error, Unavailable | RateLimited) and not self._closed:
                wait = pause
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    wait = error.retry_after
                if loop.time() + wait >= deadline:
                    raise error
                await asyncio.sleep(wait)
                pause = min(2 * pause, _UNAVAILABLE_PAUSE_MAX)
                continue
            if isinstance(error, Unauthorized) and not refreshed and self._token_refresh:
                refreshed = True
                await self._refresh(token)
                await self._drop_connection()
                continue
            raise error

    async def _send_once(self, name: str, payload: dict[str, Any], deadline: float) -> object:
        """Send a live call once, in its turn (``_LIVE_CALLS_MAX`` on the wire at once).

        Returns:
            The ack, or ``_AGAIN`` when the connection dropped or failed before it
            came (the caller sends the call again once connected).

        Raises:
            Unavailable: No turn, or no answer, by ``deadline`` (loop time), or the
                client is closed.
        """
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._live_calls.acquire(), deadline - loop.time())
        except TimeoutError as exc:
            raise Unavailable(f"No turn to send {name} in time.") from exc
        try:
            if not self._connected.is_set():
                return _AGAIN  # dropped (or closed) while the call waited for its turn
            lost = asyncio.ensure_future(self._lost.wait())
            call = asyncio.ensure_future(self._sio.call(name, payload, timeout=self.call_timeout))
            try:
                await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                dropped = not call.done()
                if dropped:  # the connection dropped (or we are cancelled): no ack will come
                    call.cancel()
                    await asyncio.wait({call})
        finally:
            self._live_calls.release()
        if dropped:
            if self._closed or loop.time() >= deadline:
                raise Unavailable(
                    f"The connection dropped before {name} was answered."
                ) from ConnectionResetError("the live connection dropped")
            return _AGAIN
        try:
            return call.result()
        except _TRANSPORT_ERRORS as exc:
            if self._closed or loop.time() >= deadline:
                raise Unavailable(f"No answer to {name} from {self.base_url}.") from exc
            await asyncio.sleep(0.05)  # the connection is going down: let it
            return _AGAIN

    # -- Socket.IO: scans and their events ----------------------------------------------
    async def join(self, scan_id: str) -> Snapshot:
        """Join a scan: its later events arrive through :meth:`events`.

        After a reconnect, or a drop to resume, the client resumes each joined
        scan by itself from the last seq it holds.

        Args:
            scan_id: The scan's id.

        Returns:
            The snapshot the server answered: the tasks the user may see, as of its seq.

        Raises:
            NotFound: No such scan.
            Unauthorized: The server refused the token (and the refreshed one).
            Unavailable: No answer from the server.
        """
        result = await self._join(scan_id, None)
        assert result is not None  # a join without since_seq answers a snapshot
        return result

    async def _join(self, scan_id: str, since_seq: int | None) -> Snapshot | None:
        """Join, or resume from ``since_seq``; queue what the answer replays.

        A resume takes from its answer only what fits in the queue: the scan
        stays behind, to be resumed again once the consumer makes room.
        """
        self._joining.setdefault(scan_id, [])
        epoch = self._overflows
        snapshot: Snapshot | None = None
        try:
            payload: dict[str, Any] = {"scan_id": scan_id}
            if since_seq is not None:
                payload["since_seq"] = since_seq
            ack = await self._emit("scan:join", payload)
            if since_seq is not None and (
                epoch != self._overflows or scan_id not in self._last_seq
            ):
                return None  # dropped meanwhile (or left): the next resume starts over
            if "events" in ack:
                self._replay(scan_id, ack)
            else:
                snapshot = _snapshot(ack, scan_id)
                for task in snapshot.tasks:
                    self._remember(task)
                self._last_seq[scan_id] = snapshot.seq
                self._behind.discard(scan_id)
                if snapshot.reset:
                    self._queue.put(snapshot)
                else:
                    self._delivered[scan_id] = snapshot.seq  # the caller holds it
        finally:
            buffered = self._joining.pop(scan_id, [])
            if scan_id not in self._behind:  # else the next resume fetches them
                for envelope in buffered:
                    self._accept(envelope, replay=False)
        return snapshot

    def _replay(self, scan_id: str, ack: Mapping[str, Any]) -> None:
        """Queue what a resume answered: the presence now, then the missed events that fit."""
        presence = _presence(ack, scan_id)
        if presence is not None and not self._queue.full:
            self._queue.put(ScanEvent(EventType.SCAN_PRESENCE, scan_id, 0, presence=presence))
        for envelope in ack["events"]:
            if not self._accept(envelope, replay=True):
                return  # the queue is full: the scan stays behind
        self._last_seq[scan_id] = max(self._last_seq[scan_id], int(ack["seq"]))
        self._behind.discard(scan_id)

    def _ensure_resync(self) -> None:
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(self._resync())

    async def _resync(self) -> None:
        """Resume every scan that is behind, as the queue makes room.

        A scan stays behind until a resume of it succeeds, or fails for a reason that
        means it cannot be joined again (``_NOT_JOINABLE``: no such scan, not allowed
        any more...); any other failure (``unavailable``, ``rate_limited``...) is tried
        again after a pause, the server's ``retry_after`` when it gave one.
        """
        pause = self._reconnect_delay
        while self._behind and not self._closed and self._failure is None:
            for scan_id in list(self._behind):
                if scan_id not in self._last_seq:
                    self._behind.discard(scan_id)
                    continue
                await self._queue.room.wait()
                try:
                    await self._join(scan_id, self._last_seq[scan_id])
                except _NOT_JOINABLE as exc:
                    log.warning("could not resume scan %s: %s", scan_id, exc)
                    self._behind.discard(scan_id)
                except TaskStreamError as exc:
                    log.info("could not resume scan %s yet: %s", scan_id, exc)
                    wait = _jitter(pause)
                    if isinstance(exc, RateLimited) and exc.retry_after is not None:
                        wait = max(wait, exc.retry_after)
                    await asyncio.sleep(wait)
                    pause = min(2 * pause, max(self._max_reconnect_delay, self._reconnect_delay))
                else:
                    pause = self._reconnect_delay

    async def _on_event(self, envelope: object) -> None:
        if not isinstance(envelope, dict):
            return
        scan_id = str(envelope.get("scan_id"))
        buffered = self._joining.get(scan_id)
        if buffered is not None:  # a join or resume is answering: order after it
            buffered.append(envelope)
        else:
            self._accept(envelope, replay=False)

    def _accept(self, envelope: Mapping[str, Any], *, replay: bool) -> bool:
        """Queue an event once, in seq order per scan; stats pass through when there is room.

        Returns:
            False when a replayed event found the queue full (the caller stops there).
        """
        event = _event(envelope)
        if event.type is EventType.SCAN_STATS or event.type.is_notice:
            if not self._queue.full and event.scan_id in self._last_seq:
                self._queue.put(event)  # else dropped: the next one supersedes it
            return True
        last = self._last_seq.get(event.scan_id)
        if last is None or event.seq <= last:
            return True  # a scan not joined, or seen already
        if replay:
            if self._queue.full:
                return False
        elif event.scan_id in self._behind:
            return True  # a resume of the scan will fetch it
        elif self._queue.full:
            self._overflow()
            return True
        self._last_seq[event.scan_id] = event.seq
        if event.task is not None:
            self._remember(event.task)
        self._queue.put(event)
        return True

    def _overflow(self) -> None:
        """Drop the backlog; resume every scan from the last event the consumer received."""
        dropped = self._queue.clear()
        self._overflows += 1
        self._discarded += dropped
        log.warning(
            "the event consumer fell %d events behind (max_queued=%d): dropped them, "
            "resuming each scan from the last event it received (overflow %d)",
            dropped,
            self.max_queued,
            self._overflows,
        )
        for scan_id in self._last_seq:
            self._last_seq[scan_id] = self._delivered.get(scan_id, self._last_seq[scan_id])
        self._behind.update(self._last_seq)
        self._ensure_resync()

    async def leave(self, scan_id: str) -> None:
        """Stop receiving a scan's events.

        Args:
            scan_id: The scan's id.

        Raises:
            Unavailable: No answer from the server.
        """
        self._last_seq.pop(scan_id, None)
        self._delivered.pop(scan_id, None)
        self._behind.discard(scan_id)
        await self._emit("scan:leave", {"scan_id": scan_id})

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
            Unavailable: No answer within ``3 × call_timeout``; submitting again with
                the same ``idempotency_key`` is safe.
        """
        key = idempotency_key or uuid.uuid4().hex
        payload = {"scan_id": scan_id, "content": content, "idempotency_key": key}
        return self._remember(Task.from_dict((await self._emit("task:submit", payload))["task"]))

    async def decide(
        self, task_id: str, decision: str, reason: str | None = None, *, override: bool = False
    ) -> Task:
        """Validate or refuse a pending task (admins only).

        A retry that finds this user's same decision stored counts as a success.
        Deciding ends the caller's claim on the task.

        Args:
            task_id: The task's id.
            decision: ``"validated"`` or ``"refused"``.
            reason: Up to 1,000 characters, or None.
            override: Decide even when another admin holds the task.

        Returns:
            The decided task.

        Raises:
            AlreadyDecided: Another decision won; the error carries the task.
            Conflict: Another admin holds the task and ``override`` is False;
                the error's ``claim`` says who.
            NotFound: No such task.
            Forbidden: The user is not an admin.
            InvalidRequest: A field breaks the contract's rules.
            Unavailable: No answer within ``3 × call_timeout``.
        """
        payload: dict[str, Any] = {"task_id": task_id, "decision": decision}
        if reason is not None:
            payload["reason"] = reason
        if override:
            payload["override"] = True
        try:
            ack = await self._emit("task:decide", payload)
        except AlreadyDecided as exc:
            me = self._user_id()
            mine = me is not None and exc.task is not None and exc.task.decided_by == me
            if mine and exc.task is not None and exc.task.status.value == decision:
                return exc.task
            raise
        except Conflict as exc:
            raise await self._claimed_by_other(exc, task_id) from None
        return self._remember(Task.from_dict(ack["task"]))

    async def undo(self, task_id: str) -> Task:
        """Take back this admin's decision within the server's undo window.

        The task is pending again, with a new seq. A retry that finds the
        task already undone by this user counts as a success.

        Args:
            task_id: The task's id.

        Returns:
            The task, pending again.

        Raises:
            Conflict: The task is pending, another admin decided it, or the
                undo window has passed.
            NotFound: No such task.
            Forbidden: The user is not an admin.
            Unavailable: No answer within ``3 × call_timeout``.
        """
        try:
            ack = await self._emit("task:undo", {"task_id": task_id})
        except Conflict:
            history = await self.task_history(task_id)
            last = history.entries[-1] if history.entries else None
            me = self._user_id()
            mine = me is not None and last is not None and last.by_user_id == me
            if mine and last is not None and last.action is HistoryAction.UNDONE:
                task = await self.get_task(task_id)
                if task.status is TaskStatus.PENDING:
                    return task
            raise
        return self._remember(Task.from_dict(ack["task"]))

    # -- Socket.IO: claims (contract §4.2) ------------------------------------------------
    async def claim(self, task_id: str) -> Claim:
        """Hold a pending task for 30 s, or renew this admin's hold on it.

        An admin holds at most one task per scan: claiming another one of the
        same scan releases the previous claim.

        Args:
            task_id: The task's id.

        Returns:
            The caller's claim.

        Raises:
            Conflict: Another admin holds the task; the error's ``claim`` says who.
            AlreadyDecided: The task is not pending.
            NotFound: No such task.
            Forbidden: The user is not an admin.
            Unavailable: No answer within ``3 × call_timeout``.
        """
        try:
            ack = await self._emit("task:claim", {"task_id": task_id})
        except Conflict as exc:
            raise await self._claimed_by_other(exc, task_id) from None
        return Claim.from_dict(ack["claim"], scan_id=await self._scan_of(task_id))

    async def release(self, task_id: str) -> None:
        """Let go of this admin's claim on a task (a no-op unless the caller holds it).

        Args:
            task_id: The task's id.

        Raises:
            NotFound: No such task.
            Forbidden: The user is not an admin.
            Unavailable: No answer within ``3 × call_timeout``.
        """
        await self._emit("task:release", {"task_id": task_id})

    async def claim_next(
        self, scan_id: str, *, after_task_id: str | None = None
    ) -> ClaimedTask | None:
        """Claim the oldest pending task of a scan that no other admin holds.

        Concurrent calls, by any admins on any server process, hand out different tasks.

        Args:
            scan_id: The scan's id.
            after_task_id: Only tasks after this one, oldest first (no wrap-around).

        Returns:
            The task and the caller's claim on it, or None when no task qualifies.

        Raises:
            NotFound: No such scan, or no such ``after_task_id``.
            Forbidden: The user is not an admin.
            InvalidRequest: A field breaks the contract's rules.
            Unavailable: No answer within ``3 × call_timeout``.
        """
        payload: dict[str, Any] = {"scan_id": scan_id}
        if after_task_id is not None:
            payload["after_task_id"] = after_task_id
        ack = await self._emit("task:claim_next", payload)
        if ack.get("task") is None or ack.get("claim") is None:
            return None
        task = self._remember(Task.from_dict(ack["task"]))
        return ClaimedTask(task, Claim.from_dict(ack["claim"], scan_id=task.scan_id))

    async def presence(self, scan_id: str) -> Presence:
        """Read who is present in a scan now (admins only).

        Args:
            scan_id: The scan's id.

        Returns:
            The detailed presence: every present user once, and the counts per role.

        Raises:
            Forbidden: The user is not an admin.
            NotFound: No such scan.
        """
        body = await self.request("GET", f"/api/scans/{scan_id}/presence")
        return Presence.from_dict(body, scan_id=scan_id)

    def _user_id(self) -> str | None:
        """The signed-in user's id: :attr:`user`'s, else the token's ``sub`` (read, not
        verified, from the token in use, so a refreshed one too), or None when neither says."""
        if self.user is not None:
            return self.user.id
        try:
            sub = jwt.decode(self.token, options={"verify_signature": False}).get("sub")
        except jwt.PyJWTError:
            return None
        return sub if isinstance(sub, str) and sub else None

    def _remember(self, task: Task) -> Task:
        """Note which scan ``task`` belongs to (bounded: the oldest pairs go first)."""
        scans = self._task_scans
        scans.pop(task.id, None)
        scans[task.id] = task.scan_id
        if len(scans) > _TASK_SCANS_KEPT:
            del scans[next(iter(scans))]
        return task

    async def _claimed_by_other(self, exc: Conflict, task_id: str) -> Conflict:
        """``exc``, with its claim naming the task's scan (the wire's claim names none)."""
        if exc.claim is None or exc.claim.scan_id:
            return exc
        claim = dataclasses.replace(exc.claim, scan_id=await self._scan_of(task_id))
        return Conflict(str(exc), claim=claim)

    async def _scan_of(self, task_id: str) -> str:
        """The scan of a task: remembered, or read from the server."""
        scan_id = self._task_scans.get(task_id)
        if scan_id is None:
            scan_id = self._remember(await self.get_task(task_id)).scan_id
        return scan_id

    async def events(self) -> AsyncIterator[ClientItem]:
        """Iterate over the live events of the joined scans, each once, in seq order per scan.

        The iteration stops once the client is closed (:meth:`close`) and the
        events it had queued are taken.

        Yields:
            Each event; a :class:`Snapshot` instead of events when a resume could
            not replay them all.

        Raises:
            Unauthorized: The server stopped accepting the token (it was logged
                out or expired) and the refresh hook, if any, gave none it accepts.
        """
        while True:
            try:
                item = await self.next_event()
            except Unavailable:
                if self._closed:
                    return
                raise
            yield item

    async def next_event(self) -> ClientItem:
        """Wait for the next live item (wrap it in ``asyncio.timeout`` to bound the wait).

        Returns:
            The next event, or a :class:`Snapshot` (see :meth:`events`).

        Raises:
            Unauthorized: The server stopped accepting the token.
            Unavailable: The client is closed (at once when it is closed during the
                wait), once the events it had queued are taken.
        """
        item = await self._queue.get()
        if isinstance(item, Snapshot):
            self._delivered[item.scan.id] = item.seq
        elif item.type is not EventType.SCAN_STATS and not item.type.is_notice:
            self._delivered[item.scan_id] = item.seq
        return item


async def _read_json(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON, or None when its body is not JSON (a proxy's error page...)."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _event(envelope: Mapping[str, Any]) -> ScanEvent:
    event = ScanEvent.from_record(envelope)
    stats = envelope.get("stats")
    if isinstance(stats, Mapping):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return ScanEvent(event.type, event.scan_id, event.seq, stats=ScanStats.from_dict(stats))
    return event


def _snapshot(ack: Mapping[str, Any], scan_id: str) -> Snapshot:
    """The snapshot a join answered."""
    return Snapshot(
        scan=Scan.from_dict(ack["scan"]),
        seq=int(ack["seq"]),
        tasks=[Task.from_dict(t) for t in ack["tasks"]],
        reset=bool(ack.get("reset")),
        presence=_presence(ack, scan_id),
        claims=tuple(Claim.from_dict(c, scan_id=scan_id) for c in ack.get("claims") or ()),
    )


def _presence(ack: Mapping[str, Any], scan_id: str) -> Presence | None:
    """The ``presence`` a join answer carries, or None (a v1 server sends none)."""
    body = ack.get("presence")
    return Presence.from_dict(body, scan_id=scan_id) if isinstance(body, Mapping) else None


def _connect_error(data: object) -> TaskStreamError:
    if isinstance(data, Mapping) and data.get("code") == "unauthorized":
        return Unauthorized(str(data.get("message") or "The server refused the token."))
    return Unavailable(f"Cannot connect: {data}")
