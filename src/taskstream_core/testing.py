"""Helpers for testing code that embeds TaskStream, shipped with the library.

``make_app()`` gives a complete :class:`TaskStream` on the in-memory store
with a cheap password hasher; :class:`RecordingBroker` remembers every event
it delivered; :class:`ManualClock` lets a test move time (login throttling
windows, submissions per minute, decision latencies) without sleeping.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from ._broker import Broker
from ._passwords import PasswordHasher
from ._service import TaskStream
from ._store import Store
from ._tokens import TokenIssuer, generate_secret
from .brokers.memory import MemoryBroker
from .models import Principal, ScanEvent, utc_now
from .stores.memory import MemoryStore

__all__ = ["TEST_INVITE_CODE", "ManualClock", "RecordingBroker", "make_app", "sign_up"]

#: The admin invite code of every app :func:`make_app` makes.
TEST_INVITE_CODE = "test-invite-code"


class RecordingBroker(MemoryBroker):
    """An in-process broker that also keeps every published event, in order.

    Attributes:
        published: Every event published, in publication order.

    Example:
        ```python
        broker = RecordingBroker()
        async with make_app(broker=broker) as app:
            ...
        assert [e.type for e in broker.published] == [EventType.TASK_CREATED]
        ```
    """

    def __init__(self) -> None:
        super().__init__()
        self.published: list[ScanEvent] = []

    async def publish(self, event: ScanEvent) -> None:
        """Remember the event, then publish it.

        Args:
            event: The event, already stored.
        """
        self.published.append(event)
        await super().publish(event)


@dataclasses.dataclass
class ManualClock:
    """A clock that stands still until the test advances it; pass it as ``clock``.

    Attributes:
        now: The time it tells.

    Example:
        ```python
        clock = ManualClock()
        app = make_app(clock=clock)
        clock.advance(15 * 60)  # the login throttle's window has passed
        ```
    """

    now: datetime = dataclasses.field(default_factory=utc_now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        Args:
            seconds: How far; may be fractional.
        """
        self.now += timedelta(seconds=seconds)


def make_app(
    *,
    store: Store | None = None,
    broker: Broker | None = None,
    clock: ManualClock | None = None,
    stats_interval: float = 0.05,
    reorder_window: float | None = None,
) -> TaskStream:
    """Make a TaskStream for tests: memory store, recording broker, cheap hashing.

    Its admin invite code is :data:`TEST_INVITE_CODE`.

    Args:
        store: The store; a new :class:`~taskstream_core.stores.memory.MemoryStore` when None.
        broker: The broker; a new :class:`RecordingBroker` when None.
        clock: The time source; the real clock when None.
        stats_interval: Seconds between a scan's ``scan:stats`` events at most.
        reorder_window: Seconds an event waits for a missing earlier one (see
            :class:`~taskstream_core.TaskStream`).

    Returns:
        The app, not started: use ``async with make_app() as app``.
    """
    return TaskStream(
        store=store if store is not None else MemoryStore(),
        tokens=TokenIssuer(generate_secret()),
        admin_invite_code=TEST_INVITE_CODE,
        broker=broker if broker is not None else RecordingBroker(),
        hasher=PasswordHasher.for_tests(),
        stats_interval=stats_interval,
        clock=clock or utc_now,
        reorder_window=reorder_window,
    )


async def sign_up(app: TaskStream, username: str, role: str = "worker") -> Principal:
    """Register a user with a throwaway password and return it as a caller.

    Args:
        app: A started app from :func:`make_app`.
        username: The new user's name.
        role: ``"worker"`` or ``"admin"``.

    Returns:
        The new user, authenticated.

    Example:
        ```python
        async with make_app() as app:
            admin = await sign_up(app, "ada", "admin")
            scan = await app.create_scan(admin, "Floor 2")
        ```
    """
    invite = TEST_INVITE_CODE if role == "admin" else None
    session = await app.accounts.register(username, "password-" + username, role, invite)
    return await app.accounts.authenticate(session.token)
