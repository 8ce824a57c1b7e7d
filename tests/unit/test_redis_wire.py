"""The Redis broker's messages: a ``task:claimed`` keeps its claim version on the way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from taskstream_core import ScanEvent
from taskstream_core.brokers._redis_wire import decode, encode_event, encode_events, event_record
from taskstream_core.models import Claim, EventType, utc_now


def claimed(version: int, *, held: bool = True) -> ScanEvent:
    claim = Claim("task-1", "scan-1", "ada-1", "ada", utc_now() + timedelta(seconds=30))
    return ScanEvent(
        EventType.TASK_CLAIMED,
        "scan-1",
        0,
        task_id="task-1",
        claim=claim if held else None,
        claim_version=version,
    )


@pytest.mark.parametrize("held", [True, False])
@pytest.mark.parametrize("version", [0, 1, 2**53])
def test_a_claim_notice_comes_back_with_its_version(version: int, held: bool) -> None:
    """Alone or among others, the notice decodes equal, its version included (0: none sent)."""
    event = claimed(version, held=held)
    for message in (encode_event(event), encode_events([event_record(event)] * 2)):
        for back in decode(message).events:
            assert back == event
            assert back.claim_version == version
    assert ("claim_version" in event_record(event)) == bool(version)
    assert "claim_version" not in event.to_envelope(), "the version never reaches a client"


def test_a_claim_notice_of_an_earlier_release_reads_as_version_0() -> None:
    """A message without claim_version (a process of an earlier release) still decodes."""
    event = claimed(0)
    old = json.dumps({"v": 1, "event": event.to_record()}).encode()
    back = decode(old).event
    assert back == event
    assert back is not None
    assert back.claim_version == 0


@pytest.mark.parametrize("bad", ["7", -1, 1.5, True, None, [3]])
def test_a_malformed_claim_version_is_refused(bad: object) -> None:
    """A version that is no whole number makes the message malformed."""
    record = {**event_record(claimed(0)), "claim_version": bad}
    if bad is None:  # null reads as absent
        assert decode(json.dumps({"v": 1, "events": [record]})).events[0].claim_version == 0
        return
    with pytest.raises(ValueError, match="malformed"):
        decode(json.dumps({"v": 1, "events": [record]}))
