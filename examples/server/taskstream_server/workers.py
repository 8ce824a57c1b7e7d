"""``--workers N``: N server processes on one port, under one supervisor.

The supervisor is the process the operator started. Before any worker runs it
opens the core once (store and Redis), so a setting that cannot work fails
once, with one line and exit 2, and a new SQLite file gets its schema before
N processes race for it. It then binds the port once and starts N workers —
copies of itself (``python -m taskstream_server <same arguments>``) that
inherit the listening socket, so they all accept from the same queue, as
gunicorn's and uvicorn's own workers do. A second deployment started on the
same port fails with "address in use" instead of silently sharing it, which
``SO_REUSEPORT`` would allow.

Socket.IO long-polling needs every request of a session to reach the process
that holds the session; a shared socket hands each new connection to
whichever worker accepts first, so with several workers only WebSocket is
served (see :meth:`Settings.deployment_problem`).

Signals: SIGTERM or SIGINT to the supervisor is passed to every worker; each
finishes its requests and exits 0, and the supervisor exits 0 once all did.
A worker that cannot start (exit 2) stops them all (exit 2); one that dies
later is started again, at most 5 times a minute. A worker whose supervisor
vanished (SIGKILL) shuts itself down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from taskstream_core import TaskStreamError

from .app import ServerApp
from .settings import Settings

__all__ = [
    "WORKER_FLAG",
    "Supervisor",
    "WorkerSeat",
    "bind_listener",
    "exit_with_parent",
    "run_preflight",
    "tag_log_lines",
]

log = logging.getLogger("taskstream.workers")

#: The hidden argument a worker is started with: ``--worker-of SUPERVISOR_PID:FD:INDEX``.
WORKER_FLAG = "--worker-of"
_EXIT_CANNOT_START = 2
_RESTARTS_PER_MINUTE = 5


@dataclass(frozen=True, slots=True)
class WorkerSeat:
    """What a worker learns from ``--worker-of``: its supervisor, socket and number."""

    supervisor_pid: int
    fd: int
    index: int

    @classmethod
    def parse(cls, value: str) -> WorkerSeat:
        pid, fd, index = (int(part) for part in value.split(":"))
        return cls(pid, fd, index)

    def listener(self) -> socket.socket:
        """The listening socket the supervisor bound (its family read from the descriptor)."""
        return socket.socket(fileno=self.fd)


def bind_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` that child processes may inherit."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def exit_with_parent(parent_pid: int, every: float = 1.0) -> None:
    """SIGTERM this process, for a clean shutdown, once ``parent_pid`` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="taskstream-supervisor-watch", daemon=True).start()


def tag_log_lines(**fields: object) -> None:
    """Add ``fields`` to every log line of this process (a worker's number, say)."""

    def tag(record: logging.LogRecord) -> bool:
        for name, value in fields.items():
            setattr(record, name, value)
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(tag)


async def check_core(app: ServerApp) -> str | None:
    """Open and close the store and the broker once; why they cannot be opened, or None."""
    try:
        await app.core.start()
    except TaskStreamError as exc:
        return exc.message
    except Exception as exc:
        return f"Cannot open the store {app.core.store.url}: {exc}"
    await app.core.stop()
    return None


class Supervisor:
    """Starts, watches and stops the workers; :meth:`run` returns the exit code."""

    def __init__(self, settings: Settings, argv: Sequence[str], listener: socket.socket) -> None:
        self.settings = settings
        self.argv = list(argv)
        self.listener = listener
        self.workers: list[subprocess.Popen[bytes]] = []
        self._stopping = False
        self._restarts: list[float] = []

    def _command(self, index: int) -> list[str]:
        seat = f"{os.getpid()}:{self.listener.fileno()}:{index}"
        return [sys.executable, "-m", "taskstream_server", *self.argv, WORKER_FLAG, seat]

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - this very program, with the operator's arguments
            self._command(index), pass_fds=(self.listener.fileno(),), stdin=subprocess.DEVNULL
        )
        log.info("started worker %d", index, extra={"worker": index, "pid": process.pid})
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if not self._stopping:
            log.info("%s: stopping the workers", signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.workers = [self._spawn(i) for i in range(self.settings.workers)]
        log.info(
            "serving on %s:%d with %d workers",
            self.settings.host,
            self.settings.port,
            self.settings.workers,
        )
        while not self._stopping:
            time.sleep(0.2)
            for index, process in enumerate(self.workers):
                code = process.poll()
                if code is None or self._stopping:
                    continue
                if code == _EXIT_CANNOT_START:
                    log.error("worker %d could not start; stopping", index)
                    self._stop_all()
                    return _EXIT_CANNOT_START
                if not self._may_restart():
                    log.error("workers keep dying; stopping")
                    self._stop_all()
                    return 1
                log.warning("worker %d exited with %s; starting it again", index, code)
                self.workers[index] = self._spawn(index)
        return self._stop_all()

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < 60] + [now]
        return len(self._restarts) <= _RESTARTS_PER_MINUTE

    def _stop_all(self) -> int:
        """SIGTERM every worker, wait for each; 0 if all exited 0."""
        self.listener.close()  # no new connection waits in a queue nobody serves
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 15
        codes = []
        for process in self.workers:
            try:
                codes.append(process.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time; killing it", process.pid)
                process.kill()
                codes.append(process.wait())
        log.info("all workers exited", extra={"exit_codes": codes})
        return 0 if all(code == 0 for code in codes) else 1


def run_preflight(app: ServerApp) -> str | None:
    """:func:`check_core` from synchronous code (the supervisor has no event loop)."""
    return asyncio.run(check_core(app))
