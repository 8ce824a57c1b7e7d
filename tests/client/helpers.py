"""Small helpers the Python client's tests share."""

from __future__ import annotations

import asyncio
import uuid

from taskstream_core import ScanEvent
from taskstream_core.client import ClientItem, TaskStreamClient
from taskstream_core.models import EventType

#: Every test account's password.
PASSWORD = "client tests password"


def unique_name(prefix: str) -> str:
    """A username no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def next_events(client: TaskStreamClient, count: int, wait: float = 10.0) -> list[ClientItem]:
    """The next ``count`` items other than stats, waiting at most ``wait`` seconds in all."""
    items: list[ClientItem] = []
    async with asyncio.timeout(wait):
        while len(items) < count:
            item = await client.next_event()
            if isinstance(item, ScanEvent) and item.type is EventType.SCAN_STATS:
                continue
            items.append(item)
    return items
