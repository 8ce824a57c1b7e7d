"""Presence (CONTRACT.md §4.1), checked over every broker: memory, and Redis across processes.

Redis runs two TaskStream "processes" on one store and one channel prefix; a
process that dies is a real child process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from taskstream_core import Principal, Role, ScanEvent, TaskStream, ViewerSession
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.errors import Forbidden
from taskstream_core.models import EventType
from taskstream_core.stores.sqlite import SQLiteStore
from taskstream_core.testing import sign_up
from tests.support.redis_server import shared_redis_url, unique_prefix

from .adapters import BrokerAdapter
from .deployment import Deployment, join_as


@pytest.fixture
async def deployment(broker_adapter: BrokerAdapter) -> AsyncIterator[Deployment]:
    """A deployment on the broker under test; its processes stop at the end."""
    made = Deployment(broker_adapter)
    yield made
    await made.stop()


@pytest.fixture
async def app(deployment: Deployment) -> TaskStream:
    """The deployment's first process."""
    return await deployment.start()


@pytest.fixture
async def ada(app: TaskStream) -> Principal:
    return await sign_up(app, "ada", "admin")


@pytest.fixture
async def wes(app: TaskStream) -> Principal:
    return await sign_up(app, "wes")


def who(event: ScanEvent) -> set[str]:
    """The usernames a detailed scan:presence names."""
    assert event.presence is not None
    return {u.username for u in event.presence.present}


def presence_of(*names: str) -> Callable[[ScanEvent], bool]:
    """A check for a detailed scan:presence naming exactly these users."""
    return lambda e: e.type is EventType.SCAN_PRESENCE and who(e) == set(names)


