"""The in-process broker: one process, no transport, nothing to start."""

from __future__ import annotations

from ..broker import LocalFanout
from ..models import ScanEvent

__all__ = ["MemoryBroker"]


class MemoryBroker(LocalFanout):
    """Delivers each published event straight to this process's subscriptions."""

    @classmethod
    def from_url(cls, url: str = "memory://") -> MemoryBroker:
        del url  # nothing to configure
        return cls()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.close_all()

    async def publish(self, event: ScanEvent) -> None:
        self.deliver(event)
