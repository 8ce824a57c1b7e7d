"""The server under test: a real ``python -m taskstream_server`` on 127.0.0.1, and /proc.

Accounts are written into the fresh SQLite store before the server starts, and
their tokens minted with the server's own secret: registering them over HTTP
would cost the server 600,000 PBKDF2 rounds each (about half a CPU second), a
minute of CPU for the fan-out's 200 admins before anything is measured. The
store then holds the same rows a registration leaves, and the server verifies
the tokens as it verifies any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from taskstream_core import PasswordHasher, Role, Scan, Store, TokenIssuer
from taskstream_core import open_store as _open_store
from taskstream_core.models import ScanStatus, User, utc_now

# Throwaway credentials of throwaway servers on 127.0.0.1.
SECRET = "benchmark-jwt-secret-0123456789abcdef0123"  # noqa: S105
INVITE = "benchmark-invite-code"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds every process of the machine used so far (/proc/stat, idle excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICK


def child_pids(pid: int) -> list[int]:
    """A process's children, but multiprocessing's resource tracker (uvicorn's workers')."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(p) for p in path.read_text().split()] if path.exists() else []
    return [p for p in found if b"resource_tracker" not in _cmdline(p)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def machine_info() -> dict[str, Any]:
    """What the figures were taken on, stored beside them."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    versions: dict[str, str | None] = {}
    for name in ("taskstream-core", "python-socketio", "python-engineio", "sanic", "uvicorn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": commit,
        "clock": "time.time() (CLOCK_REALTIME), shared by every process on the machine",
    }


@dataclass(frozen=True)
class Account:
    user_id: str
    username: str
    role: Role
    token: str


async def _seed_accounts(store: Store, roles: list[Role]) -> list[Account]:
    issuer = TokenIssuer(SECRET)
    hashed = PasswordHasher.for_tests().hash("benchmark password")
    accounts = []
    for n, role in enumerate(roles):
        user = User(uuid.uuid4().hex, f"{role.value}{n}", role, utc_now())
        await store.create_user(user, hashed)
        token, _ = issuer.issue(user)
        accounts.append(Account(user.id, user.username, role, token))
    return accounts


async def seed(db: Path, admins: int, workers: int) -> tuple[list[Account], list[Account], str]:
    """Admin and worker accounts with tokens, and one open scan, in a fresh store."""
    store = _open_store(f"sqlite:///{db}")
    await store.open()
    try:
        accounts = await _seed_accounts(store, [Role.ADMIN] * admins + [Role.WORKER] * workers)
        scan = Scan(uuid.uuid4().hex, "bench", "", ScanStatus.OPEN, accounts[0].user_id, utc_now())
        await store.create_scan(scan)
    finally:
        await store.close()
    return accounts[:admins], accounts[admins:], scan.id


def seed_sync(db: Path, admins: int, workers: int) -> tuple[list[Account], list[Account], str]:
    return asyncio.run(seed(db, admins, workers))


@dataclass
class Server:
    """``python -m taskstream_server`` on a store in ``place``; stopped by its PID."""

    place: Path
    workers: int = 1
    redis_url: str | None = None
    synchronous: str = "full"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    #: The store's file name in ``place``.
    store_name: str = "bench.db"
    #: A file in ``place`` for the server's output; None: this process's own.
    log_name: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def store_url(self) -> str:
        url = f"sqlite:///{self.place / self.store_name}"
        return url if self.synchronous == "full" else f"{url}?synchronous={self.synchronous}"

    def start(self) -> None:
        args = [sys.executable, "-m", "taskstream_server", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--store", self.store_url, "--log-level", "warning"]
        if self.redis_url:
            joiner = "&" if "?" in self.redis_url else "?"
            args += ["--redis-url", f"{self.redis_url}{joiner}prefix=bench-{uuid.uuid4().hex[:8]}"]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        # TASKSTREAM_FAST_PATH passes: ``TASKSTREAM_FAST_PATH=off python -m benchmarks ...``.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TASKSTREAM_") or k == "TASKSTREAM_FAST_PATH"
        }
        env |= {"TASKSTREAM_JWT_SECRET": SECRET, "TASKSTREAM_ADMIN_INVITE_CODE": INVITE}
        with contextlib.ExitStack() as files:
            out = None if self.log_name is None else files.enter_context(self.log_path.open("wb"))
            self.process = subprocess.Popen(
                args, env=env, cwd=self.place, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        try:
            wait_healthy(
                self.process,
                self.url,
                "the server",
                ready=lambda: self.workers == 1 or len(self.pids()) == self.workers,
            )
        except BaseException:
            self.stop()
            raise

    @property
    def log_path(self) -> Path:
        return self.place / (self.log_name or "server.log")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output (with ``log_name``), for an error message."""
        if self.log_name is None or not self.log_path.is_file():
            return "(its output is this process's)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The processes that serve (with --workers, the workers, not their supervisor)."""
        assert self.process is not None
        return child_pids(self.process.pid) if self.workers > 1 else [self.process.pid]

    def stop(self) -> int:
        """SIGTERM, then the exit code (-9 if it had to be killed)."""
        return terminate(self.process, 30)


def wait_healthy(
    process: subprocess.Popen[bytes],
    url: str,
    what: str,
    *,
    seconds: float = 60,
    ready: Callable[[], bool] = lambda: True,
) -> None:
    """Return once ``url``/api/health answers and ``ready()`` holds.

    Raises:
        RuntimeError: The process exited first.
        TimeoutError: Not healthy within ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):  # noqa: S310
                if ready():
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not start within {seconds:g} s")


def terminate(process: subprocess.Popen[bytes] | None, patience: float) -> int:
    """SIGTERM a process we started, then its exit code (-9 if it had to be killed)."""
    if process is None or process.poll() is not None:
        return process.returncode if process else -1
    os.kill(process.pid, signal.SIGTERM)
    try:
        return process.wait(patience)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        return -9