async def test_a_join_answer_counts_the_joiner_in_the_shape_of_its_role(
    app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """An admin's join answer lists who is present, the joiner included; a worker's has counts."""
    scan = await app.create_scan(ada, "s")
    with ViewerSession(app, ada) as admin_view:
        answer = await admin_view.join(scan.id)
        assert answer.presence is not None
        assert [(u.username, u.role) for u in answer.presence.present] == [("ada", Role.ADMIN)]
        body = answer.to_dict()["presence"]
        assert (body["reviewers"], body["submitters"]) == (1, 0)
        assert set(body["present"][0]) == {"user_id", "username", "role", "since"}
        with ViewerSession(app, wes) as worker_view:
            seen = await worker_view.join(scan.id, since_seq=0)  # a resume carries it too
            assert seen.to_dict()["presence"] == {"reviewers": 1, "submitters": 1}
        admin = await app.presence(ada, scan.id)
        assert (admin.reviewers, admin.submitters) == (1, 0)  # wes has left
    with pytest.raises(Forbidden):
        await app.presence(wes, scan.id)


async def test_presence_events_reach_everyone_joined_admins_see_who_workers_counts(
    app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """scan:presence goes to every joined viewer: the list for admins, counts for workers,
    without a seq."""
    scan = await app.create_scan(ada, "s")
    admin_view = await join_as(app, ada, scan.id)
    worker_view = await join_as(app, wes, scan.id)
    full = await admin_view.wait_for(presence_of("ada", "wes"))
    assert set(full.to_envelope()) == {"type", "scan_id", "reviewers", "submitters", "present"}
    counts = await worker_view.wait_for(
        lambda e: (
            e.type is EventType.SCAN_PRESENCE
            and e.presence is not None
            and e.presence.submitters == 1
        )
    )
    assert counts.to_envelope() == {
        "type": "scan:presence",
        "scan_id": scan.id,
        "reviewers": 1,
        "submitters": 1,
    }
    admin_view.close()
    worker_view.close()


async def test_a_user_with_several_viewers_counts_once_until_the_last_leaves(
    app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """Two viewers of one worker count once; it is gone from the next scan:presence within 2 s
    of its last viewer leaving."""
    scan = await app.create_scan(ada, "s")
    watching = await join_as(app, ada, scan.id)
    first, second = ViewerSession(app, wes), ViewerSession(app, wes)
    await first.join(scan.id)
    await second.join(scan.id)
    await watching.wait_for(presence_of("ada", "wes"))
    assert (await app.presence(ada, scan.id)).submitters == 1
    first.close()
    await asyncio.sleep(0.6)
    assert who(watching.of(EventType.SCAN_PRESENCE)[-1]) == {"ada", "wes"}
    left_at = asyncio.get_running_loop().time()
    second.leave(scan.id)
    gone = await watching.wait_for(presence_of("ada"), 2.5, after=left_at)
    assert watching.arrival(gone) - left_at <= 2.0
    second.close()
    watching.close()


async def test_presence_spans_every_process_sharing_the_broker(
    deployment: Deployment, app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """A worker joined through one process shows in the presence an admin on the other gets,
    and leaves it when it goes."""
    if not deployment.shared:
        pytest.skip("an in-process broker serves one process only")
    other = await deployment.start()
    scan = await app.create_scan(ada, "s")
    watching = await join_as(app, ada, scan.id)
    await watching.wait_for(presence_of("ada"))
    await asyncio.sleep(0.1)  # shared with the other process by now
    with ViewerSession(other, wes) as remote:
        answer = await remote.join(scan.id)
        assert answer.presence is not None
        assert (answer.presence.reviewers, answer.presence.submitters) == (1, 1)
        await watching.wait_for(presence_of("ada", "wes"))
        assert (await app.presence(ada, scan.id)).submitters == 1
        left_at = asyncio.get_running_loop().time()
    await watching.wait_for(presence_of("ada"), 2.5, after=left_at)
    watching.close()


class PresenceSent:
    """A ``LiveObserver`` that notes when the fan-out hands out each ``scan:presence``."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def published(self, event: ScanEvent) -> None:
        """Nothing to note."""

    def delivered(self, event: ScanEvent, viewers: int) -> None:
        """Note the moment a ``scan:presence`` goes to this process's viewers."""
        if event.type is EventType.SCAN_PRESENCE:
            self.times.append(time.monotonic())


async def test_presence_is_coalesced_while_a_thousand_viewers_join(
    deployment: Deployment, app: TaskStream, ada: Principal
) -> None:
    """1,000 viewers joining at once (over both processes with Redis) make at most two
    scan:presence per second go to a viewer, the last one counting all of them. The times
    are taken where the fan-out hands them out: when a loaded machine runs the reading
    task late, two of them can reach the reader closer together than they were sent."""
    processes = [app, await deployment.start()] if deployment.shared else [app]
    scan = await app.create_scan(ada, "crowd")
    watching = await join_as(app, ada, scan.id)
    await watching.wait_for(presence_of("ada"))
    sent = PresenceSent()
    app.fanout.observer = sent
    crowd = [Principal(f"w{i}", f"worker{i}", Role.WORKER) for i in range(1000)]
    viewers = [ViewerSession(processes[i % len(processes)], p) for i, p in enumerate(crowd)]
    await asyncio.gather(*(v.join(scan.id) for v in viewers))
    await watching.wait_for(
        lambda e: (
            e.type is EventType.SCAN_PRESENCE
            and e.presence is not None
            and e.presence.submitters == 1000
        ),
        within=30,  # a bound for a loaded CI machine, not a speed goal
    )
    await asyncio.sleep(1.0)
    assert sent.times, "no scan:presence was handed out"
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent.times)]
    assert all(gap >= 0.45 for gap in gaps), gaps
    last = watching.of(EventType.SCAN_PRESENCE)[-1].presence
    assert last is not None
    assert (last.reviewers, last.submitters) == (1, 1000)
    for viewer in viewers:
        viewer.close()
    watching.close()


_DOOMED = textwrap.dedent(
    """
    import asyncio, sys
    from taskstream_core import Principal, Role, TaskStream, TokenIssuer, ViewerSession
    from taskstream_core.brokers.redis import RedisBroker
    from taskstream_core.stores.sqlite import SQLiteStore

    async def main() -> None:
        url, prefix, db, scan_id = sys.argv[1:]
        broker = RedisBroker(url, prefix=prefix, presence_ttl=1.0)
        app = TaskStream(SQLiteStore(db), TokenIssuer(b"k" * 32), "invite-code-123456",
                         broker=broker)
        await app.start()
        viewer = ViewerSession(app, Principal("doomed-id", "doomed", Role.WORKER))
        await viewer.join(scan_id)
        print("joined", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_the_users_of_a_process_that_died_are_gone_once_its_ttl_lapses(
    broker_adapter: BrokerAdapter, tmp_path: Path
) -> None:
    """A process killed with SIGKILL withdraws nothing; its users leave presence once its
    entries' TTL (1 s here, 20 s by default) lapses, and viewers elsewhere are told."""
    if broker_adapter.peers is None:
        pytest.skip("an in-process broker serves one process only: it dies with its viewers")
    url, prefix, db = shared_redis_url(), unique_prefix(), tmp_path / "shared.db"
    deployment = Deployment(broker_adapter)
    app = await deployment.start(
        broker=RedisBroker(url, prefix=prefix, presence_ttl=1.0), store=SQLiteStore(db)
    )
    try:
        ada = await sign_up(app, "ada", "admin")
        scan = await app.create_scan(ada, "s")
        watching = await join_as(app, ada, scan.id)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _DOOMED,
            url,
            prefix,
            str(db),
            scan.id,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        killed_at = float("inf")
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.strip() == b"joined"
            await watching.wait_for(presence_of("ada", "doomed"))
        finally:
            child.send_signal(signal.SIGKILL)
            killed_at = asyncio.get_running_loop().time()
            await asyncio.wait_for(child.wait(), 10)
        gone = await watching.wait_for(presence_of("ada"), 5, after=killed_at)
        # the TTL, a heartbeat, the coalescing, and some slack
        assert watching.arrival(gone) - killed_at <= 1.0 + 0.25 + 0.5 + 0.5
        assert {u.username for u in (await app.presence(ada, scan.id)).present} == {"ada"}
        watching.close()
    finally:
        await deployment.stop()
