"""The server's Socket.IO packet class: every client event gets an ack, and acks count.

python-socketio drops, after logging an error, an event packet whose JSON does not parse or
is not ``[name, ...args]``; here it becomes :data:`MALFORMED_EVENT`, which the gateway acks
``invalid_request``. An event named like a reserved one (``connect``...) becomes
:data:`RESERVED_EVENT`, answered as unknown. An ack carrying an :class:`Answer` is counted
against its socket's send budget as it is encoded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from engineio import json as engineio_json
from socketio import packet

from taskstream_core.errors import Unavailable

__all__ = [
    "MALFORMED_EVENT",
    "MAX_INT_DIGITS",
    "RESERVED_EVENT",
    "RESERVED_NAMES",
    "Answer",
    "ClientPacket",
]

#: The event a packet becomes when its ``[name, ...args]`` cannot be read.
MALFORMED_EVENT: Final = "\x00malformed"
#: The event a packet named after a reserved event becomes: ``[RESERVED_EVENT, name, ...args]``.
RESERVED_EVENT: Final = "\x00reserved"
#: Event names no client event may use: socket.io's reserved events and the two above.
RESERVED_NAMES: Final = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
        MALFORMED_EVENT,
        RESERVED_EVENT,
    }
)


class Answer(dict[str, Any]):
    """An ack's payload; ``admit(len(text))`` False sends :data:`DROPPED` in its place."""

    __slots__ = ("admit",)

    def __init__(self, body: dict[str, Any], admit: Callable[[int], bool] | None) -> None:
        super().__init__(body)
        self.admit = admit


#: What an ack that its socket could not hold is replaced with.
DROPPED: Final = {
    "ok": False,
    **Unavailable("This socket is being disconnected; reconnect and resume.").to_dict(),
}


class _UnreadableJson(ValueError):
    """The JSON part of a packet did not parse."""


#: The most characters (digits and sign) an integer in a client's packet may have, as in
#: python-engineio.
MAX_INT_DIGITS: Final = 100


def _bounded_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError("Integer is too large")
    return int(digits)


class _Json:
    """engineio's JSON module with integers capped at :data:`MAX_INT_DIGITS` characters, failing in
    one known way; one decoder for every packet (``json.loads`` with an option makes one per call).

    python-socketio's client managers read their pub/sub messages (bytes) with it too.
    """

    dumps = staticmethod(engineio_json.dumps)
    _decoder: Final = json.JSONDecoder(parse_int=_bounded_int)

    @staticmethod
    def loads(text: str | bytes) -> Any:
        try:
            if isinstance(text, str):
                return _Json._decoder.decode(text)
            return engineio_json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _UnreadableJson(str(exc)) from None


class ClientPacket(packet.Packet):  # type: ignore[misc]  # python-socketio is untyped
    """The server's packet class (python-socketio's ``serializer`` option)."""

    json = _Json
    packet_type: int
    data: Any

    def __init__(
        self, *args: Any, encoded_packet: str | bytes | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, encoded_packet=encoded_packet, **kwargs)
        if encoded_packet is not None and not encoded_packet:  # an empty message: skipped above
            self.packet_type, self.data, self.id = packet.EVENT, [MALFORMED_EVENT], None

    @classmethod
    def data_is_binary(cls, data: object) -> bool:
        """Never: acks and events hold no bytes, so python-socketio's walk is skipped."""
        return False

    def encode(self) -> str:
        text: str = super().encode()
        answer = self.data[0] if self.packet_type == packet.ACK and self.data else None
        if isinstance(answer, Answer) and answer.admit is not None and not answer.admit(len(text)):
            self.data = [DROPPED]
            text = super().encode()
        return text

    def decode(self, encoded_packet: str | bytes) -> int:
        try:
            attachments: int = super().decode(encoded_packet) or 0
        except _UnreadableJson:
            if self.packet_type == packet.CONNECT:
                # Unreadable auth is no auth: refused as unauthorized.
                self.data = None
                return 0
            if self.packet_type not in (packet.EVENT, packet.BINARY_EVENT):
                self.id = None  # an unreadable ack or disconnect: nothing to answer
            # Attachments announced by a packet that cannot be read are not waited for.
            self.packet_type, self.data = packet.EVENT, [MALFORMED_EVENT]
            return 0
        except (ValueError, IndexError, TypeError):
            # No Socket.IO packet at all (an empty message, a type that is no digit, stray
            # bytes): python-socketio would log its traceback. An event without an id: no ack.
            self.packet_type, self.data, self.id = packet.EVENT, [MALFORMED_EVENT], None
            return 0
        if self.packet_type == packet.CONNECT_ERROR:  # the server's to send, never a client's
            self.packet_type, self.data, self.id = packet.EVENT, [MALFORMED_EVENT], None
            return 0
        if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
            if not (isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
                self.packet_type, self.data = packet.EVENT, [MALFORMED_EVENT]
                return 0
            if self.data[0] in RESERVED_NAMES:
                self.data = [RESERVED_EVENT, *self.data]
        return attachments
