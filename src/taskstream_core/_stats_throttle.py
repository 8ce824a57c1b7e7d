"""Stats events from several publishers, passed on at most once per interval per scan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .models import ScanEvent

__all__ = ["StatsThrottle"]


class StatsThrottle:
    """At most one ``scan:stats`` per scan per interval, the newest, never an older one.

    Every process that stored changes of a scan publishes its stats, so without
    this an admin would get them once per interval per process.
    """

    def __init__(self, deliver: Callable[[ScanEvent], None], interval: float) -> None:
        self._deliver = deliver
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # scan → (when, seq) of the last delivered
        self._waiting: dict[str, ScanEvent] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def offer(self, event: ScanEvent) -> None:
        scan_id = event.scan_id
        waiting = self._waiting.get(scan_id)
        if waiting is not None:
            if event.seq >= waiting.seq:
                self._waiting[scan_id] = event
            return
        when, seq = self._last.get(scan_id, (float("-inf"), -1))
        if event.seq < seq:
            return  # figures older than what the admins already have
        due = when + self.interval - time.monotonic()
        if due <= 0:
            self._send(event)
            return
        self._waiting[scan_id] = event
        self._timers[scan_id] = asyncio.get_running_loop().call_later(due, self._flush, scan_id)

    def _flush(self, scan_id: str) -> None:
        self._timers.pop(scan_id, None)
        event = self._waiting.pop(scan_id, None)
        if event is not None:
            self._send(event)

    def _send(self, event: ScanEvent) -> None:
        self._last[event.scan_id] = (time.monotonic(), event.seq)
        self._deliver(event)

    def clear(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._waiting.clear()
        self._last.clear()
