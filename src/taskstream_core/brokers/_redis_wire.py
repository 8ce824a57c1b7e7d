"""What the Redis broker puts on its channel, and the options it reads from its URL.

One channel per deployment, ``<prefix>:events``, carries these messages,
JSON objects tagged with a wire version:

- ``{"v": 1, "events": [<ScanEvent.to_record()>, ...]}`` — stored events, in
  the order one process published them: what its publisher sends in one go
  (every process then reads and parses one message, not one per event); a
  ``scan:stats`` event also carries ``"stats"`` (the contract's stats object),
  a ``task:claimed`` notice its ``claim_version`` (in its record; a notice
  without it, from a process of an earlier version, reads as 0: unknown).
- ``{"v": 1, "event": <ScanEvent.to_record()>}`` — one stored event, as
  processes of earlier versions send it (still read).
- ``{"v": 1, "resync": [scan_id, ...]}`` — a process could not publish some
  events of these scans: every process sends the scans' viewers away to
  resume with ``since_seq``, which reads what was lost from the store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._url import mask_url
from ..errors import TaskStreamError
from ..models import ScanEvent, ScanStats

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_REORDER_WINDOW",
    "WIRE_VERSION",
    "RedisOptions",
    "WireMessage",
    "decode",
    "encode_event",
    "encode_events",
    "encode_resync",
    "event_record",
    "parse_redis_url",
]

WIRE_VERSION: Final = 1
#: Channel names start with this unless the URL says ``?prefix=``.
DEFAULT_PREFIX: Final = "taskstream"
#: How long a process holds an event that arrived ahead of a missing seq. Events of
#: one scan from different processes overtake each other by milliseconds; a longer
#: wait only matters when an event was really lost, and then a resync follows.
DEFAULT_REORDER_WINDOW: Final = 2.0
_PREFIX_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_OWN_OPTIONS: Final = ("prefix", "reorder_window")


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """A ``redis://`` URL split into what redis-py reads and what TaskStream reads."""

    #: The URL for redis-py (and python-socketio's manager): our options removed.
    url: str
    #: Start of every channel name, so deployments can share one Redis.
    prefix: str = DEFAULT_PREFIX
    #: Seconds an event waits for a missing earlier one (see ``RedisBroker.reorder_window``).
    reorder_window: float = DEFAULT_REORDER_WINDOW

    @property
    def events_channel(self) -> str:
        """The channel of stored events (this broker)."""
        return f"{self.prefix}:events"

    @property
    def socketio_channel(self) -> str:
        """The channel of python-socketio's ``AsyncRedisManager``."""
        return f"{self.prefix}:socketio"


def parse_redis_url(url: str) -> RedisOptions:
    """Split a ``redis[s]://[:password@]host:port/db?prefix=name&reorder_window=2`` URL.

    ``prefix`` and ``reorder_window`` are TaskStream's; every other query
    option is redis-py's and stays in :attr:`RedisOptions.url`.

    Args:
        url: The URL, as given to ``--redis-url`` or :func:`~taskstream_core.open_broker`.

    Returns:
        The URL for redis-py, and TaskStream's options.

    Raises:
        ValueError: Not a ``redis://`` or ``rediss://`` URL, a prefix of another shape than
            1-64 of ``A-Z a-z 0-9 _ . : -``, or a ``reorder_window`` outside (0, 60] seconds.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        raise ValueError(f"{mask_url(url)!r} is not a redis:// or rediss:// URL")
    ours = {k: v for k, v in parse_qsl(parts.query) if k in _OWN_OPTIONS}
    theirs = [(k, v) for k, v in parse_qsl(parts.query) if k not in _OWN_OPTIONS]
    prefix = ours.get("prefix", DEFAULT_PREFIX)
    if not _PREFIX_SHAPE.fullmatch(prefix):
        raise ValueError(f"{mask_url(url)!r}: prefix must be 1-64 of A-Z a-z 0-9 _ . : -")
    try:
        window = float(ours.get("reorder_window", DEFAULT_REORDER_WINDOW))
    except ValueError:
        raise ValueError(f"{mask_url(url)!r}: reorder_window must be a number") from None
    if not 0 < window <= 60:
        raise ValueError(f"{mask_url(url)!r}: reorder_window must be in (0, 60] seconds")
    stripped = urlunsplit(parts._replace(query=urlencode(theirs)))
    return RedisOptions(url=stripped, prefix=prefix, reorder_window=window)


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One decoded message: events, in the order they were published, or the scans to resync."""

    events: tuple[ScanEvent, ...] = ()
    resync: tuple[str, ...] = ()

    @property
    def event(self) -> ScanEvent | None:
        """The message's only event; None when it carries none, or several."""
        return self.events[0] if len(self.events) == 1 else None


def event_record(event: ScanEvent) -> dict[str, Any]:
    """What carries ``event`` in a message: its record, and a ``scan:stats`` event's figures."""
    record: dict[str, Any] = event.to_record()
    if event.stats is not None:
        record["stats"] = event.stats.to_dict()
    return record


def encode_event(event: ScanEvent) -> bytes:
    """The message that carries ``event`` alone to every process (any version reads it)."""
    return _dump({"v": WIRE_VERSION, "event": event_record(event)})


def encode_events(records: Iterable[dict[str, Any]]) -> bytes:
    """The message that carries events to every process, in this order.

    Args:
        records: Each event's :func:`event_record`.

    Returns:
        One message, which :func:`decode` reads back into the events.
    """
    return _dump({"v": WIRE_VERSION, "events": list(records)})


def encode_resync(scan_ids: Iterable[str]) -> bytes:
    """The message that sends the viewers of ``scan_ids`` away to resume."""
    return _dump({"v": WIRE_VERSION, "resync": sorted(set(scan_ids))})


def decode(data: bytes | str) -> WireMessage:
    """The message in ``data``.

    Raises:
        ValueError: It is not a message this version reads, or one of its events is
            malformed (then none of them is taken).
    """
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("v") != WIRE_VERSION:
        raise ValueError("not a TaskStream message of wire version 1")
    if "resync" in body:
        scans = body["resync"]
        if not isinstance(scans, list) or not all(isinstance(s, str) for s in scans):
            raise ValueError("resync must be a list of scan ids")
        return WireMessage(resync=tuple(scans))
    records = body.get("events")
    if records is None and "event" in body:
        records = [body["event"]]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("neither events nor a resync")
    return WireMessage(events=tuple(_event(record) for record in records))


def _event(record: dict[str, Any]) -> ScanEvent:
    try:
        event = ScanEvent.from_record(record)
        stats = record.get("stats")
        if isinstance(stats, dict):
            event = ScanEvent(
                event.type,
                event.scan_id,
                event.seq,
                stats=ScanStats.from_dict(stats, seq=event.seq),
            )
    except (KeyError, TypeError, ValueError, TaskStreamError) as exc:
        raise ValueError(f"a malformed event: {exc!r}") from None
    return event


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
