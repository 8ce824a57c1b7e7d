"""CountingBroker: the server's counting wrapper passes the gap backfill through."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sanic import Sanic

from taskstream_core import ScanEvent, Subscription
from taskstream_core.broker import Backfillable, open_broker
from taskstream_server import Secrets, Settings, build_app
from taskstream_server.observability import CountingBroker, Metrics


def test_the_reference_server_wires_the_store_into_the_seq_gate() -> None:
    """TaskStream sets the backfill through the wrapper, onto the fanout inside it."""
    settings = Settings(secrets=Secrets("f" * 40, "invite-code-for-tests"), store_url="memory://")
    app = build_app(settings, name=f"counting-{uuid.uuid4().hex[:8]}")
    try:
        assert isinstance(app.core.broker, Backfillable)
        assert app.core.broker.backfill == app.core.store.events_after
    finally:
        Sanic.unregister_app(app.sanic)


def test_the_backfill_set_on_the_wrapper_is_the_inner_fanouts() -> None:
    inner = open_broker("memory://")
    wrapper = CountingBroker(inner, Metrics().events_published)

    async def backfill(scan_id: str, seq: int) -> list[ScanEvent] | None:
        return None

    wrapper.backfill = backfill
    assert isinstance(inner, Backfillable)
    assert inner.backfill is backfill


class _Plain:
    """A broker without a seq gate of its own."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: ScanEvent) -> None: ...

    def subscribe(self, rooms: Iterable[str] = ()) -> Subscription:
        raise NotImplementedError


def test_around_a_broker_without_a_gate_there_is_no_backfill() -> None:
    wrapper = CountingBroker(_Plain(), Metrics().events_published)

    async def backfill(scan_id: str, seq: int) -> list[ScanEvent] | None:
        return None

    wrapper.backfill = backfill
    assert wrapper.backfill is None
