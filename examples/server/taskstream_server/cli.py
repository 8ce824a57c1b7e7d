"""``taskstream-server``: arguments and environment in, a running uvicorn out.

Exit codes: 0 after a SIGTERM/SIGINT shutdown, 2 when the server cannot
start with what it was given (a bad setting, a store that cannot be
opened), each with one line on stderr saying why.

``--workers N`` runs uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``):
it binds the port once and starts N processes that accept from it, restarts one
that dies, and stops them all on SIGTERM. Before it starts them, this process
opens the core once, so that a setting that cannot work fails once, with one line
and exit 2, and a new SQLite file gets its schema before N processes race for it.
Each worker builds its app with :func:`worker_app` from the same arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
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

from taskstream_core import TaskStreamError, __version__, mask_url
from taskstream_core.wire import MAX_BODY_BYTES

from . import fast_path
from .app import ServerApp, build_app
from .observability import configure_logging
from .settings import DEFAULT_STORE_URL, Settings, SettingsError, load_secrets

__all__ = ["main", "worker_app"]

log = logging.getLogger("taskstream.server")

EXIT_OK = 0
EXIT_CANNOT_START = 2
_LOG_LEVELS = ("debug", "info", "warning", "error")
_TRANSPORTS = ("websocket", "websocket,polling")
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskstream-server",
        description="The TaskStream reference server: HTTP API, Socket.IO and web pages.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--store",
        default=env.get("TASKSTREAM_STORE_URL") or DEFAULT_STORE_URL,
        help="storage URL: sqlite:///path.db, memory://, mongodb://host/db "
        "(env TASKSTREAM_STORE_URL; default %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default=env.get("TASKSTREAM_REDIS_URL") or None,
        help="share rooms and events with other processes (env TASKSTREAM_REDIS_URL)",
    )
    parser.add_argument(
        "--log-level",
        default=(env.get("TASKSTREAM_LOG_LEVEL") or "info").lower(),
        choices=_LOG_LEVELS,
        help="(env TASKSTREAM_LOG_LEVEL; default %(default)s)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="a browser origin (scheme://host[:port]) allowed to call the API and open Socket.IO "
        "connections; repeatable "
        "(env TASKSTREAM_CORS_ORIGINS, comma-separated; default: same origin only)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=int,
        default=5,
        help="seconds to wait for open connections on SIGTERM (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=env.get("TASKSTREAM_WORKERS") or 1,  # argparse applies type= to a str default
        help="server processes sharing the port; more than one needs --redis-url and a shared "
        "store (env TASKSTREAM_WORKERS; default %(default)s)",
    )
    parser.add_argument(
        "--transports",
        default=env.get("TASKSTREAM_TRANSPORTS") or None,
        choices=_TRANSPORTS,
        help="Socket.IO transports served (env TASKSTREAM_TRANSPORTS; default websocket,polling "
        "with one worker, websocket with more: long-polling needs sticky sessions)",
    )
    parser.add_argument(
        "--fast-path",
        action=argparse.BooleanOptionalAction,
        default=(env.get("TASKSTREAM_FAST_PATH") or "on").lower()
        not in {"0", "off", "false", "no"},
        help="send Socket.IO frames by the fast path; --no-fast-path uses only the public API "
        "of python-socketio and python-engineio (env TASKSTREAM_FAST_PATH=on|off; default on)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _check_origins(origins: Sequence[str]) -> tuple[str, ...]:
    """The origins as given, each a browser's ``Origin`` (one with a path or a trailing slash
    would never match and silently leave the browser refused)."""
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"--cors-origin {origin!r} is not an origin: write scheme://host[:port], "
                "without a path or a trailing slash."
            )
    return tuple(origins)


def resolve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    origins = args.cors_origin
    if origins is None:
        origins = [o.strip() for o in (env.get("TASKSTREAM_CORS_ORIGINS") or "").split(",")]
    transports = args.transports or ("websocket" if args.workers > 1 else "websocket,polling")
    if transports not in _TRANSPORTS:
        raise SettingsError(f"TASKSTREAM_TRANSPORTS must be one of {', '.join(_TRANSPORTS)}.")
    return Settings(
        secrets=load_secrets(args.store, env),
        host=args.host,
        port=args.port,
        store_url=args.store,
        redis_url=args.redis_url,
        log_level=args.log_level,
        cors_allowed_origins=_check_origins([o for o in origins if o]),
        shutdown_timeout=args.shutdown_timeout,
        workers=args.workers,
        transports=tuple(transports.split(",")),
        fast_path=args.fast_path,
    )


class _Server(uvicorn.Server):
    """uvicorn, except that Socket.IO clients are sent away before it waits for connections.

    uvicorn closes websockets itself, but an Engine.IO long-poll would hold the
    shutdown for the whole graceful timeout; a server-side disconnect answers it.
    """

    def __init__(self, config: uvicorn.Config, app: ServerApp) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:  # stop accepting first, so nobody reconnects here
            listener.close()
        try:
            await asyncio.wait_for(self._app.sockets.disconnect_all(), 2)
        except Exception as exc:  # never let this stop the shutdown itself
            log.warning("could not disconnect every socket: %s", exc)
        if self.config.ws == fast_path.WS_PROTOCOL:
            for connection in list(self.server_state.connections):
                fast_path.guard_shutdown(connection)
        await super().shutdown(sockets)


def _fail(message: str) -> int:
    print(f"taskstream-server: {message}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_START


def _build(settings: Settings) -> ServerApp | str:
    """The app, or the one-line reason it cannot be built."""
    try:
        return build_app(settings)
    except ImportError as exc:
        if settings.redis_url and "redis" in str(exc):
            return (
                f"--redis-url {mask_url(settings.redis_url)} needs the redis extra "
                f"(pip install 'taskstream-core[redis]'): {exc}."
            )
        return f"A storage adapter is missing: {exc}."
    except ValueError as exc:  # an unknown scheme or a malformed URL
        return str(exc)


def _announce(settings: Settings) -> None:
    secrets = settings.secrets
    log.info(
        "starting taskstream-server %s",
        __version__,
        extra={
            "host": settings.host,
            "port": settings.port,
            "store": mask_url(settings.store_url),
            "redis": mask_url(settings.redis_url) if settings.redis_url else None,
            "workers": settings.workers,
            "transports": list(settings.transports),
            "fast_path": settings.fast_path,
        },
    )
    kept_in = str(secrets.path) if secrets.path is not None else "memory only"
    if secrets.invite_code_origin == "generated":
        log.warning(
            "generated the admin invite code: %s (kept in %s)",
            secrets.admin_invite_code,
            kept_in,
            extra={"admin_invite_code": secrets.admin_invite_code, "kept_in": kept_in},
        )
    elif secrets.invite_code_origin == "kept":
        log.info("the admin invite code is kept in %s", kept_in, extra={"kept_in": kept_in})


async def _check_core(app: ServerApp) -> str | None:
    """Open and close the store and the broker once; why they cannot be opened, or None."""
    try:
        await app.core.start()
    except TaskStreamError as exc:
        return exc.message
    except Exception as exc:
        return f"Cannot open the store {app.core.store.url}: {exc}"
    await app.core.stop()
    return None


def _prepare(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Settings, ServerApp] | str:
    """The settings and the app built from them, or the one-line reason they cannot run."""
    try:
        settings = resolve_settings(args, env)
    except SettingsError as exc:
        return str(exc)
    problem = settings.deployment_problem()
    if problem is not None:
        return problem
    built = _build(settings)
    return built if isinstance(built, str) else (settings, built)


#: How long a thread may keep the GIL while another waits for it (CPython's default: 5 ms).
#: The SQLite store commits on a thread of its own; woken while the event loop is busy,
#: that thread waited 1.8 ms (p50) for the GIL before it could even start a COMMIT, and
#: every acknowledged submit waits for one. At 0.2 ms, 0.4 ms: ``python -m benchmarks
#: throughput`` went from about 2,400 to 2,550-2,650 acknowledged submits/s.
GIL_SWITCH_INTERVAL: Final = 0.0002

#: The most a request's line and headers may take together: uvicorn's h11 parser answers
#: 400 and closes the connection past it, having buffered no more. (httptools, which
#: uvicorn picks when it is installed, has no limit at all: a 30 MB header was read whole
#: and kept.) 64 KiB holds a 60,000-character URL or an 8 KB header line with room to
#: spare; nginx allows 32 KB by default (``large_client_header_buffers 4 8k``).
MAX_REQUEST_HEAD: Final = 64 * 1024

#: The largest websocket message uvicorn reads before it closes the connection with 1009
#: ("message too big"), refused from the frame's header before its payload is buffered
#: (uvicorn's default: 16 MiB). python-engineio closes the connection for any message past
#: MAX_BODY_BYTES anyway; this only stops the bytes before they are held, leaving room
#: for the message's Engine.IO and Socket.IO prefix.
WS_MAX_SIZE: Final = MAX_BODY_BYTES + 1024


def _config(settings: Settings, app: ServerApp | str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        loop="auto",
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
        # The fast path writes to websockets-sansio's connections; without it, wsproto,
        # whose shutdown needs no guard (see fast_path.guard_shutdown).
        ws=fast_path.WS_PROTOCOL if settings.fast_path else "wsproto",
        ws_max_size=WS_MAX_SIZE,
        # Compressing each frame per socket (every browser offers permessage-deflate)
        # undid the event encoded once for all sockets: 84-86 us of server CPU per
        # delivery against 51-55 us without, for ~600-byte JSON events on a LAN.
        ws_per_message_deflate=False,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


def _quiet_exit_on_signals() -> None:
    """uvicorn re-raises a caught SIGTERM/SIGINT with the previous handler once it has shut
    down; a handler that does nothing makes that a clean exit 0."""

    def after_shutdown(signum: int, frame: FrameType | None) -> None:
        del signum, frame

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, after_shutdown)


def _serve(settings: Settings, built: ServerApp) -> int:
    """Run uvicorn in this process until SIGTERM/SIGINT."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    _quiet_exit_on_signals()
    server = _Server(_config(settings, built), built)
    try:
        server.run()
    except SystemExit:  # uvicorn's own exit on a failed startup (code 3)
        if built.startup_error is None and server.started:
            raise
    if built.startup_error is not None:
        return _fail(built.startup_error)
    if not server.started:
        return _fail(f"could not listen on {settings.host}:{settings.port} (see the log above).")
    log.info("exited cleanly")
    return EXIT_OK


