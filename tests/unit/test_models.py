"""Value objects and their JSON shapes, checked against CONTRACT.md."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskstream_core import Principal, Role, Scan, ScanEvent, Task
from taskstream_core.models import (
    EventType,
    HistoryAction,
    HistoryEntry,
    ReviewerStats,
    ScanCounts,
    ScanStats,
    ScanStatus,
    TaskHistory,
    TaskStatus,
    User,
    WorkerStats,
    format_time,
    parse_time,
    utc_now,
)
from tests.support.shapes import (
    COUNTS_KEYS,
    HISTORY_BY_KEYS,
    HISTORY_ENTRY_KEYS,
    HISTORY_KEYS,
    REVIEWER_KEYS,
    SCAN_KEYS,
    STATS_KEYS,
    TASK_KEYS,
    WORKER_KEYS,
)

from ..conformance.factories import T0, at

USER_KEYS = {"id", "username", "role", "created_at"}
SCAN_EXTRA_KEYS = {"closed_at"}  # an addition the contract allows


def pending_task() -> Task:
    return Task(
        id="t1",
        scan_id="s1",
        worker_id="w1",
        worker_username="alice",
        content="look at this",
        status=TaskStatus.PENDING,
        created_at=T0,
        seq=3,
        created_seq=3,
    )


def closed_scan() -> Scan:
    return Scan(
        id="s1",
        name="Scan one",
        description="first",
        status=ScanStatus.CLOSED,
        created_by="a1",
        created_at=T0,
        counts=ScanCounts(pending=1, validated=2, refused=3),
        closed_at=at(60),
    )


def test_format_time_is_utc_iso_with_milliseconds_and_z() -> None:
    """Times format as ``2026-11-28T01:02:03.456Z``."""
    assert format_time(T0) == "2026-11-28T01:02:03.456Z"


def test_format_time_truncates_microseconds_and_converts_to_utc() -> None:
    """Sub-millisecond digits are dropped and other offsets converted to UTC."""
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 28, 2, 2, 3, 456999, tzinfo=paris)
    assert format_time(moment) == "2026-11-28T01:02:03.456Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


def test_parse_time_inverts_format_time_and_accepts_offsets() -> None:
    """parse_time reads the wire format back, and any ISO 8601 offset, as aware UTC."""
    assert parse_time("2026-11-28T01:02:03.456Z") == T0
    assert parse_time(format_time(T0)) == T0
    parsed = parse_time("2026-11-28T02:02:03.456+01:00")
    assert parsed == T0
    assert parsed.tzinfo == UTC
    assert parse_time("2026-11-28T01:02:03.456") == T0


def test_utc_now_is_aware_utc_at_millisecond_precision() -> None:
    """utc_now is timezone-aware UTC with whole milliseconds, so it survives a round trip."""
    now = utc_now()
    assert now.tzinfo == UTC
    assert now.microsecond % 1000 == 0
    assert parse_time(format_time(now)) == now


def test_enum_values_are_the_contracts_strings() -> None:
    """Roles, statuses and event types spell exactly as the contract does."""
    assert [r.value for r in Role] == ["admin", "worker"]
    assert [s.value for s in ScanStatus] == ["open", "closed"]
    assert [s.value for s in TaskStatus] == ["pending", "validated", "refused"]
    assert [e.value for e in EventType] == [
        "task:created",
        "task:updated",
        "scan:updated",
        "scan:stats",
        "task:claimed",
        "scan:presence",
    ]


def test_user_json_shape() -> None:
    """A User serialises to exactly the contract's keys and round-trips."""
    user = User(id="u1", username="alice", role=Role.WORKER, created_at=T0)
    body = user.to_dict()
    assert body == {
        "id": "u1",
        "username": "alice",
        "role": "worker",
        "created_at": "2026-11-28T01:02:03.456Z",
    }
    assert set(body) == USER_KEYS
    assert User.from_dict(json.loads(json.dumps(body))) == user


def test_scan_json_shape() -> None:
    """A Scan serialises to the contract's keys (plus closed_at) and round-trips."""
    scan = closed_scan()
    body = scan.to_dict()
    assert set(body) == SCAN_KEYS | SCAN_EXTRA_KEYS
    assert body == {
        "id": "s1",
        "name": "Scan one",
        "description": "first",
        "status": "closed",
        "created_by": "a1",
        "created_at": "2026-11-28T01:02:03.456Z",
        "closed_at": "2026-11-28T01:03:03.456Z",
        "counts": {"pending": 1, "validated": 2, "refused": 3},
    }
    assert set(body["counts"]) == COUNTS_KEYS
    assert Scan.from_dict(json.loads(json.dumps(body))) == scan


def test_an_open_scan_has_null_closed_at() -> None:
    """An open scan serialises closed_at as null and reads back open."""
    scan = Scan("s", "n", "", ScanStatus.OPEN, "a", T0)
    assert scan.to_dict()["closed_at"] is None
    assert scan.to_dict()["counts"] == {"pending": 0, "validated": 0, "refused": 0}
    assert scan.is_open
    assert Scan.from_dict(scan.to_dict()) == scan


