"""Delivery of stored events to the viewers who may see them.

A broker moves events between processes (in-process only for ``memory://``;
Redis for several processes) and, in each process, fans them out to local
:class:`Subscription` objects by room. The rooms come from
:mod:`taskstream_core.rooms`, so a subscription only ever holds events its
viewer may see.

Each process delivers a scan's events in ``seq`` order: an event that arrives
ahead of a missing one is held until the gap fills, or for at most
``reorder_window`` seconds. Then, where a :attr:`LocalFanout.backfill` is
set (``TaskStream`` sets the store's ``events_after``), the missing events
are read from the store and delivered in their place: the publisher may have
died between storing and publishing, and a viewer that received a later event
would not get them at a resume (it asks for what follows the last seq it
saw). What the store does not hold either is skipped.

That per-scan state lives while the scan has a viewer here: a subscription
says it views a scan (:meth:`Subscription.watch`, which a join's
:meth:`Subscription.covered` implies) and stops (:meth:`Subscription.unwatch`,
or closing); the last one to stop takes the scan's gate with it, and an event
of a scan nobody here receives leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, Self, runtime_checkable

from ._plugins import load_adapter, scheme_of
from .models import EventType, ScanEvent
from .rooms import event_rooms

__all__ = [
    "BROKER_SCHEMES",
    "Backfillable",
    "Broker",
    "LocalFanout",
    "Subscription",
    "SubscriptionClosed",
    "SubscriptionLagged",
    "open_broker",
    "register_broker",
]

log = logging.getLogger("taskstream.broker")


class SubscriptionClosed(Exception):
    """The subscription was closed (by its owner or because the broker stopped)."""


class SubscriptionLagged(SubscriptionClosed):
    """The consumer fell so far behind that events were dropped.

    Its viewer must resume with ``since_seq`` to recover what it missed.
    """


@runtime_checkable
class Broker(Protocol):
    """Publishes stored events and hands them to local subscriptions by room."""

    async def start(self) -> None:
        """Connect to the transport and begin receiving other processes' events."""

    async def stop(self) -> None:
        """Disconnect and close every local subscription."""

    async def publish(self, event: ScanEvent) -> None:
        """Deliver an event, already stored, to every subscriber of one of its rooms."""

    def subscribe(self, rooms: Iterable[str] = ()) -> Subscription:
        """A new local subscription, initially to ``rooms``."""


