"""Fixtures of the MongoDB-only tests: an open store on the session's server, raw access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from tests.support.mongo import mongo_url

Raw = AsyncMongoClient[dict[str, object]]


@pytest.fixture
def url(mongo_server: str, tmp_path: Path) -> str:
    """The URL of this test's own database."""
    return mongo_url(tmp_path)


@pytest.fixture
async def raw(url: str) -> AsyncIterator[Raw]:
    """A plain pymongo client on the same server, to look beneath the store."""
    client: Raw = AsyncMongoClient(url)
    yield client
    await client.close()
