"""scan:stats throttling: at most one per interval per scan, and a fresh one after a burst."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest

from taskstream_core import Principal, ScanEvent, TaskStream, ViewerSession
from taskstream_core._stats_feed import StatsFeed
from taskstream_core.errors import Unavailable
from taskstream_core.models import EventType

INTERVAL = 0.05
#: asyncio timers may fire up to one clock tick early; allow for it when comparing.
SLACK = 0.005


class Recorder:
    """A publish callback that notes when each scan's stats went out."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, scan_id: str) -> None:
        self.calls.append((scan_id, time.monotonic()))

    def times(self, scan_id: str) -> list[float]:
        return [at for sid, at in self.calls if sid == scan_id]


def spaced(times: list[float], interval: float) -> bool:
    return all(b - a >= interval - SLACK for a, b in itertools.pairwise(times))


async def test_the_first_change_after_a_quiet_spell_publishes_at_once() -> None:
    """A change with no recent publication is published on the next loop turn."""
    recorder = Recorder()
    feed = StatsFeed(recorder, INTERVAL)
    start = time.monotonic()
    feed.touch("s1")
    await asyncio.sleep(0.01)
    assert len(recorder.times("s1")) == 1
    assert recorder.times("s1")[0] - start < INTERVAL
    await feed.aclose()


async def test_changes_in_one_loop_turn_make_one_publication() -> None:
    """Touches before the first publication ran are folded into it."""
    recorder = Recorder()
    feed = StatsFeed(recorder, INTERVAL)
    for _ in range(20):
        feed.touch("s1")
    await asyncio.sleep(3 * INTERVAL)
    assert len(recorder.times("s1")) == 1
    await feed.aclose()


async def test_a_burst_publishes_at_most_once_per_interval_and_once_after_it() -> None:
    """During a long burst publications are an interval apart; the last follows the last change."""
    recorder = Recorder()
    feed = StatsFeed(recorder, INTERVAL)
    start = time.monotonic()
    for _ in range(40):
        feed.touch("s1")
        await asyncio.sleep(INTERVAL / 8)
    last_touch = time.monotonic()
    await asyncio.sleep(3 * INTERVAL)
    times = recorder.times("s1")
    assert spaced(times, INTERVAL)
    assert len(times) <= 1 + (last_touch - start) / (INTERVAL - SLACK) + 1
    assert len(times) >= 3
    assert times[-1] >= last_touch, "the final figures are published after the burst"
    assert times[-1] - last_touch <= INTERVAL + 0.5  # soon; a loaded machine runs late
    await feed.aclose()


async def test_scans_are_throttled_independently() -> None:
    """One busy scan does not delay another scan's first publication."""
    recorder = Recorder()
    feed = StatsFeed(recorder, INTERVAL)
    feed.touch("busy")
    await asyncio.sleep(0.005)
    feed.touch("busy")
    feed.touch("quiet")
    await asyncio.sleep(0.005)
    assert len(recorder.times("quiet")) == 1
    assert len(recorder.times("busy")) == 1
    await asyncio.sleep(2 * INTERVAL)
    assert len(recorder.times("busy")) == 2
    await feed.aclose()


async def test_aclose_cancels_what_is_scheduled() -> None:
    """Nothing is published after aclose()."""
    recorder = Recorder()
    feed = StatsFeed(recorder, INTERVAL)
    feed.touch("s1")
    await asyncio.sleep(0.005)
    feed.touch("s1")  # scheduled for the end of the interval
    await feed.aclose()
    await asyncio.sleep(2 * INTERVAL)
    assert len(recorder.times("s1")) == 1


async def test_a_failed_publication_does_not_stop_later_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error while publishing is logged and the next change publishes again."""
    attempts: list[str] = []

    async def flaky(scan_id: str) -> None:
        attempts.append(scan_id)
        if len(attempts) == 1:
            raise RuntimeError("store down")

    feed = StatsFeed(flaky, INTERVAL)
    with caplog.at_level(logging.ERROR, logger="taskstream.stats"):
        feed.touch("s1")
        await asyncio.sleep(0.01)
    assert "could not publish stats" in caplog.text
    feed.touch("s1")
    await asyncio.sleep(2 * INTERVAL)
    assert attempts == ["s1", "s1"]
    await feed.aclose()


async def test_an_outage_is_a_warning_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``unavailable`` (an outage, logged by the store itself) is one line, not a bug's report."""

    async def down(scan_id: str) -> None:
        raise Unavailable("The store cannot be reached right now; retry later.")

    feed = StatsFeed(down, INTERVAL)
    with caplog.at_level(logging.WARNING, logger="taskstream.stats"):
        feed.touch("s1")
        await asyncio.sleep(0.01)
    (record,) = caplog.records
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    assert "retry later" in record.getMessage()
    await feed.aclose()


async def test_the_service_throttles_scan_stats_to_admins(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """Through TaskStream a burst of submissions yields spaced scan:stats with final figures."""
    scan = await app.create_scan(admin, "s")
    interval = app.stats_interval
    arrivals: list[tuple[float, ScanEvent]] = []

    async def read(viewer: ViewerSession) -> None:
        async for event in viewer:
            if event.type is EventType.SCAN_STATS:
                arrivals.append((time.monotonic(), event))

    async with ViewerSession(app, admin) as admins:
        await admins.join(scan.id)
        reader = asyncio.ensure_future(read(admins))
        start = time.monotonic()
        for i in range(30):
            await app.submit_task(alice, scan.id, f"t{i}")
            await asyncio.sleep(interval / 10)
        elapsed = time.monotonic() - start
        await asyncio.sleep(3 * interval)
    await reader
    times = [at for at, _ in arrivals]
    assert spaced(times, interval)
    assert 2 <= len(times) <= 2 + elapsed / (interval - SLACK)
    last = arrivals[-1][1]
    assert last.stats is not None
    assert last.stats.counts.pending == 30
    assert last.seq == 30