def test_pending_task_json_shape_has_nulls() -> None:
    """A pending task has the contract's keys with reason, decided_by and decided_at null."""
    body = pending_task().to_dict()
    assert set(body) == TASK_KEYS
    assert body == {
        "id": "t1",
        "scan_id": "s1",
        "worker_id": "w1",
        "worker_username": "alice",
        "content": "look at this",
        "status": "pending",
        "reason": None,
        "decided_by": None,
        "created_at": "2026-11-28T01:02:03.456Z",
        "decided_at": None,
        "seq": 3,
    }


def test_decided_task_json_shape_and_round_trip() -> None:
    """A decided task carries its verdict, and to_record/from_dict round-trips it."""
    task = pending_task().decided(TaskStatus.REFUSED, reason="blurry", by="a1", at=at(2), seq=9)
    body = task.to_dict()
    assert set(body) == TASK_KEYS
    assert (body["status"], body["reason"], body["decided_by"]) == ("refused", "blurry", "a1")
    assert body["decided_at"] == "2026-11-28T01:02:05.456Z"
    assert body["seq"] == 9
    assert task.created_seq == 3
    assert not task.is_pending
    assert Task.from_dict(json.loads(json.dumps(task.to_record()))) == task
    assert task.to_record() == {**body, "created_seq": 3}


def test_task_from_a_contract_object_takes_created_seq_from_seq() -> None:
    """A Task object without created_seq (as a client reads it) gets seq as created_seq."""
    task = Task.from_dict(pending_task().to_dict())
    assert task == pending_task()


def test_a_stored_document_missing_a_field_is_an_internal_error_naming_it() -> None:
    """from_dict names the missing field instead of failing with a KeyError."""
    body = pending_task().to_dict()
    del body["content"]
    with pytest.raises(ValueError, match="'content'"):
        Task.from_dict(body)
    scan = closed_scan().to_dict()
    del scan["created_by"]
    with pytest.raises(ValueError, match="'created_by'"):
        Scan.from_dict(scan)
    scan = closed_scan().to_dict()
    del scan["counts"]["refused"]
    with pytest.raises(ValueError, match="'refused'"):
        Scan.from_dict(scan)


def test_stats_json_shape() -> None:
    """Stats serialise to the contract's keys, with per-worker objects and derived figures."""
    stats = ScanStats(
        scan_id="s1",
        counts=ScanCounts(pending=2, validated=3, refused=1),
        submissions_last_minute=4,
        decision_seconds_p50=1.5,
        decision_seconds_p95=9.25,
        workers=(WorkerStats("w1", "alice", 6, 2, 3, 1),),
        seq=12,
    )
    body = stats.to_dict()
    assert set(body) == STATS_KEYS
    assert body == {
        "scan_id": "s1",
        "total": 6,
        "pending": 2,
        "validated": 3,
        "refused": 1,
        "acceptance_rate": 0.75,
        "submissions_last_minute": 4,
        "decision_seconds_p50": 1.5,
        "decision_seconds_p95": 9.25,
        "workers": [
            {
                "worker_id": "w1",
                "username": "alice",
                "submitted": 6,
                "pending": 2,
                "validated": 3,
                "refused": 1,
            }
        ],
        "decisions_last_minute": 0,
        "oldest_pending_at": None,
        "reviewers": [],
    }
    assert set(body["workers"][0]) == WORKER_KEYS
    assert ScanStats.from_dict(json.loads(json.dumps(body)), seq=12) == stats


def test_stats_carry_the_v2_analytics() -> None:
    """decisions_last_minute, oldest_pending_at and reviewers serialise as the contract says."""
    stats = ScanStats(
        scan_id="s1",
        counts=ScanCounts(pending=1, validated=2, refused=1),
        submissions_last_minute=4,
        decision_seconds_p50=1.5,
        decision_seconds_p95=9.25,
        workers=(),
        seq=12,
        decisions_last_minute=3,
        oldest_pending_at=T0,
        reviewers=(
            ReviewerStats("a1", "ada", 3, 2, 1, 4, 2.5),
            ReviewerStats("a2", "bo", 0, 0, 0, 1, None),
        ),
    )
    body = stats.to_dict()
    assert set(body) == STATS_KEYS
    assert body["decisions_last_minute"] == 3
    assert body["oldest_pending_at"] == "2026-11-28T01:02:03.456Z"
    assert body["reviewers"] == [
        {
            "admin_id": "a1",
            "username": "ada",
            "decided": 3,
            "validated": 2,
            "refused": 1,
            "undone": 4,
            "decision_seconds_p50": 2.5,
        },
        {
            "admin_id": "a2",
            "username": "bo",
            "decided": 0,
            "validated": 0,
            "refused": 0,
            "undone": 1,
            "decision_seconds_p50": None,
        },
    ]
    assert all(set(r) == REVIEWER_KEYS for r in body["reviewers"])
    assert ScanStats.from_dict(json.loads(json.dumps(body)), seq=12) == stats


