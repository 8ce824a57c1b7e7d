"""Each live event encoded once, however many sockets it goes to.

The broker hands the same :class:`ScanEvent` object to every subscription it
reaches, and every socket's pump then sends it. Building the envelope and
serialising it per socket made fan-out cost grow with the number of viewers
(JSON, dicts, time formatting, a task per send in python-socketio's emit).
Keyed by the event object itself, the finished Engine.IO packet is shared:
Engine.IO caches a packet's encoded text, so every socket writes the same
string, and a websocket that takes its events past engineio (see
:mod:`websocket_lane`) writes the same frame bytes. A miss (a pump far
behind, the cache rolled over) only encodes again.
"""

from __future__ import annotations

from typing import Any, Final

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from taskstream_core import ScanEvent

from .websocket_lane import text_frame

__all__ = ["EventPackets"]

#: Events kept encoded; pumps read an event within moments of each other.
DEFAULT_SIZE: Final = 256


class EventPackets:
    def __init__(self, packet_class: type[sio_packet.Packet], size: int = DEFAULT_SIZE) -> None:
        self._packet_class = packet_class
        self._size = size
        self._encoded: dict[int, tuple[ScanEvent, eio_packet.Packet, bytes]] = {}

    def packet(self, event: ScanEvent) -> eio_packet.Packet:
        """The Engine.IO message carrying ``event`` as a Socket.IO event, already encoded."""
        return self._entry(event)[1]

    def frame(self, event: ScanEvent) -> bytes:
        """That message as a server's websocket text frame, the bytes on the wire."""
        return self._entry(event)[2]

    def _entry(self, event: ScanEvent) -> tuple[ScanEvent, eio_packet.Packet, bytes]:
        hit = self._encoded.get(id(event))
        if hit is not None and hit[0] is event:
            return hit
        data: list[Any] = [event.type.value, event.to_envelope()]
        # What python-socketio's Packet(EVENT, data, namespace="/").encode() gives for
        # data without bytes (an envelope holds none), without its walk of every value.
        text = str(sio_packet.EVENT) + self._packet_class.json.dumps(data, separators=(",", ":"))
        encoded = eio_packet.Packet(eio_packet.MESSAGE, text)
        wire = encoded.encode()  # fills the packet's cache: every socket writes that string
        assert isinstance(wire, str)
        if len(self._encoded) >= self._size:
            del self._encoded[next(iter(self._encoded))]
        entry = self._encoded[id(event)] = (event, encoded, text_frame(wire))
        return entry
