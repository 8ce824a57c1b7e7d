"""The core, Sanic and Socket.IO assembled into one ASGI app.

``socketio.ASGIApp`` answers ``/socket.io`` and hands everything else to Sanic, as the
python-socketio maintainer recommends; :class:`~taskstream_server.edge.Edge` is in front
of both. The ASGI lifespan opens the core before Sanic starts and closes it last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from sanic import Sanic

from taskstream_core import TaskStream, TaskStreamError, TokenIssuer, open_broker, open_store

from .edge import ASGIApp, Edge, Message, Receive, Scope, Send, with_frame_check
from .http_api import HttpApi
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
        engineio = socketio.ASGIApp(self.sockets.sio, other_asgi_app=self._inner)
        self.asgi = Edge(with_frame_check(engineio), self.metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    async def _inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "websocket":  # live events are Socket.IO's, at /socket.io
            await receive()
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        else:
            await self.sanic(scope, receive, send)

    async def start_core(self) -> str | None:
        """Open the store and the broker; None, or why they cannot be opened, in one line."""
        try:
            await self.core.start()
        except TaskStreamError as exc:
            return exc.message
        except Exception as exc:
            return f"Cannot open the store {self.core.store.url}: {exc}"
        return None

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the core, then let Sanic run its own lifespan; close the core last."""
        first = await receive()
        self.startup_error = await self.start_core()
        if self.startup_error is not None:
            await send({"type": "lifespan.startup.failed", "message": self.startup_error})
            return
        replay = [first]

        async def receive_after_startup() -> Message:
            return replay.pop() if replay else await receive()

        async def send_after_core(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    await self.sockets.close()
                finally:
                    await self.core.stop()
                log.info("stopped")
            elif message["type"] == "lifespan.startup.failed":
                self.startup_error = str(message.get("message") or "the web app failed to start")
                await self.core.stop()
            await send(message)

        await self.sanic(scope, receive_after_startup, send_after_core)


def build_sanic(name: str = "taskstream", cors_origins: Sequence[str] = ()) -> Sanic[Any, Any]:
    """A Sanic app for ASGI, with no routes yet; Sanic Extensions' CORS for ``cors_origins``."""
    app: Sanic[Any, Any] = Sanic(name, configure_logging=False)
    app.config.MOTD = False
    app.config.AUTO_EXTEND = False
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

    Args:
        settings: The server's settings.
        name: Sanic's name for the app (unique in a process).
        static_dir: Where ``fallback.html`` and the built dashboard (``app/``) are.

    Raises:
        ValueError: A store or broker URL no adapter understands.
        ImportError: The adapter for a known scheme is not installed.
    """
    metrics = Metrics()
    broker = open_broker(settings.redis_url or "memory://")
    core = TaskStream(
        store=open_store(settings.store_url),
        tokens=TokenIssuer(settings.secrets.jwt_secret),
        admin_invite_code=settings.secrets.admin_invite_code,
        broker=broker,
        observer=LiveMetrics(metrics),
        undo_seconds=settings.undo_seconds,
    )
    # One viewer per socket: after every socket is gone this reads 0 (else sessions leak).
    metrics.broker_subscriptions.set_function(lambda: core.fanout.viewer_count)
    manager = None
    if settings.redis_url:  # these import redis, an optional extra
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
    HttpApi(core, sockets, metrics).register_on(sanic)
    Pages(static_dir).register_on(sanic)
    return ServerApp(core=core, sanic=sanic, sockets=sockets, metrics=metrics)
