"""Sandboxing by rooms: who joins which room, and which rooms an event goes to."""

from __future__ import annotations

import pytest

from taskstream_core import Principal, Role, ScanEvent
from taskstream_core._rooms import (
    admin_room,
    event_rooms,
    may_see,
    may_see_task,
    scan_room,
    viewer_rooms,
    worker_room,
)
from taskstream_core.models import EventType, ScanCounts, ScanStats

from ..conformance.factories import make_task, scan_event, task_event

ADMIN = Principal("admin-1", "root", Role.ADMIN)
ALICE = Principal("alice", "alice", Role.WORKER)
BOB = Principal("bob", "bob", Role.WORKER)


def stats_event(scan_id: str) -> ScanEvent:
    stats = ScanStats(scan_id, ScanCounts(), 0, None, None, ())
    return ScanEvent(EventType.SCAN_STATS, scan_id, 0, stats=stats)


def test_room_names_are_distinct_per_scan_and_kind() -> None:
    """Scan, admin and worker rooms of two scans are six different strings."""
    rooms = {
        f(scan)
        for scan in ("s1", "s2")
        for f in (scan_room, admin_room, lambda s: worker_room(s, "alice"))
    }
    assert len(rooms) == 6
    assert worker_room("s1", "alice") != worker_room("s1", "bob")


def test_an_admin_joins_the_scan_room_and_the_all_tasks_room() -> None:
    """An admin viewer is in the scan's room and its all-tasks room, nothing else."""
    assert viewer_rooms("s1", ADMIN) == {scan_room("s1"), admin_room("s1")}


def test_a_worker_joins_the_scan_room_and_its_own_room() -> None:
    """A worker viewer is in the scan's room and its own worker room, never the admin room."""
    assert viewer_rooms("s1", ALICE) == {scan_room("s1"), worker_room("s1", "alice")}
    assert admin_room("s1") not in viewer_rooms("s1", ALICE)


def test_events_are_routed_by_kind() -> None:
    """Task events go to admins and their worker, scan events to the scan, stats to admins."""
    assert event_rooms(task_event("s1", 1, "alice")) == {
        admin_room("s1"),
        worker_room("s1", "alice"),
    }
    assert event_rooms(scan_event("s1", 2)) == {scan_room("s1")}
    assert event_rooms(stats_event("s1")) == {admin_room("s1")}


@pytest.mark.parametrize(
    ("viewer", "event", "visible"),
    [
        (ADMIN, task_event("s1", 1, "alice"), True),
        (ADMIN, scan_event("s1", 2), True),
        (ADMIN, stats_event("s1"), True),
        (ALICE, task_event("s1", 1, "alice"), True),
        (ALICE, task_event("s1", 1, "bob"), False),
        (ALICE, scan_event("s1", 2), True),
        (ALICE, stats_event("s1"), False),
        (BOB, task_event("s1", 1, "alice"), False),
        (BOB, task_event("s1", 1, "bob"), True),
    ],
    ids=lambda v: getattr(v, "username", None) or getattr(v, "type", v),
)
def test_may_see_applies_the_rooms_rule(viewer: Principal, event: ScanEvent, visible: bool) -> None:
    """A worker sees its own task events and scan events; an admin sees all of the scan."""
    assert may_see(viewer, event) is visible


@pytest.mark.parametrize("viewer", [ADMIN, ALICE])
def test_no_room_of_one_scan_receives_another_scans_events(viewer: Principal) -> None:
    """The rooms a viewer joins for one scan share nothing with another scan's events."""
    for event in (task_event("s2", 1, viewer.user_id), scan_event("s2", 2), stats_event("s2")):
        assert viewer_rooms("s1", viewer).isdisjoint(event_rooms(event))


def test_may_see_task_lets_workers_read_only_their_own() -> None:
    """An admin may read any task; a worker only its own."""
    task = make_task("s1", "alice", 1)
    assert may_see_task(ADMIN, task)
    assert may_see_task(ALICE, task)
    assert not may_see_task(BOB, task)
