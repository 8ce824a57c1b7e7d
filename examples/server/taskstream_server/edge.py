"""The ASGI layer in front of Sanic and python-engineio: what every HTTP request gets.

:class:`HttpEdge` runs before Sanic sees a request, so it covers what Sanic
cannot answer in the contract's words on its own (a body over the limit is
refused here before it is read, chunked or not; a body trickled in slower
than :data:`BODY_SECONDS` allows is cut off), and it writes the access log
line and the latency metric for every answer, errors included.

:class:`PollingEdge` does the same for Engine.IO's long-polling POSTs, which
python-engineio answers itself: it reads each body under the same limits and
refuses, with a contract error, what python-engineio would otherwise never
answer, or drop after logging a traceback.

Cross-origin grants are Sanic Extensions' (see :func:`~taskstream_server.app.build_sanic`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from engineio.payload import Payload

from taskstream_core import TaskStreamError
from taskstream_core.errors import InvalidRequest, PayloadTooLarge
from taskstream_core.wire import MAX_BODY_BYTES

from .observability import Metrics, RequestInfo, new_request_id, request_scope

__all__ = [
    "BODY_SECONDS",
    "MAX_POLLING_PACKETS",
    "SECURITY_HEADERS",
    "HttpEdge",
    "PollingEdge",
    "polling_payload_problem",
    "with_frame_check",
    "with_security_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("taskstream.access")

#: Sent with every answer: pages need them, and they cost nothing on JSON.
SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def _with_defaults(headers: Any) -> list[tuple[bytes, bytes]]:
    """Response headers (lower-cased, read once: Sanic hands a generator) plus the security
    headers the app did not set itself."""
    sent = [(bytes(k).lower(), bytes(v)) for k, v in headers or ()]
    present = {k for k, _ in sent}
    return sent + [(k, v) for k, v in SECURITY_HEADERS if k not in present]


def with_security_headers(app: ASGIApp) -> ASGIApp:
    """``app`` with the security headers on its HTTP answers (Socket.IO's long-polling ones)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_defaults(message.get("headers"))
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def _is_engineio_frame(message: Message) -> bool:
    """Whether a websocket message could be an Engine.IO packet: binary, or text starting
    with a packet type digit, or ``b`` and base64 (what python-engineio decodes)."""
    text: str | None = message.get("text")
    if text is None:
        return True  # a binary frame: a binary message
    if not text:
        return False
    if text[0] == "b":
        try:
            base64.b64decode(text[1:], validate=True)
        except binascii.Error:
            return False
        return True
    return "0" <= text[0] <= "9"


def with_frame_check(app: ASGIApp) -> ASGIApp:
    """``app`` with each websocket's frames checked before python-engineio reads them.

    A frame that is no Engine.IO packet at all (empty, or text that starts
    with no packet type) makes python-engineio's websocket handler raise out
    of the ASGI application: an error logged and the connection left open
    until the ping timeout. Here the app is told the client left instead, so
    python-engineio ends that connection cleanly and closes it.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def checked() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and not _is_engineio_frame(message):
                log.info("a websocket frame that is no Engine.IO packet; closing it")
                return {"type": "websocket.disconnect", "code": 1002}
            return message

        await app(scope, checked, send)

    return wrapped


#: How much of a refused body is read (and dropped), and for how long, so that its
#: sender sees the 413.
_DRAIN_BUDGET: Final = 1024 * 1024
_DRAIN_SECONDS: Final = 1.0

#: How long a request body may take to arrive whole, from the moment its headers have
#: (the largest, 64 KiB, at 6.5 KB/s). A body trickled in slower (a "slowloris" holding a
#: connection and its file descriptor) is answered 400 and its connection closed.
BODY_SECONDS: Final = 10.0

#: The most packets python-engineio decodes from one long-polling POST; past that it
#: drops them all (``engineio.payload.Payload.max_decode_packets``).
MAX_POLLING_PACKETS: Final[int] = int(Payload.max_decode_packets)

#: Engine.IO packet types a client sends in a long-polling POST: close, pong, message,
#: upgrade (open, ping and noop are the server's; python-engineio leaves such a POST
#: unanswered). A binary message is ``b`` and base64.
_CLIENT_PACKETS: Final = frozenset("1345")


class _BodyTooLarge(Exception):
    def __init__(self, *, fully_read: bool) -> None:
        super().__init__()
        self.fully_read = fully_read


class _BodyTooSlow(Exception):
    pass


class _ClientGone(Exception):
    pass


async def _read_body(
    headers: dict[bytes, bytes], receive: Receive, *, limit: int, seconds: float
) -> bytes:
    """The whole body, refusing it as soon as it is known to pass ``limit`` bytes.

    Raises:
        _BodyTooLarge: the declared length or the bytes received pass ``limit``.
        _BodyTooSlow: the body did not arrive whole within ``seconds``.
        _ClientGone: the client disconnected first.
    """
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _BodyTooLarge(fully_read=False)
        except ValueError:
            pass  # the HTTP parser has already refused a malformed length
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise _ClientGone()  # nobody is left to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge(fully_read=not message.get("more_body", False))
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise _BodyTooSlow() from None
    return b"".join(chunks)


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of a refused body, up to a bound.

    Closing a connection that still has unread bytes makes the OS reset it,
    and a client still sending would see that reset instead of the 413.
    Past the bound (a client sending far too much, or too slowly), the
    reset it gets is fair.
    """
    budget = _DRAIN_BUDGET
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while budget > 0:
                message = await receive()
                if message["type"] != "http.request":
                    return
                budget -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real stream."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _send_error(send: Send, error: TaskStreamError, *, close: bool = False) -> None:
    """Answer with ``error`` in the contract's JSON; ``close``: and end the connection."""
    payload = json.dumps(error.to_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")


def _too_slow(seconds: float) -> InvalidRequest:
    return InvalidRequest(f"The request body did not arrive within {seconds:g} seconds.")


async def _read_or_refuse(
    headers: dict[bytes, bytes], receive: Receive, send: Send, *, limit: int, seconds: float
) -> bytes | int:
    """The request's body, or the status it was refused with (answered and closing; 499
    when the client left first, answered to nobody)."""
    try:
        return await _read_body(headers, receive, limit=limit, seconds=seconds)
    except _BodyTooLarge as refused:
        if not refused.fully_read:
            await _drain(receive)
        error: TaskStreamError = _too_large(limit)
    except _BodyTooSlow:
        error = _too_slow(seconds)
    except _ClientGone:
        return 499  # nginx's "client closed request", for the log only
    await _send_error(send, error, close=True)
    return error.status


class HttpEdge:
    """Wraps the Sanic ASGI app for ``http`` scopes; refuses websockets (Socket.IO has its own)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        *,
        max_body: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Live events are Socket.IO's, at /socket.io; Sanic has no websocket routes.
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        proposed = headers.get(b"x-request-id", b"").decode("latin-1")
        info = RequestInfo(id=new_request_id(proposed))
        request_scope(info)
        scope["headers"] = [
            (k, v) for k, v in scope.get("headers") or () if k != b"x-request-id"
        ] + [(b"x-request-id", info.id.encode())]
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                sent = _with_defaults(message.get("headers"))
                sent += [(b"x-request-id", info.id.encode())]
                message["headers"] = sent
            await send(message)

        try:
            body = await _read_or_refuse(
                headers,
                receive,
                send_with_headers,
                limit=self.max_body,
                seconds=self.body_seconds,
            )
            if isinstance(body, int):
                status = body
                return
            await self.app(scope, _replay(body, receive), send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = info.route or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.http_latency.labels(
                method=method, route=route, status=str(status)
            ).observe(elapsed)
            log.info(
                "%s %s %d",
                method,
                scope.get("path", ""),
                status,
                extra={
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


def _polling_packets(body: bytes) -> list[str]:
    """The packets of a long-polling POST body, as python-engineio splits them.

    Raises:
        ValueError: the body is not UTF-8, or a JSONP form without its ``d`` field; the
            message says which.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("An Engine.IO payload must be UTF-8 text.") from None
    if text.startswith("d="):  # JSONP-polling: the payload is the form field `d`
        fields = urllib.parse.parse_qs(text)
        if "d" not in fields:
            raise ValueError("A JSONP-polling payload has no `d` field.")
        text = fields["d"][0]
    return text.split("\x1e") if text else []


def _packet_problem(packet: str) -> str | None:
    """Why python-engineio could not take one packet from a client, or None if it can."""
    if not packet:
        return "An Engine.IO payload holds an empty packet."
    if packet[0] == "b":
        try:
            base64.b64decode(packet[1:])
        except binascii.Error:
            return "A binary Engine.IO packet is not base64."
        return None
    if packet[0] not in _CLIENT_PACKETS:
        return f"{packet[0]!r} is not an Engine.IO packet type a client sends."
    return None


def polling_payload_problem(body: bytes, *, max_packets: int = MAX_POLLING_PACKETS) -> str | None:
    """Why python-engineio could not take ``body`` as a long-polling POST, or None if it can.

    It checks what python-engineio's decoding (``engineio.payload.Payload``,
    ``engineio.packet.Packet``) would fail on, or handle by leaving the POST
    unanswered: a body that is not UTF-8, more than ``max_packets`` packets,
    an empty packet, a packet type a client never sends, a binary packet
    that is not base64.

    Args:
        body: The POST's whole body.
        max_packets: The most packets one POST may carry.

    Returns:
        A sentence for the client, or None when every packet can be decoded.
    """
    try:
        packets = _polling_packets(body)
    except ValueError as exc:
        return str(exc)
    if len(packets) > max_packets:
        return (
            f"An Engine.IO payload may carry at most {max_packets} packets; "
            f"this one has {len(packets)}."
        )
    return next(filter(None, map(_packet_problem, packets)), None)


class PollingEdge:
    """In front of python-engineio: its long-polling POSTs, read and checked before it sees them.

    python-engineio refuses a POST whose declared length passes its
    ``max_http_buffer_size`` by disconnecting the session, which waits for a
    GET to carry the close packet: the POST is never answered and stays in
    memory. A chunked POST it reads whole and then drops, answering "OK".
    Past 16 packets, or on a packet it cannot decode, it drops every packet,
    answers "OK" and logs a traceback. Here each POST to ``path`` is read
    under the same limits as any other request (``max_body`` bytes, within
    ``body_seconds``) and its packets checked with
    :func:`polling_payload_problem`: what passes reaches python-engineio with
    its ``Content-Length`` set; what does not is answered 413 or 400 in the
    contract's words and its connection closed. Every other request passes
    through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str = "/socket.io",
        max_body: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
        max_packets: int = MAX_POLLING_PACKETS,
    ) -> None:
        self.app = app
        #: Engine.IO's path as python-engineio matches it: itself and everything under it.
        self.prefix = path.rstrip("/") + "/"
        self.max_body = max_body
        self.body_seconds = body_seconds
        self.max_packets = max_packets

    def _guards(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        path = str(scope.get("path", ""))
        return (path if path.endswith("/") else path + "/").startswith(self.prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._guards(scope):
            await self.app(scope, receive, send)
            return
        raw_headers = list(scope.get("headers") or ())
        body = await _read_or_refuse(
            dict(raw_headers),
            receive,
            send,
            limit=self.max_body,
            seconds=self.body_seconds,
        )
        if isinstance(body, int):
            return
        problem = polling_payload_problem(body, max_packets=self.max_packets)
        if problem is not None:
            await _send_error(send, InvalidRequest(problem), close=True)
            return
        # python-engineio reads as many bytes as Content-Length says: a chunked body has none.
        framing = (b"content-length", b"transfer-encoding")
        scope["headers"] = [(k, v) for k, v in raw_headers if k.lower() not in framing] + [
            (b"content-length", str(len(body)).encode())
        ]
        await self.app(scope, _replay(body, receive), send)
