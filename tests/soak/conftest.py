"""What the soak tests share: one real server on a SQLite file of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    store = f"sqlite:///{tmp_path / 'soak.db'}"
    with ServerProcess(store, args=["--log-level", "warning"], cwd=tmp_path) as running:
        yield running
        assert running.stop() == 0
