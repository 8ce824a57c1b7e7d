"""The ASGI layer in front of Sanic and python-engineio: what every request gets.

:class:`Edge` reads each HTTP body under the contract's limits (size, and time: a body
trickled in slower than :data:`BODY_SECONDS` allows is cut off), refuses Engine.IO
long-polling POSTs python-engineio would leave unanswered, adds the security headers and
the request id, and writes the access log line and the latency metric of every answer.
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
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final

from engineio.payload import Payload

from taskstream_core import TaskStreamError
from taskstream_core.errors import InvalidRequest, PayloadTooLarge, Unavailable
from taskstream_core.wire import MAX_BODY_BYTES

from .observability import Metrics, RequestInfo, new_request_id, request_scope

__all__ = [
    "BODY_SECONDS",
    "MAX_POLLING_PACKETS",
    "SECURITY_HEADERS",
    "Edge",
    "polling_payload_problem",
    "socketio_origins",
    "with_frame_check",
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
#: How long a request body may take to arrive whole once its headers have (a slowloris
#: holding a connection is answered 400 and closed).
BODY_SECONDS: Final = 10.0
#: The most packets python-engineio decodes from one long-polling POST (it drops more).
MAX_POLLING_PACKETS: Final[int] = int(Payload.max_decode_packets)
#: Methods the latency metric names; any other is counted as ``other``.
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Engine.IO packet types a client sends: close, pong, message, upgrade; ``b``: base64.
_CLIENT_PACKETS: Final = frozenset("1345")
#: ... and on a websocket, also ping (``2probe``, before an upgrade) and noop.
_CLIENT_FRAMES: Final = frozenset("123456")
#: How much of a refused body is read and dropped, and for how long, so that its sender
#: sees the 413 rather than a connection reset.
_DRAIN_BYTES: Final = 1024 * 1024
_DRAIN_SECONDS: Final = 1.0


def _is_engineio_frame(message: Message) -> bool:
    """Whether a websocket message could be an Engine.IO packet (binary, a type digit, or
    ``b`` and base64)."""
    text: str | None = message.get("text")
    if text is None or text[:1] != "b":
        return text is None or text[:1] in _CLIENT_FRAMES
    try:
        base64.b64decode(text[1:], validate=True)
    except binascii.Error:
        return False
    return True


def with_frame_check(app: ASGIApp) -> ASGIApp:
    """``app``, told that a websocket's client left when it sends a frame that is no Engine.IO
    packet (python-engineio would raise, and leave the connection open until its ping timeout)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def checked() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and not _is_engineio_frame(message):
                log.info("a websocket frame that is no Engine.IO packet; closing it")
                return {"type": "websocket.disconnect", "code": 1002}
            return message

        await app(scope, checked if scope["type"] == "websocket" else receive, send)

    return wrapped


def socketio_origins(
    origins: Sequence[str],
) -> Callable[[str, Mapping[str, Any]], bool] | str | None:
    """python-engineio's ``cors_allowed_origins`` for the server's own origin plus ``origins``.

    None (no origins) is python-engineio's same-origin check; a list would replace it, and
    refuse the dashboard the server itself serves. The check below is the same-origin one
    (the ``Host`` or ``X-Forwarded-Host``, with the scheme or ``X-Forwarded-Proto``) with
    ``origins`` added.
    """
    if not origins:
        return None
    if "*" in origins:
        return "*"
    allowed = frozenset(origins)

    def check(origin: str, environ: Mapping[str, Any]) -> bool:
        if origin in allowed:
            return True
        host = environ.get("HTTP_HOST", "")
        scheme = environ.get("wsgi.url_scheme", "http")
        forwarded_scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
        return origin in {f"{scheme}://{host}", f"{forwarded_scheme}://{forwarded_host}"}

    return check


