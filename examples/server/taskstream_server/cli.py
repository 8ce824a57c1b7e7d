"""``taskstream-server``: arguments and environment in, a running uvicorn out.

Exit codes: 0 after SIGTERM/SIGINT, 2 when the server cannot start with what it was given
(one line on stderr says why). ``--workers N`` runs uvicorn's own supervisor, after this
process has opened the core once, so that a setting that cannot work fails once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Final

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from taskstream_core import mask_url
from taskstream_core.wire import MAX_BODY_BYTES

from . import __version__, fast_path
from .app import ServerApp, build_app
from .observability import configure_logging
from .settings import Settings, SettingsError, build_parser, resolve_settings

__all__ = ["main", "worker_app"]

log = logging.getLogger("taskstream.server")

EXIT_OK = 0
EXIT_CANNOT_START = 2
#: How long a thread may hold the GIL while another waits (CPython: 5 ms): the SQLite
#: store's commit thread waited for it, and with it every acknowledged submit.
GIL_SWITCH_INTERVAL: Final = 0.0002
#: The most a request's line and headers may take (h11 answers 400 past it).
MAX_REQUEST_HEAD: Final = 64 * 1024
#: The largest websocket message read before closing with 1009 (python-engineio's limit,
#: plus room for the Engine.IO and Socket.IO prefix).
WS_MAX_SIZE: Final = MAX_BODY_BYTES + 1024


def _url(settings: Settings) -> str:
    """The address a browser on this machine opens."""
    anywhere = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
    host = anywhere.get(settings.host, settings.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/"


class _Server(uvicorn.Server):
    """uvicorn, which says where to open the server, and sends Socket.IO clients away before
    it waits for connections at shutdown (a long-poll would hold it for the whole timeout)."""

    def __init__(self, config: uvicorn.Config, app: ServerApp, url: str) -> None:
        super().__init__(config)
        self._app, self._url = app, url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("open %s in a browser", self._url, extra={"url": self._url, "_plain": True})

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:  # stop accepting first, so nobody reconnects here
            listener.close()
        try:
            await asyncio.wait_for(self._app.sockets.disconnect_all(drain=2), 4)
        except Exception as exc:  # never let this stop the shutdown itself
            log.warning("could not disconnect every socket: %s", exc)
        if self.config.ws == fast_path.WS_PROTOCOL:
            for connection in list(self.server_state.connections):
                fast_path.guard_shutdown(connection)
        await super().shutdown(sockets)


def _fail(message: str) -> int:
    print(f"taskstream-server: {message}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_START


def _prepare(
    argv: Sequence[str], env: Mapping[str, str], **log_fields: object
) -> tuple[Settings, ServerApp] | str:
    """The settings and app of the arguments, logging configured; or why they cannot run."""
    args = build_parser(env).parse_args(list(argv))
    try:
        settings = resolve_settings(args, env)
        configure_logging(settings.log_level, settings.log_format, fields=log_fields)
        return settings, build_app(settings)
    except SettingsError as exc:
        return str(exc)
    except ImportError as exc:
        if args.redis_url and (exc.name or "").partition(".")[0] == "redis":
            return (
                f"--redis-url {mask_url(args.redis_url)} needs the redis extra: "
                'pip install "taskstream-server[redis]"'
            )
        return f"A storage adapter is missing: {exc}"
    except ValueError as exc:  # an unknown scheme or a malformed URL
        return str(exc)


def _announce(settings: Settings) -> None:
    """Log the start, and the invite code (once) or where it is kept, on a line of its own."""
    log.info(
        "starting taskstream-server %s",
        __version__,
        extra={
            "store": mask_url(settings.store_url),
            "redis": mask_url(settings.redis_url) if settings.redis_url else None,
            "workers": settings.workers,
            "transports": ",".join(settings.transports),
            "fast_path": settings.fast_path,
        },
    )
    secrets = settings.secrets
    kept_in = str(secrets.path) if secrets.path is not None else "memory only"
    extra: dict[str, object] = {"kept_in": kept_in, "_plain": True}
    if secrets.invite_code_origin == "generated":
        extra["admin_invite_code"] = code = secrets.admin_invite_code
        log.warning("admin invite code: %s (kept in %s)", code, kept_in, extra=extra)
    elif secrets.invite_code_origin == "kept":
        log.info("the admin invite code is kept in %s", kept_in, extra=extra)


def _config(settings: Settings, app: ServerApp | str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        http="h11",  # httptools has no limit on a request's head
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
        ws=fast_path.WS_PROTOCOL if settings.fast_path else "wsproto",
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=False,  # per-socket compression undoes the shared encoding
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


def _quiet_exit_on_signals() -> None:
    """Make the SIGTERM/SIGINT uvicorn re-raises once it has shut down a clean exit 0."""

    def after_shutdown(signum: int, frame: FrameType | None) -> None:
        del signum, frame

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, after_shutdown)


def _serve(settings: Settings, app: ServerApp) -> int:
    """Run uvicorn in this process until SIGTERM/SIGINT."""
    _quiet_exit_on_signals()
    server = _Server(_config(settings, app), app, _url(settings))
    try:
        server.run()
    except SystemExit:  # uvicorn's own exit on a failed startup (code 3)
        if app.startup_error is None and server.started:
            raise
    if app.startup_error is not None:
        return _fail(app.startup_error)
    if not server.started:
        return _fail(f"could not listen on {settings.host}:{settings.port} (see the log above).")
    log.info("exited cleanly")
    return EXIT_OK


async def _check_core(app: ServerApp) -> str | None:
    problem = await app.start_core()
    if problem is None:
        await app.core.stop()
    return problem


def _serve_workers(settings: Settings, app: ServerApp) -> int:
    """``--workers N``: check the core once, then uvicorn's supervisor runs N workers."""
    problem = asyncio.run(_check_core(app))
    if problem is not None:
        return _fail(problem)
    config = _config(settings, f"{__name__}:worker_app")
    try:
        listener = config.bind_socket()
    except SystemExit:  # uvicorn logged why (address in use, say)
        return _fail(f"could not listen on {settings.host}:{settings.port} (see the log above).")
    url = _url(settings)
    log.info("open %s in a browser", url, extra={"url": url, "_plain": True})
    supervisor = Multiprocess(config, sockets=[listener])
    supervisor.run()
    listener.close()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        return _fail("a worker could not start (see the log above).")
    log.info("exited cleanly")
    return EXIT_OK


def worker_app() -> ServerApp:
    """The app of one ``--workers`` process, from the arguments the server was started with.

    Raises:
        SystemExit: The settings no longer resolve; with uvicorn's startup-failure code, so
            that its supervisor stops every worker.
    """
    prepared = _prepare(sys.argv[1:], os.environ, worker=os.getpid())
    if isinstance(prepared, str):
        _fail(prepared)
        raise SystemExit(STARTUP_FAILURE)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    parent = os.getppid()

    def exit_with_parent() -> None:  # SIGTERM, for a clean shutdown, once the supervisor is gone
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=exit_with_parent, name="taskstream-parent-watch", daemon=True).start()
    return prepared[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server with ``argv`` (the command line's) and the environment; the exit code."""
    prepared = _prepare(sys.argv[1:] if argv is None else argv, os.environ)
    if isinstance(prepared, str):
        return _fail(prepared)
    settings, app = prepared
    _announce(settings)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    return (_serve_workers if settings.workers > 1 else _serve)(settings, app)
