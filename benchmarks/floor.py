"""What this machine gives anyone at best: ``python -m benchmarks.floor``.

The low-load latency target (submit→admin p50 ≤ 0.5 ms, durable) is set
against a path with a fixed part no server code can remove: one ``fdatasync``
of the store's write, two loopback TCP hops (client → server → admin), and a
hand-over to the thread that commits and back. This prints each, measured
the way the server meets them, at the latency scenario's pace (one every
20 ms, when the machine idles between events) and back to back:

- ``fdatasync`` of a 4 KiB append to a file in the temporary folder (where
  the benchmarks keep their store);
- a loopback TCP round trip between two processes (50 bytes each way,
  ``TCP_NODELAY``);
- an asyncio event loop (uvloop when installed) handing a job to a thread
  and being woken with its answer.

Not a test, and nothing here is the server: it prints figures
(docs/benchmarks.md, "Where the time goes").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import queue
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

PAYLOAD = b"x" * 50


def _summary(name: str, micros: list[float]) -> str:
    ordered = sorted(micros)
    p50 = statistics.median(ordered)
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"{name:<46} p50 {p50:8.1f} us   p90 {p90:8.1f} us   ({len(ordered)} samples)"


def fdatasync_micros(count: int, pause: float) -> list[float]:
    """Each fdatasync of a 4 KiB append, in µs."""
    fd, path = tempfile.mkstemp(prefix="ts-floor-")
    try:
        samples = []
        for _ in range(count):
            time.sleep(pause)
            os.write(fd, b"\0" * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            samples.append((time.perf_counter() - start) * 1e6)
        return samples
    finally:
        os.close(fd)
        os.unlink(path)


def tcp_round_trip_micros(count: int, pause: float) -> list[float]:
    """Each loopback TCP round trip to an echoing child process, in µs."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the child echoes until the parent hangs up, then leaves at once
        peer, _ = listener.accept()
        peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := peer.recv(256):
            peer.sendall(data)
        os._exit(0)
    listener.close()
    samples = []
    try:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(count):
                time.sleep(pause)
                start = time.perf_counter()
                conn.sendall(PAYLOAD)
                received = 0
                while received < len(PAYLOAD):
                    received += len(conn.recv(256))
                samples.append((time.perf_counter() - start) * 1e6)
    finally:
        os.waitpid(pid, 0)
    return samples


def thread_hop_micros(count: int, pause: float) -> list[float]:
    """Each hand-over from an event loop to a thread and back, in µs."""
    jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None]
    jobs = queue.SimpleQueue()

    def worker() -> None:
        while (job := jobs.get()) is not None:
            loop, answer = job
            loop.call_soon_threadsafe(answer)

    async def measure() -> list[float]:
        loop = asyncio.get_running_loop()
        samples = []
        for _ in range(count):
            await asyncio.sleep(pause)
            done: asyncio.Future[None] = loop.create_future()
            start = time.perf_counter()
            jobs.put((loop, functools.partial(done.set_result, None)))
            await done
            samples.append((time.perf_counter() - start) * 1e6)
        return samples

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional, as in the server

        uvloop.install()
    try:
        return asyncio.run(measure())
    finally:
        jobs.put(None)
        thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="samples per figure")
    parser.add_argument(
        "--pause",
        type=float,
        action="append",
        help="seconds between samples (repeatable; default: 0.02, then 0)",
    )
    args = parser.parse_args(argv)
    for pause in args.pause or [0.02, 0.0]:
        print(f"-- one every {pause * 1000:g} ms" if pause else "-- back to back")
        print(_summary("fdatasync, 4 KiB append", fdatasync_micros(args.count, pause)))
        print(_summary("loopback TCP round trip", tcp_round_trip_micros(args.count, pause)))
        print(_summary("event loop -> thread -> event loop", thread_hop_micros(args.count, pause)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
