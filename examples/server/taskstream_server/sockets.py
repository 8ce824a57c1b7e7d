"""The Socket.IO side of CONTRACT.md §3: connect, the four client events, live events.

Each socket holds one :class:`ViewerSession`, which hands its events, as the
broker delivers them, to the socket's Engine.IO queue (:meth:`SocketGateway._forward`).
One FIFO queue filled in delivery order is what keeps a socket's events in seq
order: python-socketio runs event handlers concurrently, but nothing else
puts live events in that queue. Handlers answer every event with an ack,
``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``, and never let an
exception escape into python-socketio.

A socket is only as good as its sign-in. It is known by its token's id from
before its authentication is awaited, so a logout either finds it or is seen
by that authentication (:meth:`SocketGateway.disconnect_token`); every client
event that acts re-reads its user first (:meth:`SocketGateway._still_signed_in`);
and what it holds unsent, acks included, is bounded (:data:`SEND_BUDGET`).

Everything here uses the public API of python-socketio and python-engineio;
``--fast-path`` adds :mod:`.fast_path`, which writes live events past them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import socketio
from engineio import packet as eio_packet
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from socketio import packet as sio_packet

from taskstream_core import Principal, ScanEvent, TaskStream, TaskStreamError, ViewerSession
from taskstream_core.errors import Internal, InvalidRequest, RateLimited, Unauthorized, Unavailable
from taskstream_core.models import utc_now
from taskstream_core.wire import MAX_BODY_BYTES, client_object

from .fast_path import FastPath
from .observability import Metrics, RequestInfo, new_request_id, request_scope
from .socket_packets import MALFORMED_EVENT, RESERVED_EVENT, Answer, ClientPacket

if TYPE_CHECKING:  # imported only with --redis-url, where redis is installed
    from .scaleout import RedisClientManager

__all__ = ["LOGIN_ROOM_PREFIX", "SEND_BUDGET", "SocketGateway", "event_packet", "login_room"]

log = logging.getLogger("taskstream.sockets")

#: Socket.IO rooms named ``session:<token id>`` hold the sockets that signed in with a token.
LOGIN_ROOM_PREFIX: Final = "session:"

Action = Callable[["_Viewer", Mapping[str, Any]], Awaitable[dict[str, Any]]]

#: Characters of packets (acks, live events) one socket may hold unsent before one more is
#: queued: past it the client is deemed not to read, and is disconnected (it resumes with
#: since_seq). One answer larger than this still goes to a client that reads.
SEND_BUDGET: Final = 16 * 1024 * 1024

#: Client events one socket may have acted on at once; more wait their turn. python-socketio
#: runs each event in a task of its own, so without this one socket's burst of joins would
#: build all their answers at once, past :data:`SEND_BUDGET` (40 answers of 9 MB each).
EVENTS_AT_ONCE: Final = 4
#: Client events one socket may have waiting for their turn: one more is answered
#: ``rate_limited`` at once, so that a flood holds no more than this many payloads.
EVENTS_WAITING: Final = 64
#: Live events kept encoded; fan-out sends one event to every socket within moments.
PACKETS_KEPT: Final = 256


def login_room(token_id: str) -> str:
    """The Socket.IO room of the sockets that signed in with one token (for logout)."""
    return LOGIN_ROOM_PREFIX + token_id


def event_packet(event: ScanEvent) -> eio_packet.Packet:
    """The Engine.IO message carrying ``event`` as a Socket.IO event, its text encoded:
    what python-socketio's ``Packet(EVENT, data, namespace="/").encode()`` gives, without
    its walk of every value looking for bytes (an envelope holds none)."""
    data = [event.type.value, event.to_envelope()]
    text = str(sio_packet.EVENT) + ClientPacket.json.dumps(data, separators=(",", ":"))
    packet = eio_packet.Packet(eio_packet.MESSAGE, text)
    packet.encode()  # cached in the packet: every socket writes that string
    return packet


class _Outbox:
    """What one socket holds unsent in python-engineio's queue and writer, in characters.

    Told from the packets the gateway queued (live events and acks, in order)
    and the queue's length. python-engineio's writer takes all its queue holds
    at once and takes again only once it has written that batch: so while it
    takes nothing the queue only grows, and once the queue is seen to have
    lost packets since a look, all that had been taken at that look is
    written. Packets the gateway did not count (pings) only make it count
    more as unsent.
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
    """One authenticated socket: who it is, what it watches, what forwards to it."""

    sid: str
    eio_sid: str
    principal: Principal
    session: ViewerSession
    outbox: _Outbox = field(default_factory=_Outbox)
    #: Set once the socket is being dropped for falling behind: nothing more is queued.
    dropping: bool = False
    #: Set once its token was logged out or its user changed: no event is acted on.
    signed_out: bool = False
    expiry: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: Its client events being acted on (see :data:`EVENTS_AT_ONCE`).
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(EVENTS_AT_ONCE))
    #: Its client events waiting for a turn.
    waiting: int = 0


