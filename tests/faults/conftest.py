"""Fixtures of the fault tests: dependencies of a test's own, which it may stop and start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mongo import MONGODB_URI_ENV, SecantusServer


@pytest.fixture
def mongo_on_disk(tmp_path: Path) -> Iterator[SecantusServer]:
    """A secantus server of this test's own on a storage directory, so that what it
    acknowledged outlives a stop and a start on the same port (``:memory:`` would not).

    A short server selection timeout makes a request during an outage answer 503 soon."""
    if os.environ.get(MONGODB_URI_ENV):
        pytest.skip(f"{MONGODB_URI_ENV} names a server this test may not stop")
    with SecantusServer(
        storage=str(tmp_path / "secantus-data"), selection_timeout_ms=500
    ) as server:
        yield server
