"""The real ``taskstream-server`` as a child process, for tests that talk to it over the wire.

Contract tests, the Python client's tests and browser tests all start the
server the way an operator does (``python -m taskstream_server ...``), so
what they check is what ships: argument parsing, the secrets file, uvicorn,
signals and all. :class:`AiohttpExampleProcess` starts the aiohttp example
(``python examples/aiohttp_app/app.py ...``) the same way.

    with ServerProcess(store_url=f"sqlite:///{tmp_path}/t.db") as server:
        urllib.request.urlopen(server.url("/api/health"))
        server.restart()              # same port, same store
        assert server.stop() == 0     # SIGTERM, then the exit code
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final, Self

__all__ = [
    "AIOHTTP_EXAMPLE",
    "TEST_INVITE_CODE",
    "TEST_JWT_SECRET",
    "AiohttpExampleProcess",
    "ServerExited",
    "ServerProcess",
    "free_port",
]

#: What a test server signs tokens with, unless the test says otherwise.
TEST_JWT_SECRET: Final = "contract-tests-jwt-secret-0123456789abcdef"
#: The admin invite code of a test server, unless the test says otherwise.
TEST_INVITE_CODE: Final = "contract-tests-invite-code"
#: The aiohttp example's script, which runs as ``python examples/aiohttp_app/app.py``.
AIOHTTP_EXAMPLE: Final = Path(__file__).resolve().parents[2] / "examples" / "aiohttp_app" / "app.py"


class ServerExited(RuntimeError):
    """The server process ended while a test expected it to be serving."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """One server process at a time, on a fixed port and store, restartable.

    ``store_url`` is passed as ``--store``; ``None`` leaves the flag out (the
    server then reads ``TASKSTREAM_STORE_URL`` or uses its default). ``env``
    is laid over the current environment after removing its ``TASKSTREAM_*``
    variables and setting the test JWT secret and invite code; a ``None``
    value removes a variable (to test generated secrets).
    Every line the process writes (stdout and stderr) is kept in
    :attr:`lines`, across restarts. ``open_files`` caps the process's open
    file descriptors (``ulimit -n``), to see it run out of them.
    """

    #: Which integration of the core the process serves (the reference server is Sanic's).
    integration: ClassVar[str] = "sanic"

    def __init__(
        self,
        store_url: str | None,
        *,
        env: Mapping[str, str | None] | None = None,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int | None = None,
        cwd: Path | None = None,
        startup_timeout: float = 30.0,
        open_files: int | None = None,
    ) -> None:
        self.store_url = store_url
        self.args = list(args)
        self.host = host
        self.port = port or free_port(host)
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        #: The process's limit on open file descriptors (RLIMIT_NOFILE), when set.
        self.open_files = open_files
        self.env = self._environment(env or {})
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @staticmethod
    def _environment(overrides: Mapping[str, str | None]) -> dict[str, str]:
        # Nothing of the developer's own TASKSTREAM_* settings, but the switch the suite is
        # run once more with (TASKSTREAM_FAST_PATH=off: noxfile.py's tests session).
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TASKSTREAM_") or k == "TASKSTREAM_FAST_PATH"
        }
        env["TASKSTREAM_JWT_SECRET"] = TEST_JWT_SECRET
        env["TASKSTREAM_ADMIN_INVITE_CODE"] = TEST_INVITE_CODE
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- addresses -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "taskstream_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            *(["--store", self.store_url] if self.store_url is not None else []),
            *self.args,
        ]

    # -- lifecycle -------------------------------------------------------------------------
    def spawn(self) -> subprocess.Popen[str]:
        """Start the process without waiting for it to serve (to watch a failing start)."""
        if self.running:
            raise RuntimeError("the server is already running")
        process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            preexec_fn=self._limit_open_files if self.open_files is not None else None,  # noqa: PLW1509
        )
        self.process = process
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()
        return process

    def _limit_open_files(self) -> None:
        """In the child, before it runs the server: at most ``open_files`` descriptors."""
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def start(self) -> Self:
        """Start the process and return once ``GET /api/health`` answers 200."""
        process = self.spawn()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._join_reader()
                raise ServerExited(
                    f"the server exited with {process.returncode} while starting:\n{self.output}"
                )
            if self._healthy():
                return self
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"the server did not answer /api/health in time:\n{self.output}")

    def _healthy(self) -> bool:
        try:
            # The URL is this server's own http:// address, never user input.
            with urllib.request.urlopen(self.url("/api/health"), timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        if self.process is None:
            raise RuntimeError("the server was never started")
        code = self.process.wait(timeout)
        self._join_reader()
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (SIGTERM by default) and return the exit code once it ended."""
        if self.process is None:
            raise RuntimeError("the server was never started")
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> int:
        """SIGKILL: the process gets no chance to clean up (a crash, for recovery tests)."""
        if self.process is None:
            raise RuntimeError("the server was never started")
        if self.process.poll() is None:
            self.process.kill()
        return self.wait()

    def restart(self) -> Self:
        """Stop (SIGTERM) if running, then start again on the same port and store."""
        if self.running:
            self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):  # stop() has killed it
                self.stop()

    # -- output ---------------------------------------------------------------------------
    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far, parsed (other lines are left out)."""
        records = []
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first JSON log record matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.log_records():
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching log line within {timeout}s:\n{self.output}")
            time.sleep(0.05)


class AiohttpExampleProcess(ServerProcess):
    """The aiohttp example (:data:`AIOHTTP_EXAMPLE`) as a child process.

    The same lifecycle, health check and output capture as :class:`ServerProcess`; only the
    command differs (the example takes ``--host``, ``--port`` and ``--store``, and reads the
    JWT secret and invite code from the same environment variables).
    """

    integration: ClassVar[str] = "aiohttp"

    @property
    def command(self) -> list[str]:
        store = ["--store", self.store_url] if self.store_url is not None else []
        return [
            sys.executable,
            str(AIOHTTP_EXAMPLE),
            "--host",
            self.host,
            "--port",
            str(self.port),
            *store,
            *self.args,
        ]
