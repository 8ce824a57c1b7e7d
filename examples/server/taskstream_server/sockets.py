"""The Socket.IO side of the contract: connect, the four client events, live events.

Each socket holds one :class:`~taskstream_core.ViewerSession`, whose events go, in delivery
order, onto the socket's one Engine.IO queue (or the fast path), which keeps them in seq
order. Every client event gets an ack, ``{"ok": true, ...}`` or ``{"ok": false, "error"}``.
A socket is filed under its token's id before it is authenticated, so a logout always
reaches it; each event re-reads its user; what it holds unsent is bounded (:data:`SEND_BUDGET`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NoReturn

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from taskstream_core import Principal, ScanEvent, TaskStream, TaskStreamError, ViewerSession
from taskstream_core.errors import Internal, InvalidRequest, RateLimited, Unauthorized, Unavailable
from taskstream_core.models import utc_now
from taskstream_core.wire import MAX_BODY_BYTES, client_object

from .edge import socketio_origins
from .fast_path import FastPath
from .observability import Metrics, RequestInfo, new_request_id, request_scope
from .socket_packets import MALFORMED_EVENT, RESERVED_EVENT, Answer, ClientPacket

if TYPE_CHECKING:  # imported only with --redis-url, where redis is installed
    from .scaleout import RedisClientManager

__all__ = ["LOGIN_ROOM_PREFIX", "SEND_BUDGET", "SocketGateway", "event_packet", "login_room"]

log = logging.getLogger("taskstream.sockets")

#: Socket.IO rooms named ``session:<token id>`` hold the sockets that signed in with a token.
LOGIN_ROOM_PREFIX: Final = "session:"
#: Characters of packets (acks, live events) a socket may hold unsent before one more is
#: queued; past it the socket is disconnected (its client resumes with since_seq).
SEND_BUDGET: Final = 16 * 1024 * 1024
#: Client events one socket may have acted on at once (their answers count against the budget).
EVENTS_AT_ONCE: Final = 4
#: Client events one socket may have waiting for a turn; one more is answered ``rate_limited``.
EVENTS_WAITING: Final = 64
#: Live events kept encoded; fan-out sends one event to every socket within moments.
PACKETS_KEPT: Final = 256

Action = Callable[["_Viewer", Mapping[str, Any]], Awaitable[dict[str, Any]]]


def login_room(token_id: str) -> str:
    """The Socket.IO room of the sockets that signed in with one token (for logout)."""
    return LOGIN_ROOM_PREFIX + token_id


def event_packet(event: ScanEvent) -> eio_packet.Packet:
    """The Engine.IO message carrying ``event`` as a Socket.IO event, encoded once."""
    data = [event.type.value, event.to_envelope()]
    text = str(sio_packet.EVENT) + ClientPacket.json.dumps(data, separators=(",", ":"))
    packet = eio_packet.Packet(eio_packet.MESSAGE, text)
    packet.encode()  # cached in the packet: every socket writes that string
    return packet


class _Outbox:
    """Characters one socket holds unsent in python-engineio's queue and writer.

    The writer takes the whole queue and takes again only once that batch is written: once
    the queue is seen to have lost packets since a look, what was taken at that look is sent.
    """

    __slots__ = ("counted", "mark", "sizes", "unsent")

    def __init__(self) -> None:
        self.sizes: deque[int] = deque()  # the counted packets not known written, oldest first
        self.counted = 0  # packets counted so far
        self.unsent = 0  # sum(sizes)
        self.mark = 0  # packets taken at the last look that took nothing new

    def look(self, waiting: int) -> None:
        """Learn from the queue's length (``waiting`` packets) what is surely written."""
        taken = self.counted - waiting
        if taken > self.mark:
            for _ in range(self.mark - (self.counted - len(self.sizes))):
                self.unsent -= self.sizes.popleft()
            self.mark = taken

    def count(self, size: int) -> None:
        """Count a packet of ``size`` characters about to be queued."""
        self.sizes.append(size)
        self.unsent += size
        self.counted += 1


