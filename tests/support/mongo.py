"""A MongoDB-wire server for tests: a ``secantusdb`` child process, or a real mongod.

With ``TASKSTREAM_TEST_MONGODB_URI`` set (``mongodb://host:port/?...``) the
tests use that server and start nothing; otherwise a session fixture starts

    python -m secantus --host 127.0.0.1 --port PORT --storage-path :memory:

and stops it by its PID at the end. Each test gets a database of its own,
named after its ``tmp_path``, so tests never see each other's data.

    with SecantusServer() as server:
        client_url = server.url("tests")     # mongodb://127.0.0.1:PORT/tests?...
        server.stop(); server.start()         # same port: an outage and a return
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final, Self
from urllib.parse import urlsplit, urlunsplit

from .server import free_port

__all__ = [
    "MONGODB_URI_ENV",
    "SecantusServer",
    "database_url",
    "mongo_url",
    "set_base_uri",
    "used_databases",
]

#: Names a real MongoDB server to test against instead of starting secantus.
MONGODB_URI_ENV: Final = "TASKSTREAM_TEST_MONGODB_URI"

#: Short timeouts: a test of an outage should not wait pymongo's 30 s.
TEST_OPTIONS: Final = "connectTimeoutMS=2000&socketTimeoutMS=10000"

_base_uri: str | None = None
_databases: set[str] = set()


class SecantusServer:
    """One ``secantus`` process on a fixed port, restartable, stopped by PID."""

    def __init__(
        self,
        *,
        storage: str = ":memory:",
        port: int | None = None,
        standalone: bool = False,
        selection_timeout_ms: int = 2000,
    ) -> None:
        self.host = "127.0.0.1"
        self.selection_timeout_ms = selection_timeout_ms
        self.port = port or free_port(self.host)
        self.storage = storage
        self.standalone = standalone
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_uri(self) -> str:
        return (
            f"mongodb://{self.host}:{self.port}/?directConnection=true&{TEST_OPTIONS}"
            f"&serverSelectionTimeoutMS={self.selection_timeout_ms}"
        )

    def url(self, database: str) -> str:
        """The URL of a database on this server."""
        return database_url(self.base_uri, database)

    def start(self, timeout: float = 30.0) -> Self:
        """Start the process and return once it accepts connections."""
        command = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            self.storage,
            "--log-level",
            "WARNING",
            *(["--standalone"] if self.standalone else []),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"secantus exited with {self.process.returncode}:\n{err}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("secantus did not listen in time")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the process this object started (by its PID), waiting for it to end."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(15)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def database_url(base_uri: str, database: str) -> str:
    """``base_uri`` (``mongodb://host:port/?opts``) with ``database`` as its path."""
    parts = urlsplit(base_uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def set_base_uri(uri: str | None) -> None:
    """Where :func:`mongo_url` puts databases (set by the session fixture)."""
    global _base_uri  # noqa: PLW0603 - the registry's lambdas cannot take fixtures
    _base_uri = uri


def mongo_url(place: Path) -> str:
    """The URL of the database that belongs to a test's ``place`` (its tmp_path)."""
    if _base_uri is None:
        raise RuntimeError("no MongoDB server: request the mongo_server fixture first")
    digest = hashlib.sha1(str(place.resolve()).encode(), usedforsecurity=False).hexdigest()
    name = f"ts_{digest[:20]}"
    _databases.add(name)
    return database_url(_base_uri, name)


def used_databases() -> set[str]:
    """The databases :func:`mongo_url` named so far (to drop them from a real server)."""
    return set(_databases)