def _refusal(error: TaskStreamError) -> socketio.exceptions.ConnectionRefusedError:
    """A connect refusal whose ``connect_error`` data carries the contract's code.

    On the wire python-socketio sends ``{"message", "data"}``: the JS client
    exposes ``data`` as ``err.data``, while python-socketio's client hands its
    handler the whole object. The code goes in both places so that either
    client reads ``{"code": "unauthorized", ...}`` where it looks.
    """
    details = {"code": error.code, "message": error.message}
    refusal = socketio.exceptions.ConnectionRefusedError(error.message, details)
    refusal.error_args["code"] = error.code
    return refusal


class _Sent(Collector):
    """``taskstream_socket_events_sent_total{path}``: live events by the road they took."""

    def __init__(self, gateway: SocketGateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[Metric]:
        gateway, fast = self._gateway, self._gateway.fast_path
        sent = CounterMetricFamily(
            "taskstream_socket_events_sent",
            "Live events sent to sockets, by path: fast_path (--fast-path) or engineio.",
            labels=["path"],
        )
        sent.add_metric(["fast_path"], 0 if fast is None else fast.sent)
        sent.add_metric(["engineio"], gateway.queued)
        yield sent
        yield GaugeMetricFamily(
            "taskstream_socket_fast_path",
            "1 while the fast path is installed (--fast-path and the libraries it fits).",
            value=0 if fast is None else 1,
        )


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
        #: python-socketio's Redis manager when processes share ``--redis-url``, else None.
        self.manager = client_manager
        options: dict[str, Any] = {}
        if client_manager is not None:
            options["client_manager"] = client_manager
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            # None is python-engineio's "same origin only".
            cors_allowed_origins=list(cors_allowed_origins) or None,
            max_http_buffer_size=MAX_BODY_BYTES,
            transports=list(transports),
            serializer=ClientPacket,
            # Loggers of our own choosing: with False, python-socketio gives its logger a
            # plain-text handler of its own, which would print errors beside our JSON lines.
            logger=logging.getLogger("socketio.server"),
            engineio_logger=logging.getLogger("engineio.server"),
            **options,
        )
        #: The fast path when ``--fast-path`` installed it, else None.
        self.fast_path = FastPath.install(self.sio.eio) if fast_path else None
        if not fast_path:
            log.info("fast path: off (--no-fast-path)")
        #: Live events queued on python-engineio's queues.
        self.queued = 0
        metrics.registry.register(_Sent(self))
        self._packets: dict[int, tuple[ScanEvent, eio_packet.Packet]] = {}
        self._viewers: dict[str, _Viewer] = {}
        #: token id → the sockets signed in with it or signing in with it.
        self._by_token: dict[str, set[str]] = {}
        #: Sockets still signing in whose token was logged out meanwhile: they are refused.
        self._signed_out: set[str] = set()
        if client_manager is not None:  # a logout on any process reaches this one
            client_manager.on_logout = self.sign_out_here
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("scan:join", self._on_join)
        self.sio.on("scan:leave", self._on_leave)
        self.sio.on("task:submit", self._on_submit)
        self.sio.on("task:decide", self._on_decide)
        self.sio.on(MALFORMED_EVENT, self._on_malformed)
        self.sio.on(RESERVED_EVENT, self._on_reserved)
        self.sio.on("*", self._on_unknown)

    # -- connection lifecycle ---------------------------------------------------------------
    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: object = None) -> bool:
        """Sign a socket in with the token of its auth payload, or refuse it.

        The socket is filed under its token's id before its authentication
        is awaited: a logout meanwhile either reads it there (and refuses it
        here, or drops it once connected) or was stored before the
        authentication reads the revocation. Nothing is awaited between the
        last check and python-socketio marking the socket connected.
        """
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
            if socket is None or socket.closed:
                # The client left while it was being authenticated: python-socketio, which
                # saw no connected socket leave, forgets it once this answers False.
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
        if principal.token_expires_at is not None:
            # The socket closes when the token stops being accepted, so a reconnect is refused.
            ends = principal.token_expires_at + self.core.accounts.tokens.leeway
            remaining = (ends - utc_now()).total_seconds()
            viewer.expiry = asyncio.get_running_loop().call_later(
                max(0.0, remaining), self._expire, viewer
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
        if token_id is None:
            return
        sids = self._by_token.get(token_id)
        if sids is not None:
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

    def _expire(self, viewer: _Viewer) -> None:
        """A socket lives no longer than its token: the client reconnects with a fresh one."""
        self._drop_soon(viewer)

    def _drop_soon(self, viewer: _Viewer) -> None:
        """Disconnect the socket from a task of its own (callers here cannot await)."""
        task = asyncio.get_running_loop().create_task(self._drop(viewer.sid))
        viewer.tasks.add(task)
        task.add_done_callback(viewer.tasks.discard)

    async def _drop(self, sid: str) -> None:
        """Disconnect a socket of this process (nothing to tell the other processes)."""
        await self.sio.disconnect(sid, ignore_queue=True)

    def _forward(self, viewer: _Viewer, eio_sid: str, event: ScanEvent) -> int:
        """Queue an event on the socket's Engine.IO queue, within the fan-out's delivery;
        answer how many packets that queue holds (past ``TaskStream.queue_size`` the core
        closes the viewer as lagged, and :meth:`_fell_behind` drops the socket to resume).

        The packet is encoded once for all sockets (:meth:`_packet`). The event stays in
        this process: every process forwards to its own sockets what its fan-out
        delivered, so no event takes a second, faster road through python-socketio's
        Redis channel.
        """
        if viewer.dropping:
            return 0
        try:
            socket = self.sio.eio.sockets.get(eio_sid)
            if socket is None or socket.closed:
                return 0
            packet = self._packet(event)
            if self.fast_path is not None and self.fast_path.send(socket, packet):
                return 0
            if self._admit(viewer, len(packet.data)):
                socket.queue.put_nowait(packet)
                self.queued += 1
            return int(socket.queue.qsize())
        except Exception as exc:
            log.error("forwarding events failed", exc_info=exc, extra={"sid": viewer.sid})
            viewer.dropping = True
            self._drop_soon(viewer)
            return 0

    def _packet(self, event: ScanEvent) -> eio_packet.Packet:
        """:func:`event_packet` of ``event``, once for every socket: the broker hands every
        subscription the same event object."""
        hit = self._packets.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        packet = event_packet(event)
        if len(self._packets) >= PACKETS_KEPT:
            del self._packets[next(iter(self._packets))]
        self._packets[id(event)] = (event, packet)
        return packet

    def _fell_behind(self, viewer: _Viewer) -> None:
        """It fell behind, or the broker lost events it would have had: drop it to resume."""
        if not viewer.dropping:
            viewer.dropping = True
            log.warning("socket may miss events; disconnecting it", extra={"sid": viewer.sid})
            self._drop_soon(viewer)

    def _admit(self, viewer: _Viewer, size: int) -> bool:
        """Count a packet of ``size`` characters about to be queued for the socket, or, if
        the socket already holds more than :data:`SEND_BUDGET` unsent, drop the socket and
        answer False (the packet is not to be queued)."""
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
            fast.abort(viewer.eio_sid)  # what its connection holds goes now, not when read
        self._drop_soon(viewer)
        return False

    async def disconnect_token(self, token_id: str) -> None:
        """Drop the sockets that signed in with a token now logged out, on every process.

        Call it once the revocation is stored. A socket of this process still
        signing in with the token is refused when its authentication returns;
        with ``--redis-url`` the other processes do the same on the message
        python-socketio's Redis channel carries (see ``scaleout``).
        """
        await self.sign_out_here(token_id)
        if self.manager is not None:
            await self.sio.close_room(login_room(token_id))

    async def sign_out_here(self, token_id: str) -> None:
        """Drop this process's sockets signed in with a token now logged out, and refuse
        those still signing in with it."""
        sids = list(self._by_token.get(token_id, ()))
        connected = []
        for sid in sids:
            viewer = self._viewers.get(sid)
            if viewer is None:
                self._signed_out.add(sid)
            else:
                viewer.signed_out = True
                connected.append(sid)
        for sid in connected:
            await self._drop(sid)

    async def disconnect_all(self) -> None:
        """Tell every client to go (a server shutdown): a long-polling client's pending
        request then returns at once instead of holding the shutdown up."""
        for sid in list(self._viewers):
            with contextlib.suppress(Exception):
                await self._drop(sid)

    async def close(self) -> None:
        """Disconnect whatever is left and stop python-socketio's background tasks."""
        await self.disconnect_all()
        await self.sio.shutdown()
        if self.manager is not None:
            await self.manager.aclose()

    @property
    def connected(self) -> int:
        return len(self._viewers)

    # -- client events ------------------------------------------------------------------------
    async def _answer(
        self, sid: str, payload: object, action: Action, *, acts: bool = True
    ) -> Answer:
        """Run one client event and turn its outcome, whatever it is, into an ack, whose
        text counts against the socket's :data:`SEND_BUDGET` (see :class:`Answer`).

        Args:
            sid: The socket.
            payload: What the client sent with the event.
            action: What the event does, given the socket's viewer and the payload.
            acts: Whether the event acts on the socket's behalf: it waits for one of the
                socket's turns (:data:`EVENTS_AT_ONCE`, :data:`EVENTS_WAITING`), then its
                user is re-read (see :meth:`_still_signed_in`). False for events answered
                with an error.

        Returns:
            ``{"ok": true, ...}`` with the action's answer, or ``{"ok": false, "error": ...}``.
        """
        request_scope(RequestInfo(id=new_request_id()))
        viewer = self._viewers.get(sid)
        outcome = await self._outcome(sid, viewer, payload, action, acts=acts)
        return Answer(outcome, None if viewer is None else functools.partial(self._admit, viewer))

    async def _outcome(
        self, sid: str, viewer: _Viewer | None, payload: object, action: Action, *, acts: bool
    ) -> dict[str, Any]:
        try:
            if viewer is None:
                raise Unauthorized("This socket is not signed in.")
            if not acts:
                body = client_object(payload, "The event's payload")
                return {"ok": True, **await action(viewer, body)}
            if viewer.waiting >= EVENTS_WAITING:
                raise RateLimited("Too many events waiting on this socket.", retry_after=1.0)
            viewer.waiting += 1
            try:
                await viewer.turns.acquire()
            finally:
                viewer.waiting -= 1
            try:
                if viewer.dropping:  # its answer would never be read: build none
                    raise Unavailable("This socket is being disconnected; reconnect and resume.")
                await self._still_signed_in(viewer)
                body = client_object(payload, "The event's payload")
                return {"ok": True, **await action(viewer, body)}
            finally:
                viewer.turns.release()
        except TaskStreamError as exc:
            if isinstance(exc, Internal):
                log.error("internal error: %s", exc.message, extra={"sid": sid})
            return {"ok": False, **exc.to_dict()}
        except Exception as exc:
            log.error("socket event failed", exc_info=exc, extra={"sid": sid})
            return {"ok": False, **Internal().to_dict()}

    async def _still_signed_in(self, viewer: _Viewer) -> None:
        """Re-check the socket's sign-in as every use of a token is re-checked: its token not
        logged out, its user still there with the role it signed in with. One store read
        (the user); a logout is known here without one, since it reaches this process's
        sockets (:meth:`sign_out_here`).

        Raises:
            Unauthorized: The sign-in no longer holds; the socket is disconnected after
                this event's answer.
        """
        if not viewer.signed_out:
            user = await self.core.store.get_user(viewer.principal.user_id)
            if user is not None and user.role is viewer.principal.role and not viewer.signed_out:
                return
        viewer.signed_out = True
        log.info("socket's sign-in no longer holds; disconnecting it", extra={"sid": viewer.sid})
        self._drop_soon(viewer)
        raise Unauthorized("This socket's sign-in is no longer valid; sign in again.")

    async def _on_join(self, sid: str, payload: object = None, *extra: object) -> Answer:
        async def join(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            result = await viewer.session.join(body.get("scan_id"), body.get("since_seq"))
            return result.to_dict()

        return await self._answer(sid, payload, join)

    async def _on_leave(self, sid: str, payload: object = None, *extra: object) -> Answer:
        async def leave(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            viewer.session.leave(body.get("scan_id"))
            return {}

        return await self._answer(sid, payload, leave)

    async def _on_submit(self, sid: str, payload: object = None, *extra: object) -> Answer:
        async def submit(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            task, created = await self.core.submit_task(
                viewer.principal,
                body.get("scan_id"),
                body.get("content"),
                body.get("idempotency_key"),
            )
            outcome = "created" if created else "replayed"
            self.metrics.submissions.labels(transport="socketio", outcome=outcome).inc()
            return {"task": task.to_dict()}

        return await self._answer(sid, payload, submit)

    async def _on_decide(self, sid: str, payload: object = None, *extra: object) -> Answer:
        async def decide(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            task = await self.core.decide_task(
                viewer.principal, body.get("task_id"), body.get("decision"), body.get("reason")
            )
            self.metrics.decisions.labels(transport="socketio", decision=task.status.value).inc()
            return {"task": task.to_dict()}

        return await self._answer(sid, payload, decide)

    async def _on_malformed(self, sid: str, *payload: object) -> Answer:
        async def malformed(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            raise InvalidRequest("The event is not valid JSON of the form [name, payload].")

        return await self._answer(sid, {}, malformed, acts=False)

    async def _on_reserved(self, sid: str, name: object = None, *payload: object) -> Answer:
        """An event named like one Socket.IO reserves (see ``socket_packets``): unknown."""
        return await self._on_unknown(str(name), sid)

    async def _on_unknown(self, event: str, sid: str, *payload: object) -> Answer:
        async def unknown(viewer: _Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
            raise InvalidRequest(f"Unknown event {event[:50]!r}.")

        return await self._answer(sid, {}, unknown, acts=False)
