"""Composition: the core, Sanic and Socket.IO assembled into one ASGI app.

``socketio.ASGIApp`` answers ``/socket.io`` and hands everything else to
Sanic (through :class:`HttpEdge`), which is how the python-socketio
maintainer recommends pairing the two rather than Sanic's own Socket.IO
mode. The ASGI lifespan opens the core before the first request and, on
shutdown, disconnects the sockets and closes the core after the last one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from sanic import Sanic

from taskstream_core import (
    TaskStream,
    TaskStreamError,
    TokenIssuer,
    mask_url,
    open_broker,
    open_store,
)

from .edge import (
    ASGIApp,
    HttpEdge,
    Message,
    PollingEdge,
    Receive,
    Scope,
    Send,
    with_frame_check,
    with_security_headers,
)
from .http_api import HttpApi, register_error_handler
from .observability import LiveMetrics, Metrics
from .pages import STATIC_DIR, Pages
from .settings import Settings
from .sockets import SocketGateway

__all__ = ["ServerApp", "build_app", "build_sanic"]

log = logging.getLogger("taskstream.server")


@dataclass(eq=False)
class ServerApp:
    """The assembled server: call it as an ASGI app; the parts stay reachable for tests."""

    core: TaskStream
    sanic: Sanic[Any, Any]
    sockets: SocketGateway
    metrics: Metrics
    asgi: ASGIApp = field(init=False)
    #: Why the lifespan startup failed, in one line, if it did.
    startup_error: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        edge = HttpEdge(self.sanic, self.metrics)

        async def http(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send, edge)
            else:
                await edge(scope, receive, send)

        # Socket.IO's long-polling POSTs are read and checked before python-engineio sees
        # them, and its answers get the security headers too.
        self.asgi = with_security_headers(
            PollingEdge(
                with_frame_check(
                    socketio.ASGIApp(
                        self.sockets.sio, other_asgi_app=http, socketio_path="socket.io"
                    )
                ),
                path="/socket.io",
                max_body=self.sockets.sio.eio.max_http_buffer_size,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> None:
        """Start the core, then let Sanic run its own lifespan; close the core last."""
        first = await receive()
        if first["type"] != "lifespan.startup":  # pragma: no cover - ASGI says startup comes first
            return
        try:
            await self.core.start()
        except TaskStreamError as exc:  # the store says what it could not open
            self.startup_error = exc.message
            await send({"type": "lifespan.startup.failed", "message": self.startup_error})
            return
        except Exception as exc:
            self.startup_error = f"Cannot open the store {self.core.store.url}: {exc}"
            await send({"type": "lifespan.startup.failed", "message": self.startup_error})
            return
        replay = [first]

        async def receive_after_startup() -> Message:
            return replay.pop() if replay else await receive()

        async def send_after_core(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self._close()
            elif message["type"] == "lifespan.startup.failed":
                self.startup_error = str(message.get("message") or "the web app failed to start")
                await self.core.stop()
            await send(message)

        await inner(scope, receive_after_startup, send_after_core)

    async def _close(self) -> None:
        try:
            await self.sockets.close()
        finally:
            await self.core.stop()
        log.info("stopped")


def build_sanic(name: str = "taskstream", cors_origins: Sequence[str] = ()) -> Sanic[Any, Any]:
    """A Sanic app configured for ASGI behind uvicorn, with no routes yet.

    Args:
        name: Sanic's name for the app.
        cors_origins: Browser origins besides the server's own that may call the API
            (``--cors-origin``; ``*`` for any). Sanic Extensions' CORS answers their
            preflights and grants them the answers; no other origin gets a grant.

    Returns:
        The app.
    """
    app: Sanic[Any, Any] = Sanic(name, configure_logging=False)
    app.config.MOTD = False
    app.config.AUTO_EXTEND = False
    app.config.REQUEST_ID_HEADER = "X-Request-ID"
    if cors_origins:
        import sanic_ext  # noqa: PLC0415 - only with --cors-origin: it imports pydantic

        sanic_ext.Extend(
            app,
            config=sanic_ext.Config(
                cors_origins="*" if "*" in cors_origins else list(cors_origins),
                cors_methods="GET,POST",
                cors_allow_headers="Authorization,Content-Type,X-Request-ID",
                cors_expose_headers="Retry-After,X-Request-ID,Content-Disposition",
                cors_max_age=600,
                http_auto_head=False,
                http_auto_trace=False,
                oas=False,
                health=False,
            ),
        )
    return app


def build_app(
    settings: Settings, *, name: str = "taskstream", static_dir: Path = STATIC_DIR
) -> ServerApp:
    """Everything wired, nothing started: the lifespan opens the store.

    ``static_dir`` holds ``fallback.html`` and, once built, the dashboard in ``app/``.

    Raises ``ValueError`` for a store or broker URL no adapter understands,
    and ``ImportError`` when the adapter for a known scheme is missing.
    """
    metrics = Metrics()
    store = open_store(settings.store_url)
    broker = open_broker(settings.redis_url) if settings.redis_url else open_broker("memory://")
    core = TaskStream(
        store=store,
        tokens=TokenIssuer(settings.secrets.jwt_secret),
        admin_invite_code=settings.secrets.admin_invite_code,
        broker=broker,
        observer=LiveMetrics(metrics.events_published),
    )
    # Each socket holds one viewer: after every socket is gone this reads 0, which is how a
    # leak of sessions shows (tests/soak/test_storm.py watches it).
    metrics.track_subscriptions(lambda: core.fanout.viewer_count)
    manager = None
    if settings.redis_url:
        # Only with --redis-url: these import redis, an optional extra.
        from taskstream_core.brokers.redis import RedisBroker  # noqa: PLC0415

        from .scaleout import BrokerMetrics, RedisClientManager  # noqa: PLC0415

        manager = RedisClientManager.for_url(settings.redis_url)
        if isinstance(broker, RedisBroker):
            metrics.registry.register(BrokerMetrics(broker))
    sockets = SocketGateway(
        core,
        metrics,
        cors_allowed_origins=settings.cors_allowed_origins,
        client_manager=manager,
        transports=settings.transports,
        fast_path=settings.fast_path,
    )
    sanic = build_sanic(name, settings.cors_allowed_origins)
    register_error_handler(sanic)
    scheme = mask_url(settings.store_url).partition("://")[0].lower()
    HttpApi(core, sockets, metrics, scheme).register_on(sanic)
    Pages(static_dir).register_on(sanic)
    return ServerApp(
        core=core,
        sanic=sanic,
        sockets=sockets,
        metrics=metrics,
    )
