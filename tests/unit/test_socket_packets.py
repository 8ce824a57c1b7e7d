"""What the gateway sends: events encoded as python-socketio would, and acks it can count."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import engineio
import pytest
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from taskstream_core import ScanEvent
from taskstream_core.models import EventType, Task, TaskStatus
from taskstream_server.socket_packets import (
    DROPPED,
    MALFORMED_EVENT,
    MAX_INT_DIGITS,
    Answer,
    ClientPacket,
)
from taskstream_server.sockets import _Outbox, event_packet


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
def test_an_event_packet_is_python_socketios_own(content: str) -> None:
    event = _event(content)
    data = [event.type.value, event.to_envelope()]
    sio_text = sio_packet.Packet(sio_packet.EVENT, data=data, namespace="/").encode()
    assert event_packet(event).encode() == eio_packet.Packet(eio_packet.MESSAGE, sio_text).encode()


def test_acks_never_become_binary_packets() -> None:
    ack = ClientPacket(sio_packet.ACK, data=[{"ok": True, "task": {"id": "t1"}}], id=3)
    assert ack.encode() == '33[{"ok":true,"task":{"id":"t1"}}]'


def test_event_integers_are_read_up_to_engineios_limit_of_digits() -> None:
    """As python-engineio reads them: 100 characters (a sign counts) are a number, 101 make
    the packet malformed."""
    fits = "9" * MAX_INT_DIGITS
    packet = ClientPacket(encoded_packet=f'2["task:submit",{{"n":{fits}}},-{fits[1:]}]')
    assert packet.data == ["task:submit", {"n": int(fits)}, -int(fits[1:])]
    assert ClientPacket(encoded_packet=f'2["x",-{fits}]').data == [MALFORMED_EVENT]
    packet = ClientPacket(encoded_packet=f'2["task:submit",{{"n":{fits}9}}]')
    assert packet.data == [MALFORMED_EVENT]
    assert ClientPacket(encoded_packet='2["x",1.5e3]').data == ["x", 1500.0]


def test_the_packet_json_reads_bytes_as_the_client_managers_pubsub_messages_are() -> None:
    """python-socketio's Redis manager reads its messages (bytes) with the packet class's JSON."""
    body = {"method": "close_room", "room": "session:é"}
    message = json.dumps(body).encode()
    assert ClientPacket.json.loads(message) == body
    assert ClientPacket.json.loads(message.decode()) == body


def test_an_answer_is_counted_as_encoded_and_replaced_when_refused() -> None:
    sizes: list[int] = []

    def admit(size: int) -> bool:
        sizes.append(size)
        return True

    admitted = Answer({"ok": True, "n": 1}, admit)
    assert ClientPacket(sio_packet.ACK, data=[admitted], id=3).encode() == '33[{"ok":true,"n":1}]'
    assert sizes == [len('33[{"ok":true,"n":1}]')]
    refused = Answer({"ok": True, "big": "x" * 1000}, lambda size: False)
    text = ClientPacket(sio_packet.ACK, data=[refused], id=4).encode()
    assert text == ClientPacket(sio_packet.ACK, data=[DROPPED], id=4).encode()
    assert '"unavailable"' in text


async def test_the_outbox_counts_what_engineios_writer_holds_until_it_takes_again() -> None:
    """python-engineio's own ``poll`` is the writer: a batch it took stays unsent until it
    polls again, however empty the queue looks meanwhile."""
    server = engineio.AsyncServer(async_mode="asgi")
    socket = AsyncSocket(server, "sid-1")
    outbox = _Outbox()

    def queue(size: int) -> None:
        outbox.look(socket.queue.qsize())
        outbox.count(size)
        socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "x" * size))

    queue(10)
    queue(20)
    assert len(await socket.poll()) == 2  # the writer holds both, and writes them
    queue(5)
    assert outbox.unsent == 35  # the queue held 1 of 3: the first two may be unwritten
    queue(5)
    assert outbox.unsent == 40  # nothing taken since: all of it may be unwritten
    assert len(await socket.poll()) == 2  # taken again: the first batch was written
    queue(1)
    assert outbox.unsent == 11
    socket.queue.put_nowait(eio_packet.Packet(eio_packet.PING))  # not counted by the gateway
    queue(2)
    assert outbox.unsent == 13
    assert len(await socket.poll()) == 3
    queue(3)
    assert outbox.unsent == 6  # the ping only made it count more for a while
