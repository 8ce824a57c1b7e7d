"""Login timing, unknown user against wrong password, measured on a real server.

    .nox/tests/bin/python -m tests.security.login_timing [--attempts 50]

Prints the median (and the 10th/90th percentiles) of each over ``--attempts``
failed logins, interleaved so both see the same machine load. The test suite
never asserts time; this is where the figure in docs/security.md comes from.
Known users rotate so none reaches the throttle (5 failures), and each
unknown attempt uses a fresh username for the same reason.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from tests.support import Api, ServerProcess, register_sync

PASSWORD = "correct horse battery"
PER_USER = 4  # failures per known user, below the throttle's 5


def summary(name: str, seconds: list[float]) -> str:
    deciles = statistics.quantiles(seconds, n=10)
    return (
        f"{name:<15} n={len(seconds):<4} median={statistics.median(seconds) * 1000:7.1f} ms  "
        f"p10={deciles[0] * 1000:7.1f} ms  p90={deciles[-1] * 1000:7.1f} ms"
    )


async def measure(base_url: str, attempts: int) -> dict[str, list[float]]:
    users = [
        register_sync(base_url, f"timing-{i}-{uuid.uuid4().hex[:6]}", PASSWORD)
        for i in range(-(-attempts // PER_USER))
    ]
    timings: dict[str, list[float]] = {"wrong password": [], "unknown user": []}
    async with aiohttp.ClientSession() as session:
        api = Api(base_url, session)
        for i in range(attempts):
            for kind in ("wrong password", "unknown user"):
                name = (
                    users[i // PER_USER].username if kind == "wrong password" else uuid.uuid4().hex
                )
                started = time.perf_counter()
                reply = await api.post(
                    "/api/auth/login", {"username": name, "password": "nope-nope"}
                )
                timings[kind].append(time.perf_counter() - started)
                if reply.status != 401:
                    raise SystemExit(f"expected 401, got {reply.status}: {reply.text}")
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="login-timing-") as data:
        store = f"sqlite:///{Path(data) / 'timing.db'}"
        with ServerProcess(store_url=store, cwd=Path(data)) as server:
            timings = asyncio.run(measure(server.base_url, args.attempts))
    for kind, seconds in timings.items():
        print(summary(kind, seconds))
    gap = statistics.median(timings["unknown user"]) - statistics.median(timings["wrong password"])
    print(f"median difference (unknown - wrong): {gap * 1000:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
