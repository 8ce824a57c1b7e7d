"""Helpers for testing code that embeds TaskStream, shipped with the library.

``make_app()`` gives a complete :class:`TaskStream` on the in-memory store
with a cheap password hasher; :class:`RecordingBroker` remembers every event
it delivered; :class:`ManualClock` lets a test move time (login throttling
windows, submissions per minute, decision latencies) without sleeping.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from .broker import Broker
from .brokers.memory import MemoryBroker
from .models import Principal, ScanEvent, utc_now
from .passwords import PasswordHasher
from .service import TaskStream
from .store import Store
from .stores.memory import MemoryStore
from .tokens import TokenIssuer, generate_secret

__all__ = ["TEST_INVITE_CODE", "ManualClock", "RecordingBroker", "make_app", "sign_up"]

TEST_INVITE_CODE = "test-invite-code"


class RecordingBroker(MemoryBroker):
    """An in-process broker that also keeps every published event, in order (a list in
    :attr:`published`)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[ScanEvent] = []

    async def publish(self, event: ScanEvent) -> None:
        """Remember the event, then publish it."""
        self.published.append(event)
        await super().publish(event)


@dataclasses.dataclass
class ManualClock:
    """A clock that stands still until the test advances it."""

    now: datetime = dataclasses.field(default_factory=utc_now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_app(
    *,
    store: Store | None = None,
    broker: Broker | None = None,
    clock: ManualClock | None = None,
    stats_interval: float = 0.05,
    reorder_window: float | None = None,
) -> TaskStream:
    """A TaskStream for tests: memory store, recording broker, cheap hashing.

    Not started: use ``async with make_app() as app``.
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
    """Register a user with a throwaway password and return it as a caller."""
    invite = TEST_INVITE_CODE if role == "admin" else None
    session = await app.accounts.register(username, "password-" + username, role, invite)
    return await app.accounts.authenticate(session.token)