def polling_payload_problem(  # noqa: PLR0911 - one sentence per way to fail
    body: bytes, *, max_packets: int = MAX_POLLING_PACKETS
) -> str | None:
    """Why python-engineio could not take ``body`` as a long-polling POST, or None if it can.

    It drops every packet of a POST with one it cannot decode, answers "OK" and logs a
    traceback: a body not UTF-8, more than ``max_packets`` packets, an empty packet, a
    packet type a client never sends, a binary packet that is not base64.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "An Engine.IO payload must be UTF-8 text."
    if text.startswith("d="):  # JSONP-polling: the payload is the form field `d`
        text = urllib.parse.parse_qs(text).get("d", [""])[0]
        if not text:
            return "A JSONP-polling payload has no `d` field."
    packets = text.split("\x1e") if text else []
    if len(packets) > max_packets:
        return (
            f"An Engine.IO payload may carry at most {max_packets} packets; "
            f"this one has {len(packets)}."
        )
    for packet in packets:
        if not packet:
            return "An Engine.IO payload holds an empty packet."
        if packet[0] == "b":
            try:
                base64.b64decode(packet[1:])
            except binascii.Error:
                return "A binary Engine.IO packet is not base64."
        elif packet[0] not in _CLIENT_PACKETS:
            return f"{packet[0]!r} is not an Engine.IO packet type a client sends."
    return None


async def _send_error(send: Send, error: TaskStreamError) -> int:
    """Answer ``error`` in the contract's JSON and close the connection; its status."""
    payload = json.dumps(error.to_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
    return error.status


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of a refused body, up to a bound."""
    budget = _DRAIN_BYTES
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while budget > 0:
                message = await receive()
                budget -= len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    return


async def _read_or_refuse(
    headers: dict[bytes, bytes], receive: Receive, send: Send, limit: int, seconds: float
) -> bytes | int:
    """The whole body, or the status it was refused with (answered; 499: the client left)."""
    too_large = PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        await _drain(receive)
        return await _send_error(send, too_large)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return 499  # nginx's "client closed request", for the log only
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    if message.get("more_body"):
                        await _drain(receive)
                    return await _send_error(send, too_large)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        slow = InvalidRequest(f"The request body did not arrive within {seconds:g} seconds.")
        return await _send_error(send, slow)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real stream."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


class Edge:
    """The ASGI app in front of ``app`` (python-socketio's, which hands the rest to Sanic)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        *,
        engineio_path: str = "/socket.io",
        max_body: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.engineio_prefix = engineio_path.rstrip("/") + "/"
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        info = RequestInfo(id=new_request_id(headers.get(b"x-request-id", b"").decode("latin-1")))
        request_scope(info)
        scope["headers"] = [(k, v) for k, v in scope.get("headers") or () if k != b"x-request-id"]
        scope["headers"].append((b"x-request-id", info.id.encode()))
        status = 500
        answering = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                answering = True
                status = int(message["status"])
                sent = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers") or ()]
                present = {k for k, _ in sent}
                sent += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*sent, (b"x-request-id", info.id.encode())]
            await send(message)

        path = str(scope.get("path", ""))
        engineio = (path.rstrip("/") + "/").startswith(self.engineio_prefix)
        if engineio:  # answered by python-engineio, not Sanic
            info.route = self.engineio_prefix
        try:
            body = await _read_or_refuse(
                headers, receive, send_with_headers, self.max_body, self.body_seconds
            )
            if isinstance(body, int):
                status = body
                return
            if engineio and scope.get("method") == "POST":
                problem = polling_payload_problem(body)
                if problem is not None:
                    await _send_error(send_with_headers, InvalidRequest(problem))
                    return
                # python-engineio reads as many bytes as Content-Length says (chunked: none).
                framing = (b"content-length", b"transfer-encoding")
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in framing]
                scope["headers"].append((b"content-length", str(len(body)).encode()))
            await self.app(scope, _replay(body, receive), send_with_headers)
        except asyncio.CancelledError:
            # The ASGI server's graceful shutdown ran out (a body still arriving, an answer
            # still being made): the contract's 503 rather than its plain-text 500. The task
            # ends here, as the cancellation asked.
            if not answering:
                stopping = Unavailable("The server is shutting down; retry shortly.")
                status = await _send_error(send_with_headers, stopping)
        finally:
            elapsed = time.perf_counter() - started
            method, route = str(scope.get("method", "")), info.route or "unmatched"
            label = method if method in _METHODS else "other"  # a client's word: bounded
            self.metrics.http_latency.labels(label, route, str(status)).observe(elapsed)
            log.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
