"""The broker: carries stored events between the processes of one deployment.

A broker is a transport and nothing else. :meth:`Broker.publish` sends an
event, already stored; :meth:`Broker.events` yields every event published,
by this process or any other, and :class:`Resync` where events may have been
lost. Who receives what, in which order, is decided once, by the core's
fan-out: a broker delivers to no viewer itself.

A broker that carries each scan's events apart (Redis: a channel per scan)
also offers :class:`ScanFollowing`: its stream then yields only the events of
the scans followed, and the fan-out follows the scans its viewers join, so a
process reads nothing of the scans nobody views there.

Adapters are chosen by URL scheme (``memory://`` for one process,
``redis://`` for several); an adapter's module is imported only when its
scheme is used, so ``redis`` stays optional.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ._plugins import load_adapter, scheme_of
from .models import ScanEvent

__all__ = [
    "BROKER_SCHEMES",
    "Broker",
    "Resync",
    "ScanFollowing",
    "open_broker",
    "register_broker",
]


@dataclass(frozen=True, slots=True)
class Resync:
    """A broker's notice that events may have been lost on the way.

    The viewers of those scans are sent away to resume from the store, the
    source of truth.

    Attributes:
        scans: The scans concerned, or None for every scan.
    """

    scans: frozenset[str] | None = None


@runtime_checkable
class Broker(Protocol):
    """Carries stored events between processes: publish, and a stream of what was published."""

    async def start(self) -> None:
        """Connect; return once :meth:`events` receives every later publication.

        Raises:
            Unavailable: The transport cannot be reached.
        """

    async def stop(self) -> None:
        """Disconnect; the stream of :meth:`events` ends."""

    async def publish(self, event: ScanEvent) -> None:
        """Send a stored event to every process, this one included.

        It never raises for the transport's sake: an event that cannot be sent
        is announced as a :class:`Resync` instead.

        Args:
            event: The event, already stored.
        """

    def events(self) -> AsyncIterator[ScanEvent | Resync]:
        """Stream every event published while started, from any process.

        A broker that offers :class:`ScanFollowing` yields only the events of the
        scans it follows. The stream ends when the broker stops. One reader per
        broker: the core's fan-out.

        Returns:
            An async iterator of the events, with a :class:`Resync` where some may
            have been lost.
        """


@runtime_checkable
class ScanFollowing(Protocol):
    """What a broker offers whose stream carries only the scans it follows."""

    async def follow(self, scan_id: str) -> None:
        """Carry the scan's events in :meth:`Broker.events` from now on.

        Returns once every event published after the return is carried (or
        at once while the transport is down: the :class:`Resync` that follows
        its return covers the gap).

        Args:
            scan_id: The scan.

        Raises:
            Unavailable: The transport did not confirm in time.
        """

    def unfollow(self, scan_id: str) -> None:
        """Stop carrying the scan's events (soon; a few may still come).

        Args:
            scan_id: The scan.
        """


#: scheme → ``"module:factory"``; the factory takes the URL and returns a ``Broker``.
BROKER_SCHEMES: dict[str, str] = {
    "memory": "taskstream_core.brokers.memory:MemoryBroker.from_url",
    "redis": "taskstream_core.brokers.redis:RedisBroker.from_url",
    "rediss": "taskstream_core.brokers.redis:RedisBroker.from_url",
}


def register_broker(scheme: str, target: str) -> None:
    """Teach :func:`open_broker` a scheme.

    Args:
        scheme: The URL scheme, without ``://``.
        target: ``"module:factory"``; the factory takes the URL and returns a :class:`Broker`.
    """
    BROKER_SCHEMES[scheme.lower()] = target


def open_broker(url: str = "memory://") -> Broker:
    """A broker for ``url``, not yet started.

    Args:
        url: ``memory://``, ``redis://host:6379/0``, or a scheme added by :func:`register_broker`.

    Returns:
        The broker.

    Raises:
        ValueError: No adapter is registered for the scheme.
        ImportError: The adapter's optional dependency is not installed.
        TypeError: The registered factory did not return a :class:`Broker`.
    """
    broker = load_adapter("broker", url, BROKER_SCHEMES)
    if not isinstance(broker, Broker):
        raise TypeError(f"the {scheme_of(url)}:// factory did not return a Broker")
    return broker
