"""ids: new ids look and behave like uuid4().hex, in one process and across a fork."""

from __future__ import annotations

import os
import uuid

from taskstream_core._ids import new_id


def test_ids_are_version_4_uuids_in_hex() -> None:
    for _ in range(600):  # past the end of one pool of random bytes
        value = new_id()
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_draw_its_parents_ids() -> None:
    new_id()  # the pool is filled: a child must not reuse it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.close(read)
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_id) == 32
    assert child_id != new_id()
