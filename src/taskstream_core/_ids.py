"""New ids: random version-4 UUIDs as 32 hex digits, like ``uuid.uuid4().hex``.

``uuid4()`` reads 16 bytes from ``os.urandom`` per id: a system call on every
submission, which showed in the server's profile. These ids come from the
same source read 4 KiB at a time, so they are as unguessable, at one system
call per 256 ids. A forked child starts with a fresh pool, never its parent's.
"""

from __future__ import annotations

import os
import threading
from typing import Final

__all__ = ["new_id"]

_POOL_BYTES: Final = 4096


class _Pool:
    """Random bytes read ahead, handed out 16 at a time under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._next = 0

    def take16(self) -> bytearray:
        with self._lock:
            if self._next + 16 > len(self._bytes):
                self._bytes, self._next = os.urandom(_POOL_BYTES), 0
            start = self._next
            self._next += 16
            return bytearray(self._bytes[start : start + 16])

    def forget(self) -> None:
        self._bytes, self._next = b"", 0


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)


def new_id() -> str:
    """A new random id: a version-4 UUID's 32 lowercase hex digits."""
    raw = _pool.take16()
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()
