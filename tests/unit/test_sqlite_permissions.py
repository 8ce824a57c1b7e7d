"""Issue #16 finding 14: the SQLite store's files are readable by the server's user only.

They hold password hashes and every task's content. The database is created 0600, and SQLite
gives its ``-wal`` and ``-shm`` files the database's own mode; a file the operator made already
keeps the mode they chose (a warning names a world-readable one).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskstream_core.stores.sqlite import SQLiteStore
from tests.conformance.factories import make_user


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, under which files are created world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
async def test_a_new_store_and_its_wal_files_are_private(tmp_path: Path) -> None:
    """A store created under umask 022 makes its database, -wal and -shm files 0600."""
    path = tmp_path / "private.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        await store.create_user(make_user("alice"), "hash")
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await store.close()


@pytest.mark.usefixtures("umask_022")
async def test_an_existing_database_keeps_its_mode_and_a_shared_one_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database file the operator made keeps its mode (they may share it on purpose); one
    that other users can read is named in a warning."""
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o644)
    store = SQLiteStore(path)
    with caplog.at_level(logging.WARNING, logger="taskstream.store.sqlite"):
        await store.open()
    try:
        assert mode(path) == 0o644
        assert any(str(path) in r.getMessage() for r in caplog.records), caplog.text
    finally:
        await store.close()
