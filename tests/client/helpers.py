"""Small helpers the Python client's tests share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from taskstream_core import ScanEvent
from taskstream_core.client import ClientItem, TaskStreamClient
from taskstream_core.models import EventType

#: Every test account's password.
PASSWORD = "client tests password"


def unique_name(prefix: str) -> str:
    """A username no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def next_events(client: TaskStreamClient, count: int, wait: float = 10.0) -> list[ClientItem]:
    """The next ``count`` changes or snapshots (no stats, no notices), within ``wait`` seconds."""
    items: list[ClientItem] = []
    async with asyncio.timeout(wait):
        while len(items) < count:
            item = await client.next_event()
            if isinstance(item, ScanEvent) and (
                item.type is EventType.SCAN_STATS or item.type.is_notice
            ):
                continue
            items.append(item)
    return items


async def next_notice(
    client: TaskStreamClient,
    kind: EventType,
    match: Callable[[ScanEvent], bool] = lambda _: True,
    wait: float = 10.0,
) -> ScanEvent:
    """The next live event of type ``kind`` that ``match`` accepts, within ``wait`` seconds."""
    async with asyncio.timeout(wait):
        while True:
            item = await client.next_event()
            if isinstance(item, ScanEvent) and item.type is kind and match(item):
                return item
