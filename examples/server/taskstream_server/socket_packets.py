"""Socket.IO packets whose event part cannot be read still reach a handler, so they get an ack.

python-socketio raises when an event packet's JSON does not parse (malformed
text, nesting past the parser's depth, an integer of more than 100 digits) or
is not ``[name, ...args]``; the packet is then dropped after a logged error
and the client waits for its ack until its own timeout. The contract says
every client event is acknowledged and malformed JSON is ``invalid_request``,
so such a packet is turned into the event :data:`MALFORMED_EVENT`, which the
gateway acks with that code like any other refused payload. A connect packet
whose auth cannot be read is likewise handled as one without auth, refused
with ``unauthorized`` instead of left unanswered.

An event named like one of the events Socket.IO keeps for itself
(:data:`RESERVED_NAMES`: ``connect``, ``disconnect``, ...) would otherwise
reach the server's connection handlers: python-socketio dispatches an event
packet by its name, whatever its type. Such a packet becomes the event
:data:`RESERVED_EVENT` with the name as its first argument, which the
gateway answers like any unknown event.

An ack whose payload is an :class:`Answer` has its text counted against its
socket's send budget as python-socketio encodes it, just before it is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engineio import json as engineio_json
from socketio import packet

from taskstream_core.errors import Unavailable

__all__ = ["MALFORMED_EVENT", "RESERVED_EVENT", "RESERVED_NAMES", "Answer", "ClientPacket"]

#: The event a packet becomes when its ``[name, ...args]`` cannot be read.
MALFORMED_EVENT: Final = "\x00malformed"
#: The event a packet named after a reserved event becomes: ``[RESERVED_EVENT, name, ...args]``.
RESERVED_EVENT: Final = "\x00reserved"
#: Event names no client event may use: socket.io's reserved events (python-socketio's
#: ``connect`` and ``disconnect`` among them) and the two names above.
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
    """An ack's payload, and what decides whether its socket may hold its text.

    Args:
        body: The payload.
        admit: Called with the length of the ack's text before python-socketio queues it;
            False (the socket holds too much unsent and is being dropped) sends an
            ``unavailable`` error in its place. None: always sent.
    """

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
    """The JSON part of a packet did not parse (a ValueError, as python-socketio expects)."""


class _Json:
    """engineio's JSON module (which caps integers at 100 digits), failing in one known way."""

    dumps = staticmethod(engineio_json.dumps)

    @staticmethod
    def loads(text: str, **kwargs: Any) -> Any:
        try:
            return engineio_json.loads(text, **kwargs)
        except (ValueError, RecursionError) as exc:
            raise _UnreadableJson(str(exc)) from None


class ClientPacket(packet.Packet):  # type: ignore[misc]  # python-socketio is untyped
    """The server's packet class (python-socketio's ``serializer`` option)."""

    json = _Json
    packet_type: int
    data: Any

    @classmethod
    def data_is_binary(cls, data: object) -> bool:
        """Never: what the server sends (acks, events) is JSON without bytes.

        python-socketio walks every value of every packet it builds looking for
        bytes to send as attachments; none can be there, so the walk is skipped.
        """
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
                # Auth that cannot be read is no auth: refused at connect as unauthorized.
                self.data = None
                return 0
            if self.packet_type not in (packet.EVENT, packet.BINARY_EVENT):
                raise
            # Attachments announced by a packet that cannot be read are not waited for.
            self.packet_type, self.data = packet.EVENT, [MALFORMED_EVENT]
            return 0
        if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
            if not _is_event(self.data):
                self.packet_type, self.data = packet.EVENT, [MALFORMED_EVENT]
                return 0
            if self.data[0] in RESERVED_NAMES:
                self.data = [RESERVED_EVENT, *self.data]
        return attachments


def _is_event(data: object) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)
