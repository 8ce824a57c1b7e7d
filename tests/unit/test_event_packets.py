"""event_packets: an event encoded once is exactly what python-socketio would have sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from taskstream_core import ScanEvent
from taskstream_core.models import EventType, Task, TaskStatus
from taskstream_server.event_packets import EventPackets
from taskstream_server.socket_packets import ClientPacket
from taskstream_server.websocket_lane import text_frame


def _event(content: str, seq: int = 7) -> ScanEvent:
    task = Task(
        id="t1",
        scan_id="s1",
        worker_id="w1",
        worker_username="wörker",
        content=content,
        status=TaskStatus.PENDING,
        created_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        seq=seq,
        created_seq=seq,
    )
    return ScanEvent(EventType.TASK_CREATED, "s1", seq, task=task)


@pytest.mark.parametrize("content", ["short", 'é\u2028"quoted" </script>', "x" * 70_000])
def test_the_packet_and_frame_are_python_socketios_own(content: str) -> None:
    event = _event(content)
    data = [event.type.value, event.to_envelope()]
    sio_text = sio_packet.Packet(sio_packet.EVENT, data=data, namespace="/").encode()
    expected = eio_packet.Packet(eio_packet.MESSAGE, sio_text).encode()

    packets = EventPackets(ClientPacket)
    assert packets.packet(event).encode() == expected
    assert packets.frame(event) == text_frame(expected)


def test_each_event_is_encoded_once_and_told_apart_from_an_equal_one() -> None:
    packets = EventPackets(ClientPacket, size=2)
    first = _event("a")
    assert packets.packet(first) is packets.packet(first)
    assert packets.frame(first) is packets.frame(first)
    twin = _event("a")  # equal, but another object: its own entry
    assert packets.packet(twin) is not packets.packet(first)
    for n in range(3):  # rolls the cache over: the first is encoded again, the same way
        packets.packet(_event("b", seq=n))
    assert packets.packet(first).encode() == packets.packet(twin).encode()


def test_acks_and_events_never_become_binary_packets() -> None:
    ack = ClientPacket(sio_packet.ACK, data=[{"ok": True, "task": {"id": "t1"}}], id=3)
    assert ack.packet_type == sio_packet.ACK
    assert ack.encode() == '33[{"ok":true,"task":{"id":"t1"}}]'