def _serve_workers(settings: Settings, built: ServerApp) -> int:
    """``--workers N``: check the core once, then uvicorn's supervisor runs N workers."""
    problem = asyncio.run(_check_core(built))
    if problem is not None:
        return _fail(problem)
    config = _config(settings, f"{__name__}:worker_app")
    try:
        listener = config.bind_socket()
    except SystemExit:  # uvicorn logged why (address in use, say)
        return _fail(f"could not listen on {settings.host}:{settings.port} (see the log above).")
    supervisor = Multiprocess(config, sockets=[listener])
    supervisor.run()
    listener.close()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        return _fail("a worker could not start (see the log above).")
    log.info("exited cleanly")
    return EXIT_OK


def worker_app() -> ServerApp:
    """The app of one ``--workers`` process, built from the arguments the server was started
    with (uvicorn's supervisor starts each worker as a fresh interpreter with them).

    Returns:
        The assembled server, ready for uvicorn to run.

    Raises:
        SystemExit: The settings no longer resolve (they did in the supervisor); with
            uvicorn's startup-failure code, so that its supervisor stops every worker.
    """
    env = dict(os.environ)
    args = build_parser(env).parse_args(sys.argv[1:])
    configure_logging(args.log_level, worker=os.getpid())
    prepared = _prepare(args, env)
    if isinstance(prepared, str):
        _fail(prepared)
        raise SystemExit(STARTUP_FAILURE)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    _exit_with_parent(os.getppid())
    return prepared[1]


def _exit_with_parent(parent_pid: int, every: float = 1.0) -> None:
    """SIGTERM this process, for a clean shutdown, once ``parent_pid`` is gone (SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="taskstream-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    env = dict(os.environ)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(env).parse_args(arguments)
    configure_logging(args.log_level)
    prepared = _prepare(args, env)
    if isinstance(prepared, str):
        return _fail(prepared)
    settings, built = prepared
    _announce(settings)
    if settings.workers > 1:
        return _serve_workers(settings, built)
    return _serve(settings, built)
