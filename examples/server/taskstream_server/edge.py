"""The ASGI layer in front of Sanic: what every HTTP request gets, whatever its route.

It runs before Sanic sees a request, so it covers what Sanic cannot answer
in the contract's words on its own (a body over the limit is refused here
before it is read, chunked or not), and it writes the access log line and
the latency metric for every answer, errors included.

Cross-origin browser calls are closed unless ``--cors-origin`` names the
calling origin: only then does an answer carry ``Access-Control-Allow-Origin``
and a preflight succeed; any other origin's preflight is a 403. Nothing is
refused for carrying an ``Origin`` alone: the API authenticates with a bearer
header, never a cookie, so a cross-site request holds no credential to abuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from taskstream_core import Forbidden, PayloadTooLarge, TaskStreamError
from taskstream_core.validation import MAX_BODY_BYTES

from .observability import Metrics, RequestInfo, new_request_id, request_scope

__all__ = ["SECURITY_HEADERS", "HttpEdge", "with_security_headers"]

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


#: What a preflight from an allowed origin may ask for: the contract's methods and headers.
_PREFLIGHT_ANSWER: Final = (
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, X-Request-ID"),
    (b"access-control-max-age", b"600"),
)
#: Answer headers a cross-origin caller's script may read besides the basic ones.
_EXPOSED: Final = b"Retry-After, X-Request-ID, Content-Disposition"


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


#: How much of a refused body is read (and dropped), and for how long, so that its
#: sender sees the 413.
_DRAIN_BUDGET: Final = 1024 * 1024
_DRAIN_SECONDS: Final = 1.0


class _BodyTooLarge(Exception):
    def __init__(self, *, fully_read: bool) -> None:
        super().__init__()
        self.fully_read = fully_read


class _ClientGone(Exception):
    pass


class HttpEdge:
    """Wraps the Sanic ASGI app for ``http`` scopes; refuses websockets (Socket.IO has its own)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        *,
        max_body: int = MAX_BODY_BYTES,
        allowed_origins: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        #: Browser origins other than the server's own that may call the API ("*": any).
        self.allowed_origins = frozenset(allowed_origins)

    def _allowed_origin(self, headers: dict[bytes, bytes]) -> bytes | None:
        """The request's ``Origin`` when it is one the server was told to allow, else None."""
        origin = headers.get(b"origin")
        if origin is None or not self.allowed_origins:
            return None
        if "*" in self.allowed_origins or origin.decode("latin-1") in self.allowed_origins:
            return origin
        return None

    def _cors(self, allowed: bytes | None) -> list[tuple[bytes, bytes]]:
        """The CORS headers of an answer: the origin echoed when allowed, nothing otherwise."""
        if not self.allowed_origins:
            return []
        vary = [(b"vary", b"Origin")]  # answers differ by origin, so caches must keep them apart
        if allowed is None:
            return vary
        return [
            *vary,
            (b"access-control-allow-origin", allowed),
            (b"access-control-expose-headers", _EXPOSED),
        ]

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
        allowed = self._allowed_origin(headers)
        cors = self._cors(allowed)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                sent = _with_defaults(message.get("headers"))
                sent += [*cors, (b"x-request-id", info.id.encode())]
                message["headers"] = sent
            await send(message)

        try:
            if scope.get("method") == "OPTIONS" and b"access-control-request-method" in headers:
                status = await self._preflight(send_with_headers, allowed=allowed is not None)
                return
            try:
                body = await self._read_body(headers, receive)
            except _BodyTooLarge as refused:
                if not refused.fully_read:
                    await self._drain(receive)
                await self._too_large(send_with_headers)
                return
            except _ClientGone:
                status = 499  # nginx's "client closed request", for the log only
                return
            await self.app(scope, self._replay(body, receive), send_with_headers)
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

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        """The whole body, refusing it as soon as it is known to pass the limit."""
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    raise _BodyTooLarge(fully_read=False)
            except ValueError:
                pass  # the HTTP parser has already refused a malformed length
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone()  # nobody is left to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _BodyTooLarge(fully_read=not message.get("more_body", False))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _drain(self, receive: Receive) -> None:
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

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        """A ``receive`` that hands Sanic the body already read, then the real stream."""
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def replayed() -> Message:
            if pending:
                return pending.pop()
            return await receive()

        return replayed

    @staticmethod
    async def _preflight(send: Send, *, allowed: bool) -> int:
        """A browser asking whether another origin may call: yes for a configured origin."""
        if allowed:
            await send(
                {"type": "http.response.start", "status": 204, "headers": list(_PREFLIGHT_ANSWER)}
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return 204
        error = Forbidden("This origin may not call the API (see --cors-origin).")
        await HttpEdge._error(send, error)
        return error.status

    @staticmethod
    async def _error(send: Send, error: TaskStreamError, *, close: bool = False) -> None:
        payload = json.dumps(error.to_dict()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _too_large(self, send: Send) -> None:
        limit = f"{self.max_body // 1024} KiB"
        error = PayloadTooLarge(f"The request body is larger than {limit}.")
        await self._error(send, error, close=True)