class Subscription:
    """One consumer's rooms and its bounded queue of events.

    Iterate it (``async for event in sub``) to receive events; iteration ends
    when the subscription is closed, and raises :class:`SubscriptionLagged` if
    the consumer fell more than ``maxsize`` events behind.
    """

    def __init__(self, fanout: LocalFanout, maxsize: int) -> None:
        self._fanout = fanout
        self._queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self.rooms: set[str] = set()
        self.closed = False
        self.lagged = False
        #: When set, events go to this callable at once instead of into the queue,
        #: and None goes to it when the subscription closes (see :attr:`lagged`).
        self.listener: Callable[[ScanEvent | None], None] | None = None
        #: The scans this consumer views (see :meth:`watch`).
        self.watched: set[str] = set()

    def join(self, rooms: Iterable[str]) -> None:
        new = set(rooms) - self.rooms
        self.rooms |= new
        self._fanout._index(self, new)

    def leave(self, rooms: Iterable[str]) -> None:
        gone = self.rooms & set(rooms)
        self.rooms -= gone
        self._fanout._unindex(self, gone)

    def covered(self, scan_id: str, seq: int) -> None:
        """Say that this consumer holds the scan up to ``seq`` (a join's snapshot or resume);
        it then views the scan (see :meth:`watch`).

        If the process has seen no event of the scan yet, its seq gate then
        waits for ``seq + 1`` instead of taking whatever arrives first: with
        several publishers, a later seq may overtake an earlier one.
        """
        self.watch(scan_id)
        self._fanout._seed(scan_id, seq)

    def watch(self, scan_id: str) -> None:
        """Say that this consumer views the scan (a join under way or done): the process
        keeps the scan's delivery order (its seq gate) while at least one consumer does."""
        if not self.closed and scan_id not in self.watched:
            self.watched.add(scan_id)
            self._fanout._watch(scan_id)

    def unwatch(self, scan_id: str) -> None:
        """Undo :meth:`watch` (a leave, a failed join); the last viewer of a scan to go
        takes the scan's seq gate with it. Nothing happens for a scan not watched."""
        if scan_id in self.watched:
            self.watched.discard(scan_id)
            self._fanout._unwatch(scan_id)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fanout._unindex(self, self.rooms)
            self.rooms = set()
            watched, self.watched = self.watched, set()
            for scan_id in watched:
                self._fanout._unwatch(scan_id)
            self._wake()
            if self.listener is not None:
                self.listener(None)

    def _wake(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def offer(self, event: ScanEvent) -> None:
        """Queue an event without waiting; a full queue marks the consumer as lagged.

        With a :attr:`listener`, hand it the event instead, in delivery (seq) order.
        """
        if self.closed:
            return
        if self.listener is not None:
            self.listener(event)
            return
        if self._queue.qsize() >= self._maxsize:
            self.lagged = True
            self.close()
            return
        self._queue.put_nowait(event)

    def pending(self) -> int:
        """How many events wait to be read."""
        return self._queue.qsize()

    def get_nowait(self) -> ScanEvent | None:
        """The next queued event, or None if there is none right now."""
        try:
            event = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if event is None:
            self._wake()
            self._raise_if_done()
        return event

    async def get(self) -> ScanEvent:
        """The next event; raises ``SubscriptionClosed`` (or ``Lagged``) once closed."""
        if self.closed and self._queue.empty():
            self._raise_if_done()
        event = await self._queue.get()
        if event is None:
            self._wake()  # let any other reader see the end too
            self._raise_if_done()
            raise SubscriptionClosed()
        return event

    def _raise_if_done(self) -> None:
        if self.lagged:
            raise SubscriptionLagged("the consumer fell behind; resume with since_seq")
        raise SubscriptionClosed()

    def __aiter__(self) -> AsyncIterator[ScanEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ScanEvent]:
        while True:
            try:
                event = await self.get()
            except SubscriptionLagged:
                raise
            except SubscriptionClosed:
                return
            yield event

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: Reads a scan's stored events after a seq, in order (None: the store no longer has them all).
Backfill = Callable[[str, int], Awaitable[list[ScanEvent] | None]]


@runtime_checkable
class Backfillable(Protocol):
    """A broker whose seq gate reads a gap from the store: :class:`LocalFanout`, or a
    wrapper around one that passes ``backfill`` through. ``TaskStream`` sets it."""

    backfill: Backfill | None


class _SeqGate:
    """Per-scan reordering state: the last seq delivered and events held for a gap."""

    __slots__ = ("covered", "filling", "held", "last", "timer")

    def __init__(self) -> None:
        self.last: int | None = None
        self.held: dict[int, ScanEvent] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.filling = False  # the store is being read for this gap
        #: The seq a viewer's join answered as of, when it started this gate.
        self.covered = 0


class LocalFanout:
    """The in-process half of every broker: room index, seq ordering, delivery.

    A transport calls :meth:`deliver` with each event it receives, in the event
    loop's thread; everything here is synchronous, so delivery order is the
    order of ``deliver`` calls after seq gating.
    """

    def __init__(self, *, reorder_window: float = 0.5, queue_size: int = 10_000) -> None:
        self.reorder_window = reorder_window
        self.queue_size = queue_size
        #: Where a gap that outlived the reorder window is looked for before it is skipped.
        self.backfill: Backfill | None = None
        self._by_room: dict[str, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self._gates: dict[str, _SeqGate] = {}
        #: scan → how many subscriptions view it (see :meth:`Subscription.watch`).
        self._watchers: dict[str, int] = {}
        self._backfills: set[asyncio.Task[None]] = set()
        self.delivered = 0

    def subscribe(self, rooms: Iterable[str] = ()) -> Subscription:
        sub = Subscription(self, self.queue_size)
        self._subscriptions.add(sub)
        sub.join(rooms)
        return sub

    def close_all(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()
        for gate in self._gates.values():
            if gate.timer is not None:
                gate.timer.cancel()
        self._gates.clear()
        self._watchers.clear()
        for task in self._backfills:
            task.cancel()

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    @property
    def scan_count(self) -> int:
        """Scans whose delivery order this process keeps (a seq gate each)."""
        return len(self._gates)

    @property
    def room_count(self) -> int:
        """Rooms at least one subscription is in."""
        return len(self._by_room)

    def _watch(self, scan_id: str) -> None:
        self._watchers[scan_id] = self._watchers.get(scan_id, 0) + 1

    def _unwatch(self, scan_id: str) -> None:
        left = self._watchers.get(scan_id, 0) - 1
        if left > 0:
            self._watchers[scan_id] = left
            return
        self._watchers.pop(scan_id, None)
        gate = self._gates.pop(scan_id, None)
        if gate is not None and gate.timer is not None:
            gate.timer.cancel()

    def _index(self, sub: Subscription, rooms: Iterable[str]) -> None:
        for room in rooms:
            self._by_room.setdefault(room, set()).add(sub)

    def _unindex(self, sub: Subscription, rooms: Iterable[str]) -> None:
        for room in rooms:
            members = self._by_room.get(room)
            if members is not None:
                members.discard(sub)
                if not members:
                    del self._by_room[room]
        if sub.closed:
            self._subscriptions.discard(sub)

    def _seed(self, scan_id: str, seq: int) -> None:
        if scan_id not in self._gates:
            gate = self._gates[scan_id] = _SeqGate()
            gate.last = gate.covered = seq

    def deliver(self, event: ScanEvent) -> None:
        """Hand an event to local subscribers, in seq order per scan."""
        if event.type is EventType.SCAN_STATS:
            self._dispatch(event)  # a snapshot of counters, not a stored change
            return
        gate = self._gates.get(event.scan_id)
        if gate is None:
            if event.scan_id not in self._watchers and not any(
                room in self._by_room for room in event_rooms(event)
            ):
                return  # nobody here receives it: no order to keep
            gate = self._gates[event.scan_id] = _SeqGate()
        if gate.last is None or event.seq == gate.last + 1:
            gate.last = event.seq
            self._dispatch(event)
            self._drain(event.scan_id, gate)
        elif event.seq > gate.last + 1:
            gate.held[event.seq] = event
            if gate.timer is None:
                loop = asyncio.get_running_loop()
                gate.timer = loop.call_later(self.reorder_window, self._give_up_gap, event.scan_id)
        else:
            # Late after a join that answered it already: expected, the viewer has it.
            late_after_a_gap = event.seq > gate.covered
            log.log(
                logging.WARNING if late_after_a_gap else logging.DEBUG,
                "dropped event %s of scan %s: seq %d already passed",
                event.type.value,
                event.scan_id,
                event.seq,
            )

    def _drain(self, scan_id: str, gate: _SeqGate) -> None:
        while gate.last is not None and gate.last + 1 in gate.held:
            gate.last += 1
            self._dispatch(gate.held.pop(gate.last))
        if not gate.held and gate.timer is not None:
            gate.timer.cancel()
            gate.timer = None

    def _give_up_gap(self, scan_id: str) -> None:
        gate = self._gates.get(scan_id)
        if gate is None:
            return
        gate.timer = None
        if gate.filling:
            return  # the store is being read: what it lacks is skipped after that
        if gate.held and self.backfill is not None and gate.last is not None:
            gate.filling = True
            task = asyncio.get_running_loop().create_task(self._fill_gap(scan_id, gate))
            self._backfills.add(task)
            task.add_done_callback(self._backfills.discard)
            return
        self._skip_gap(scan_id, gate)

    async def _fill_gap(self, scan_id: str, gate: _SeqGate) -> None:
        """Deliver what the store holds of a gap, then skip what it does not."""
        assert self.backfill is not None
        assert gate.last is not None
        try:
            stored = await self.backfill(scan_id, gate.last)
        except Exception as exc:  # the store is down: the gap is skipped, as without a store
            log.warning("scan %s: could not read a seq gap from the store: %s", scan_id, exc)
            stored = None
        finally:
            gate.filling = False
        if self._gates.get(scan_id) is not gate:
            return  # the broker closed meanwhile
        for event in stored or ():
            if gate.last is None or event.seq <= gate.last:
                continue  # published meanwhile: it went out already
            if not gate.held or event.seq > max(gate.held):
                break  # past what waits here: those come by their own publication
            if event.seq != gate.last + 1:
                break  # the store lacks the next one as well
            gate.last = event.seq
            self._dispatch(gate.held.pop(event.seq, event))
        self._drain(scan_id, gate)
        if gate.held:
            self._skip_gap(scan_id, gate)

    def _skip_gap(self, scan_id: str, gate: _SeqGate) -> None:
        if gate.held:
            gate.last = min(gate.held) - 1
            log.info("scan %s: seq gap before %d not filled in time", scan_id, gate.last + 1)
            self._drain(scan_id, gate)
            if gate.held:  # another gap further on: wait for it as long again
                gate.timer = asyncio.get_running_loop().call_later(
                    self.reorder_window, self._give_up_gap, scan_id
                )

    def _dispatch(self, event: ScanEvent) -> None:
        targets: set[Subscription] = set()
        for room in event_rooms(event):
            members = self._by_room.get(room)
            if members:
                targets |= members
        for sub in targets:
            sub.offer(event)
        self.delivered += len(targets)


#: scheme → ``"module:factory"``; the factory takes the URL and returns a ``Broker``.
BROKER_SCHEMES: dict[str, str] = {
    "memory": "taskstream_core.brokers.memory:MemoryBroker.from_url",
    "redis": "taskstream_core.brokers.redis:RedisBroker.from_url",
    "rediss": "taskstream_core.brokers.redis:RedisBroker.from_url",
}


def register_broker(scheme: str, target: str) -> None:
    """Teach :func:`open_broker` a scheme: ``target`` is ``"module:factory"``."""
    BROKER_SCHEMES[scheme.lower()] = target


def open_broker(url: str = "memory://") -> Broker:
    """A broker for ``url``, not yet started."""
    broker = load_adapter("broker", url, BROKER_SCHEMES)
    if not isinstance(broker, Broker):
        raise TypeError(f"the {scheme_of(url)}:// factory did not return a Broker")
    return broker
