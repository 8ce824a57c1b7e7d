"""A real Redis for tests: a private ``redis-server`` child process, or the one the env names.

With ``TASKSTREAM_TEST_REDIS_URL`` set (``redis://host:port/db``) tests use that
server and start nothing; otherwise the first test that needs Redis starts

    redis-server --bind 127.0.0.1 --port PORT --save "" --appendonly no

on a free port, and it is stopped by its PID when the test run ends. Tests
never share a channel: each names its own prefix (:func:`unique_prefix`), so
they do not see each other's events even on one server. A test that stops
Redis on purpose starts a :class:`RedisServer` of its own.

    with RedisServer() as server:
        url = server.url(prefix="t1")   # redis://127.0.0.1:PORT/0?prefix=t1
        server.stop(); server.start()    # same port: an outage and a return
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from typing import Final, Self

import redis

from .server import free_port

__all__ = [
    "REDIS_URL_ENV",
    "RedisServer",
    "redis_skip_reason",
    "shared_redis_url",
    "unique_prefix",
    "with_prefix",
]

#: Names a running Redis to test against instead of starting one.
REDIS_URL_ENV: Final = "TASKSTREAM_TEST_REDIS_URL"

_shared: RedisServer | None = None


def redis_skip_reason() -> str | None:
    """Why Redis tests cannot run here, or None."""
    if os.environ.get(REDIS_URL_ENV) or shutil.which("redis-server"):
        return None
    return f"no redis-server binary on PATH and {REDIS_URL_ENV} is not set"


def unique_prefix() -> str:
    """A channel prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with TaskStream's ``prefix`` option added."""
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def shared_redis_url() -> str:
    """The session's Redis (started on first use): ``redis://host:port/0``."""
    global _shared  # noqa: PLW0603 - the adapter registry's lambdas cannot take fixtures
    given = os.environ.get(REDIS_URL_ENV)
    if given:
        return given
    if _shared is None:
        _shared = RedisServer().start()
        atexit.register(_shared.__exit__)
    return _shared.url()


class RedisServer:
    """One ``redis-server`` process on a fixed port, restartable, stopped by its PID."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="taskstream-redis-")

    def url(self, *, db: int = 0, prefix: str | None = None) -> str:
        base = f"redis://{self.host}:{self.port}/{db}"
        return base if prefix is None else with_prefix(base, prefix)

    def start(self, timeout: float = 20.0) -> Self:
        """Start the server and return once it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        os.makedirs(self._dir, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--loglevel",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}")
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise TimeoutError("redis-server did not answer PING in time")

    def stop(self) -> None:
        """Stop the process this object started (by its PID), waiting for it to end."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(15)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        # Its folder holds nothing worth keeping (no RDB, no AOF); start() makes it again.
        shutil.rmtree(self._dir, ignore_errors=True)
