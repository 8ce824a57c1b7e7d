"""Claims and presence as values: their contract shapes (CONTRACT.md §4.1, §4.2)."""

from __future__ import annotations

import dataclasses

from taskstream_core import Role, ScanEvent
from taskstream_core.errors import AlreadyDecided, Conflict
from taskstream_core.models import Claim, EventType, Presence, PresentUser

from ..conformance.factories import T0, at

CLAIM_KEYS = {"task_id", "admin_id", "admin_username", "expires_at"}
PRESENT_KEYS = {"user_id", "username", "role", "since"}


def a_claim() -> Claim:
    return Claim("t1", "s1", "a1", "ada", at(30))


def test_a_claim_has_the_contract_shape_and_round_trips() -> None:
    """Claim.to_dict has exactly the contract's keys; the record adds the scan and reads back."""
    claim = a_claim()
    assert claim.to_dict() == {
        "task_id": "t1",
        "admin_id": "a1",
        "admin_username": "ada",
        "expires_at": "2026-11-28T01:02:33.456Z",
    }
    assert set(claim.to_dict()) == CLAIM_KEYS
    assert Claim.from_dict(claim.to_record()) == claim
    assert Claim.from_dict(claim.to_dict(), scan_id="s1") == claim


def test_a_claim_is_live_until_it_expires() -> None:
    """A claim holds strictly before expires_at, and no longer at it."""
    claim = a_claim()
    assert claim.is_live(at(29.999))
    assert not claim.is_live(at(30))


def test_presence_counts_each_user_once_with_the_earliest_since() -> None:
    """A user present through several viewers or processes counts once, from its first join."""
    ada_late = PresentUser("a1", "ada", Role.ADMIN, at(5))
    ada = PresentUser("a1", "ada", Role.ADMIN, at(1))
    bob = PresentUser("w1", "bob", Role.WORKER, at(2))
    eve = PresentUser("w2", "eve", Role.WORKER, T0)
    presence = Presence.of("s1", [ada_late, bob, ada, eve])
    assert presence.present == (eve, ada, bob)
    assert (presence.reviewers, presence.submitters) == (1, 2)


def test_presence_has_an_admin_shape_and_a_worker_shape() -> None:
    """Admins get who is present; workers only the counts (CONTRACT.md §4.1)."""
    presence = Presence.of("s1", [PresentUser("a1", "ada", Role.ADMIN, T0)])
    detailed = presence.to_dict()
    assert detailed == {
        "reviewers": 1,
        "submitters": 0,
        "present": [
            {
                "user_id": "a1",
                "username": "ada",
                "role": "admin",
                "since": "2026-11-28T01:02:03.456Z",
            }
        ],
    }
    assert set(detailed["present"][0]) == PRESENT_KEYS
    assert presence.counts_only().to_dict() == {"reviewers": 1, "submitters": 0}
    assert Presence.from_dict(detailed, scan_id="s1") == presence
    counts = presence.counts_only()
    assert Presence.from_dict(counts.to_dict(), scan_id="s1") == counts


def test_notices_have_no_seq_on_the_wire() -> None:
    """task:claimed and scan:presence envelopes carry no seq; other events keep theirs."""
    claimed = ScanEvent(EventType.TASK_CLAIMED, "s1", 0, task_id="t1", claim=a_claim())
    assert claimed.to_envelope() == {
        "type": "task:claimed",
        "scan_id": "s1",
        "task_id": "t1",
        "claim": a_claim().to_dict(),
    }
    ended = dataclasses.replace(claimed, claim=None)
    assert ended.to_envelope() == {
        "type": "task:claimed",
        "scan_id": "s1",
        "task_id": "t1",
        "claim": None,
    }
    presence = Presence.of("s1", [PresentUser("w1", "bob", Role.WORKER, T0)])
    shown = ScanEvent(EventType.SCAN_PRESENCE, "s1", 0, presence=presence.counts_only())
    assert shown.to_envelope() == {
        "type": "scan:presence",
        "scan_id": "s1",
        "reviewers": 0,
        "submitters": 1,
    }
    assert EventType.TASK_CLAIMED.is_notice
    assert EventType.SCAN_PRESENCE.is_notice
    assert not any(t.is_notice for t in (EventType.TASK_CREATED, EventType.SCAN_STATS))


def test_notices_survive_the_brokers_record() -> None:
    """A notice read back from its record equals what was sent (what Redis carries)."""
    presence = Presence.of("s1", [PresentUser("a1", "ada", Role.ADMIN, T0)])
    for event in (
        ScanEvent(EventType.TASK_CLAIMED, "s1", 0, task_id="t1", claim=a_claim()),
        ScanEvent(EventType.TASK_CLAIMED, "s1", 0, task_id="t1"),
        ScanEvent(EventType.SCAN_PRESENCE, "s1", 0, presence=presence),
        ScanEvent(EventType.SCAN_PRESENCE, "s1", 0),
    ):
        assert ScanEvent.from_record(event.to_record()) == event


def test_a_conflict_carries_the_claim_in_the_way() -> None:
    """Conflict with a claim answers error.claim; without one the v1 body, as AlreadyDecided."""
    body = Conflict("Another admin is deciding this task.", claim=a_claim()).to_dict()
    assert body == {
        "error": {
            "code": "conflict",
            "message": "Another admin is deciding this task.",
            "claim": a_claim().to_dict(),
        }
    }
    assert Conflict().to_dict() == {
        "error": {"code": "conflict", "message": Conflict.default_message}
    }
    assert set(AlreadyDecided().to_dict()["error"]) == {"code", "message"}
