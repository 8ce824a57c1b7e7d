"""What ``--redis-url`` adds: python-socketio's Redis manager, and the Redis broker's metrics.

Stored events reach sockets through each process's own viewer sessions, in seq order; the
manager carries only Socket.IO's own operations between processes, ``close_room`` among them,
which for a login room (``session:<token id>``) is a logout on every process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator

import socketio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from taskstream_core.brokers.redis import RedisBroker, parse_redis_url

from .sockets import LOGIN_ROOM_PREFIX

__all__ = ["BrokerMetrics", "RedisClientManager"]


class _LogoutRooms(socketio.AsyncManager):  # type: ignore[misc] # untyped library
    """The local part of every process's ``close_room``: closing a login room logs its token out."""

    #: Called with the token id of each login room closed (set by ``SocketGateway``).
    on_logout: Callable[[str], Awaitable[None]] | None = None

    async def close_room(self, room: str, namespace: str | None) -> None:
        logout = self.on_logout
        if logout is not None and isinstance(room, str) and room.startswith(LOGIN_ROOM_PREFIX):
            await logout(room.removeprefix(LOGIN_ROOM_PREFIX))
        await super().close_room(room, namespace)


class RedisClientManager(socketio.AsyncRedisManager, _LogoutRooms):  # type: ignore[misc]
    """python-socketio's Redis manager, where closing a login room logs its token out everywhere."""

    @classmethod
    def for_url(cls, url: str) -> RedisClientManager:
        """A manager on ``url``'s Redis and Socket.IO channel; short timeouts, so that a logout
        while Redis is away does not hang."""
        options = parse_redis_url(url)
        return cls(
            options.url,
            channel=options.socketio_channel,
            redis_options={
                "socket_connect_timeout": 3,
                "socket_timeout": 5,
                "retry": Retry(NoBackoff(), 1),
            },
        )

    async def aclose(self) -> None:
        """Stop the listening task and close the connections (python-socketio never does)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
        if self.redis is not None:
            await self.redis.aclose()


class BrokerMetrics(Collector):
    """The Redis broker's counters (``taskstream_redis_<counter>_total``) and connection state."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    def collect(self) -> Iterator[Metric]:
        counters = self._broker.counters
        for field in dataclasses.fields(counters):
            text = f"The Redis broker's {field.name.replace('_', ' ')} since the process started."
            value = getattr(counters, field.name)
            yield CounterMetricFamily(f"taskstream_redis_{field.name}", text, value=value)
        yield GaugeMetricFamily(
            "taskstream_redis_connected",
            "1 while this process's Redis subscription is up.",
            value=1 if self._broker.connected else 0,
        )