@dataclass(eq=False)
class _Viewer:
    """One authenticated socket: who it is, what it watches, what it holds unsent."""

    sid: str
    eio_sid: str
    principal: Principal
    session: ViewerSession
    outbox: _Outbox = field(default_factory=_Outbox)
    dropping: bool = False  # being dropped: nothing more is queued
    signed_out: bool = False  # its token was logged out or its user changed
    expiry: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(EVENTS_AT_ONCE))
    waiting: int = 0  # client events waiting for a turn


def _refusal(error: TaskStreamError) -> socketio.exceptions.ConnectionRefusedError:
    """A connect refusal carrying the contract's code where either client looks for it."""
    details = {"code": error.code, "message": error.message}
    refusal = socketio.exceptions.ConnectionRefusedError(error.message, details)
    refusal.error_args["code"] = error.code
    return refusal


def _failure(error: TaskStreamError) -> dict[str, Any]:
    return {"ok": False, **error.to_dict()}


class SocketGateway:
    """Owns the python-socketio server and the sockets connected to this process."""

    def __init__(
        self,
        core: TaskStream,
        metrics: Metrics,
        *,
        cors_allowed_origins: Sequence[str] = (),
        client_manager: RedisClientManager | None = None,
        transports: Sequence[str] = ("websocket", "polling"),
        fast_path: bool = True,
    ) -> None:
        self.core = core
        self.metrics = metrics
        self.manager = client_manager
        options = {} if client_manager is None else {"client_manager": client_manager}
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=socketio_origins(cors_allowed_origins),
            max_http_buffer_size=MAX_BODY_BYTES,
            transports=list(transports),
            serializer=ClientPacket,
            # Our loggers: with False, python-socketio adds a plain-text handler of its own.
            logger=logging.getLogger("socketio.server"),
            engineio_logger=logging.getLogger("engineio.server"),
            **options,
        )
        self.fast_path = FastPath.install(self.sio.eio) if fast_path else None
        if not fast_path:
            log.info("fast path: off (--no-fast-path)")
        metrics.fast_path.set(0 if self.fast_path is None else 1)
        self._packets: dict[int, tuple[ScanEvent, eio_packet.Packet]] = {}
        self._viewers: dict[str, _Viewer] = {}
        self._by_token: dict[str, set[str]] = {}  # token id -> sockets signed in or signing in
        self._signed_out: set[str] = set()  # sockets signing in with a token since logged out
        self._closing = False  # shutting down: new client events are answered unavailable
        self._in_flight = 0  # client events being answered
        self._idle = asyncio.Event()  # set while none is
        self._idle.set()
        if client_manager is not None:  # a logout on any process reaches this one
            client_manager.on_logout = self.sign_out_here
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        # The core checks the caller's account where it changes a task, in the same store
        # step (``check_user``); for the other events the gateway reads it first.
        for event, action, core_checks in (
            ("scan:join", self._join, False),
            ("scan:leave", self._leave, False),
            ("task:submit", self._submit, True),
            ("task:decide", self._decide, True),
            ("task:undo", self._undo, True),
            ("task:claim", self._claim, False),
            ("task:release", self._release, False),
            ("task:claim_next", self._claim_next, False),
        ):
            self.sio.on(event, functools.partial(self._answer, action, core_checks))
        self.sio.on(MALFORMED_EVENT, self._on_malformed)
        self.sio.on(RESERVED_EVENT, self._on_reserved)
        self.sio.on("*", self._on_unknown)

    # -- connection lifecycle ---------------------------------------------------------------
    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: object = None) -> bool:
        """Sign a socket in with its auth payload's token, or refuse it (filed under the token's
        id before the token is checked, so that a logout meanwhile refuses it)."""
        request_scope(RequestInfo(id=new_request_id()))
        token = auth.get("token") if isinstance(auth, Mapping) else None
        token_id: str | None = None
        accepted = False
        try:
            try:
                if not isinstance(token, str) or not token:
                    raise Unauthorized('Connect with the auth payload {"token": "<token>"}.')
                token_id = self.core.accounts.tokens.verify(token).token_id
                self._by_token.setdefault(token_id, set()).add(sid)
                principal = await self.core.accounts.authenticate(token)
                if sid in self._signed_out:
                    raise Unauthorized("This token was signed out; sign in again.")
            except TaskStreamError as exc:
                log.info("socket refused: %s", exc.code, extra={"sid": sid})
                raise _refusal(exc) from None
            except Exception as exc:
                log.error("socket connect failed", exc_info=exc, extra={"sid": sid})
                raise _refusal(Internal()) from None
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            socket = self.sio.eio.sockets.get(eio_sid)
            if socket is None or socket.closed:  # the client left meanwhile
                return False
            accepted = True
        finally:
            if not accepted:
                self._forget(sid, token_id)
        self._signed_out.discard(sid)
        viewer = _Viewer(sid, eio_sid, principal, ViewerSession(self.core, principal))
        viewer.session.forward_to(
            functools.partial(self._forward, viewer, eio_sid),
            functools.partial(self._fell_behind, viewer),
        )
        if principal.token_expires_at is not None:  # the socket lives no longer than its token
            ends = principal.token_expires_at + self.core.accounts.tokens.leeway
            viewer.expiry = asyncio.get_running_loop().call_later(
                max(0.0, (ends - utc_now()).total_seconds()), self._drop_soon, viewer
            )
        self._viewers[sid] = viewer
        self.metrics.connected_sockets.inc()
        log.info(
            "socket connected",
            extra={"sid": sid, "user_id": principal.user_id, "role": principal.role.value},
        )
        return True

    def _forget(self, sid: str, token_id: str | None) -> None:
        """Take a socket off its token's list (it was refused, or it left)."""
        self._signed_out.discard(sid)
        sids = self._by_token.get(token_id or "")
        if token_id is not None and sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_token[token_id]

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        viewer = self._viewers.pop(sid, None)
        if viewer is None:
            return
        self._forget(sid, viewer.principal.token_id)
        viewer.session.close()
        if viewer.expiry is not None:
            viewer.expiry.cancel()
        self.metrics.connected_sockets.dec()
        log.info("socket disconnected", extra={"sid": sid, "reason": str(reason)})

    def _drop_soon(self, viewer: _Viewer) -> None:
        """Disconnect the socket from a task of its own (for callers that cannot await)."""
        task = asyncio.get_running_loop().create_task(self._drop(viewer.sid))
        viewer.tasks.add(task)
        task.add_done_callback(viewer.tasks.discard)

    async def _drop(self, sid: str) -> None:
        await self.sio.disconnect(sid, ignore_queue=True)

    # -- live events --------------------------------------------------------------------------
    def _forward(self, viewer: _Viewer, eio_sid: str, event: ScanEvent) -> int:
        """Send an event to the socket, within the fan-out's delivery; the packets its queue
        holds (past the core's ``queue_size`` the viewer is closed as lagged)."""
        if viewer.dropping:
            return 0
        try:
            socket = self.sio.eio.sockets.get(eio_sid)
            if socket is None or socket.closed:
                return 0
            packet = self._packet(event)
            if self.fast_path is not None and self.fast_path.send(socket, packet):
                self.metrics.sent.fast_path += 1
                return 0
            if self._admit(viewer, len(packet.data)):
                socket.queue.put_nowait(packet)
                self.metrics.sent.engineio += 1
            return int(socket.queue.qsize())
        except Exception as exc:
            log.error("forwarding events failed", exc_info=exc, extra={"sid": viewer.sid})
            viewer.dropping = True
            self._drop_soon(viewer)
            return 0

    def _packet(self, event: ScanEvent) -> eio_packet.Packet:
        """:func:`event_packet`, once for every socket (each gets the same event object)."""
        hit = self._packets.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        packet = event_packet(event)
        if len(self._packets) >= PACKETS_KEPT:
            del self._packets[next(iter(self._packets))]
        self._packets[id(event)] = (event, packet)
        return packet

    def _fell_behind(self, viewer: _Viewer) -> None:
        """It fell behind, or the broker lost events: drop it, to resume."""
        if not viewer.dropping:
            viewer.dropping = True
            log.warning("socket may miss events; disconnecting it", extra={"sid": viewer.sid})
            self._drop_soon(viewer)

    def _admit(self, viewer: _Viewer, size: int) -> bool:
        """Count a packet of ``size`` characters for the socket; False, and the socket dropped,
        when it already holds more than :data:`SEND_BUDGET` unsent."""
        if viewer.dropping:
            return False
        socket = self.sio.eio.sockets.get(viewer.eio_sid)
        if socket is not None:
            viewer.outbox.look(socket.queue.qsize())
        fast = self.fast_path
        unsent = viewer.outbox.unsent + (0 if fast is None else fast.buffered(viewer.eio_sid))
        if unsent <= SEND_BUDGET:
            viewer.outbox.count(size)
            return True
        viewer.dropping = True
        log.warning(
            "socket does not read what it is sent; disconnecting it",
            extra={"sid": viewer.sid, "unsent": unsent},
        )
        if fast is not None:
            fast.abort(viewer.eio_sid)  # what its connection holds goes now
        self._drop_soon(viewer)
        return False

    # -- sign-out and shutdown -----------------------------------------------------------------
    async def disconnect_token(self, token_id: str) -> None:
        """Drop the sockets signed in with a token now logged out, on every process."""
        await self.sign_out_here(token_id)
        if self.manager is not None:
            await self.sio.close_room(login_room(token_id))

    async def sign_out_here(self, token_id: str) -> None:
        """Drop this process's sockets of a logged-out token; refuse those signing in with it."""
        connected = []
        for sid in list(self._by_token.get(token_id, ())):
            viewer = self._viewers.get(sid)
            if viewer is None:
                self._signed_out.add(sid)
            else:
                viewer.signed_out = True
                connected.append(sid)
        for sid in connected:
            await self._drop(sid)

    async def disconnect_all(self, drain: float = 0.0) -> None:
        """Tell every client to go (a pending long-poll then returns at once).

        Args:
            drain: Seconds to wait first for the client events being answered, whose acks
                then go out before the disconnect; later events are answered ``unavailable``.
        """
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                await self._idle.wait()
                await asyncio.sleep(0)  # python-socketio sends each ack once its handler returned
        for sid in list(self._viewers):
            with contextlib.suppress(Exception):
                await self._drop(sid)

    async def close(self) -> None:
        """Disconnect whatever is left and stop python-socketio's background tasks."""
        await self.disconnect_all()
        await self.sio.shutdown()
        if self.manager is not None:
            await self.manager.aclose()

    # -- client events ------------------------------------------------------------------------
    async def _answer(
        self, action: Action, core_checks: bool, sid: str, payload: object = None, *_: object
    ) -> Answer:
        """Run one client event in one of its socket's turns; its ack, whatever the outcome.

        A socket whose sign-in no longer holds is answered ``unauthorized`` and dropped. Where
        the core checks the account itself (``core_checks``), the gateway reads it only when
        the event failed otherwise, so that such a socket hears ``unauthorized`` all the same.
        """
        request_scope(RequestInfo(id=new_request_id()))
        viewer = self._viewers.get(sid)
        if viewer is None:
            return Answer(_failure(Unauthorized("This socket is not signed in.")), None)
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._answer_in_turn(viewer, action, core_checks, payload)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _answer_in_turn(
        self, viewer: _Viewer, action: Action, core_checks: bool, payload: object
    ) -> Answer:
        sid = viewer.sid
        try:
            if self._closing:
                raise Unavailable("The server is shutting down; reconnect and resume.")
            if viewer.waiting >= EVENTS_WAITING:
                raise RateLimited("Too many events waiting on this socket.", retry_after=1.0)
            viewer.waiting += 1
            try:
                await viewer.turns.acquire()
            finally:
                viewer.waiting -= 1
            try:
                if viewer.dropping:  # its answer would never be read
                    raise Unavailable("This socket is being disconnected; reconnect and resume.")
                if viewer.signed_out or not core_checks:
                    await self._still_signed_in(viewer)
                try:
                    body = client_object(payload, "The event's payload")
                    outcome = {"ok": True, **await action(viewer, body)}
                except Unauthorized:
                    self._sign_in_ended(viewer)
                except TaskStreamError:
                    if core_checks:
                        await self._still_signed_in(viewer)
                    raise
            finally:
                viewer.turns.release()
        except TaskStreamError as exc:
            if isinstance(exc, Internal):
                log.error("internal error: %s", exc.message, extra={"sid": sid})
            outcome = _failure(exc)
        except Exception as exc:
            log.error("socket event failed", exc_info=exc, extra={"sid": sid})
            outcome = _failure(Internal())
        return Answer(outcome, functools.partial(self._admit, viewer))

    async def _refuse(self, sid: str, message: str) -> Answer:
        """The ack of an event no action takes: ``invalid_request``."""
        viewer = self._viewers.get(sid)
        if viewer is None:
            return Answer(_failure(Unauthorized("This socket is not signed in.")), None)
        return Answer(_failure(InvalidRequest(message)), functools.partial(self._admit, viewer))

    async def _still_signed_in(self, viewer: _Viewer) -> None:
        """Raise :class:`Unauthorized`, and drop the socket, once its token was logged out or its
        user is gone or has another role."""
        if not viewer.signed_out:
            user = await self.core.store.get_user(viewer.principal.user_id)
            if user is not None and user.role is viewer.principal.role and not viewer.signed_out:
                return
        self._sign_in_ended(viewer)

    def _sign_in_ended(self, viewer: _Viewer) -> NoReturn:
        """Mark the socket signed out, drop it soon, and raise :class:`Unauthorized`."""
        viewer.signed_out = True
        log.info("socket's sign-in no longer holds; disconnecting it", extra={"sid": viewer.sid})
        self._drop_soon(viewer)
        raise Unauthorized("This socket's sign-in is no longer valid; sign in again.")

    async def _join(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        result = await viewer.session.join(body.get("scan_id"), body.get("since_seq"))
        return result.to_dict()

    async def _leave(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        viewer.session.leave(body.get("scan_id"))
        return {}

    async def _submit(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        task, created = await self.core.submit_task(
            viewer.principal, body.get("scan_id"), body.get("content"), body.get("idempotency_key")
        )
        outcome = "created" if created else "replayed"
        self.metrics.count(self.metrics.submissions, "socketio", outcome)
        return {"task": task.to_dict()}

    async def _decide(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        task = await self.core.decide_task(
            viewer.principal,
            body.get("task_id"),
            body.get("decision"),
            body.get("reason"),
            override=body.get("override", False),
        )
        self.metrics.count(self.metrics.decisions, "socketio", task.status.value)
        return {"task": task.to_dict()}

    async def _undo(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        task = await self.core.undo_task(viewer.principal, body.get("task_id"))
        return {"task": task.to_dict()}

    async def _claim(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        claim = await self.core.claim_task(viewer.principal, body.get("task_id"))
        return {"claim": claim.to_dict()}

    async def _release(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        await self.core.release_task(viewer.principal, body.get("task_id"))
        return {}

    async def _claim_next(self, viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        task, claim = await self.core.claim_next(
            viewer.principal, body.get("scan_id"), body.get("after_task_id")
        )
        return {
            "task": None if task is None else task.to_dict(),
            "claim": None if claim is None else claim.to_dict(),
        }

    async def _on_malformed(self, sid: str, *_: object) -> Answer:
        return await self._refuse(sid, "The event is not valid JSON of the form [name, payload].")

    async def _on_reserved(self, sid: str, name: object = None, *_: object) -> Answer:
        return await self._refuse(sid, f"Unknown event {str(name)[:50]!r}.")

    async def _on_unknown(self, event: str, sid: str, *_: object) -> Answer:
        return await self._refuse(sid, f"Unknown event {event[:50]!r}.")