def test_history_json_shape() -> None:
    """A task history is ``{task_id, entries}``, each entry with ``by`` nested, in order."""
    history = TaskHistory(
        "t1",
        (
            HistoryEntry(3, T0, HistoryAction.CREATED, "w1", "alice"),
            HistoryEntry(5, at(2), HistoryAction.REFUSED, "a1", "root", "blurry"),
            HistoryEntry(6, at(4), HistoryAction.UNDONE, "a1", "root"),
        ),
    )
    body = history.to_dict()
    assert set(body) == HISTORY_KEYS
    assert body == {
        "task_id": "t1",
        "entries": [
            {
                "seq": 3,
                "at": "2026-11-28T01:02:03.456Z",
                "action": "created",
                "by": {"user_id": "w1", "username": "alice"},
                "reason": None,
            },
            {
                "seq": 5,
                "at": "2026-11-28T01:02:05.456Z",
                "action": "refused",
                "by": {"user_id": "a1", "username": "root"},
                "reason": "blurry",
            },
            {
                "seq": 6,
                "at": "2026-11-28T01:02:07.456Z",
                "action": "undone",
                "by": {"user_id": "a1", "username": "root"},
                "reason": None,
            },
        ],
    }
    for entry in body["entries"]:
        assert set(entry) == HISTORY_ENTRY_KEYS
        assert set(entry["by"]) == HISTORY_BY_KEYS
    assert TaskHistory.from_dict(json.loads(json.dumps(body))) == history
    assert [a.value for a in HistoryAction] == ["created", "validated", "refused", "undone"]
    broken = body["entries"][0] | {"action": "deleted"}
    with pytest.raises(ValueError, match="deleted"):
        HistoryEntry.from_dict(broken)
    with pytest.raises(ValueError, match="'by'"):
        HistoryEntry.from_dict({k: v for k, v in broken.items() if k != "by"})


def test_undone_gives_the_task_back_pending() -> None:
    """Task.undone clears the verdict and takes the undo's seq; the task itself is unchanged."""
    decided = pending_task().decided(TaskStatus.REFUSED, reason="no", by="a1", at=at(5), seq=7)
    again = decided.undone(seq=9)
    assert again == dataclasses.replace(pending_task(), seq=9)
    assert decided.status is TaskStatus.REFUSED


def test_acceptance_rate_is_null_until_something_is_decided() -> None:
    """acceptance_rate is validated / decided, and null with nothing decided."""
    empty = ScanStats("s", ScanCounts(pending=5), 0, None, None, ())
    assert empty.acceptance_rate is None
    assert empty.to_dict()["acceptance_rate"] is None
    assert empty.to_dict()["decision_seconds_p50"] is None
    refused_only = ScanStats("s", ScanCounts(refused=2), 0, 1.0, 1.0, ())
    assert refused_only.acceptance_rate == 0.0


def test_event_envelopes_carry_type_scan_id_seq_and_their_object() -> None:
    """Each event type's envelope is ``{"type", "scan_id", "seq", ...}`` with its object."""
    task = pending_task()
    scan = closed_scan()
    stats = ScanStats("s1", ScanCounts(), 0, None, None, ())
    created = ScanEvent(EventType.TASK_CREATED, "s1", 3, task=task)
    assert created.to_envelope() == {
        "type": "task:created",
        "scan_id": "s1",
        "seq": 3,
        "task": task.to_dict(),
    }
    assert created.worker_id == "w1"
    updated = ScanEvent(EventType.SCAN_UPDATED, "s1", 4, scan=scan)
    assert updated.to_envelope() == {
        "type": "scan:updated",
        "scan_id": "s1",
        "seq": 4,
        "scan": scan.to_dict(),
    }
    assert updated.worker_id is None
    stats_event = ScanEvent(EventType.SCAN_STATS, "s1", 4, stats=stats)
    assert stats_event.to_envelope() == {
        "type": "scan:stats",
        "scan_id": "s1",
        "seq": 4,
        "stats": stats.to_dict(),
    }


def test_event_records_round_trip() -> None:
    """to_record/from_record rebuild task and scan events equal, through JSON."""
    for event in (
        ScanEvent(EventType.TASK_CREATED, "s1", 3, task=pending_task()),
        ScanEvent(EventType.SCAN_UPDATED, "s1", 4, scan=closed_scan()),
    ):
        assert ScanEvent.from_record(json.loads(json.dumps(event.to_record()))) == event


def test_principal_knows_whether_it_is_an_admin() -> None:
    """is_admin is true for the admin role only."""
    assert Principal("u", "n", Role.ADMIN).is_admin
    assert not Principal("u", "n", Role.WORKER).is_admin
