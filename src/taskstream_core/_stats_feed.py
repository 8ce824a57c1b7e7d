"""``scan:stats`` events: at most one per scan per interval, only after changes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .errors import Unavailable

log = logging.getLogger("taskstream.stats")


class StatsFeed:
    """Coalesces a burst of changes to a scan into one stats computation.

    The first change after a quiet spell publishes at once; changes within
    ``interval`` of the last publication are folded into one publication at
    the end of the interval. So an admin sees fresh figures at most
    ``interval`` seconds late, and never more than ``1/interval`` per second.
    """

    def __init__(self, publish: Callable[[str], Awaitable[None]], interval: float = 0.5) -> None:
        self._publish = publish
        self.interval = interval
        self._last: dict[str, float] = {}
        self._scheduled: dict[str, asyncio.TimerHandle] = {}
        self._running: set[asyncio.Task[None]] = set()

    def touch(self, scan_id: str) -> None:
        """Note that ``scan_id`` changed."""
        if scan_id in self._scheduled:
            return
        delay = max(0.0, self._last.get(scan_id, float("-inf")) + self.interval - time.monotonic())
        loop = asyncio.get_running_loop()
        self._scheduled[scan_id] = loop.call_later(delay, self._fire, scan_id)

    def _fire(self, scan_id: str) -> None:
        self._scheduled.pop(scan_id, None)
        self._last[scan_id] = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._run(scan_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, scan_id: str) -> None:
        try:
            await self._publish(scan_id)
        except Unavailable as exc:  # an outage, logged where it happened: no traceback
            log.warning("could not publish stats for scan %s: %s", scan_id, exc.message)
        except Exception:  # a failed refresh must not stop later ones
            log.exception("could not publish stats for scan %s", scan_id)

    async def aclose(self) -> None:
        for handle in self._scheduled.values():
            handle.cancel()
        self._scheduled.clear()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
