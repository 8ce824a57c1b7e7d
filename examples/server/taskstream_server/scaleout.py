"""What ``--redis-url`` adds to one server: python-socketio's Redis manager, and broker metrics.

Stored events do not travel through python-socketio: each process forwards
them from its own :class:`~taskstream_core.ViewerSession` objects, which the
core's Redis broker feeds in seq order. python-socketio's pub/sub manager
delivers a process's own emits at once and other processes' only after the
Redis round trip, so emitting events through it could reorder a socket's
seq (5, 8, 6, 7). Its ``AsyncRedisManager`` is still what carries the
Socket.IO-level operations between processes:

- ``disconnect`` of a socket that lives in another process;
- ``emit(to=sid or room)`` from any process (an admin tool, a future feature);
- room bookkeeping, and closing a room everywhere — which, for the rooms
  :func:`~taskstream_server.sockets.login_room` names, tells each process's
  gateway that the token was logged out (:attr:`RedisClientManager.on_logout`):
  that is how a logout on one process drops the token's sockets on every
  process, those still signing in with it included.
"""

from __future__ import annotations

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
    """The local part of a ``close_room``: closing a login room (``session:``) is a logout.

    python-socketio's pub/sub manager publishes a ``close_room`` to every process, and each
    runs it by the ``close_room`` of the manager after it in the class order: this one.
    """

    #: Called with the token id of each login room closed, on this process or another one:
    #: the gateway drops its sockets signed in with that token (set by ``SocketGateway``).
    on_logout: Callable[[str], Awaitable[None]] | None = None

    async def close_room(self, room: str, namespace: str | None) -> None:
        logout = self.on_logout
        if logout is not None and isinstance(room, str) and room.startswith(LOGIN_ROOM_PREFIX):
            await logout(room.removeprefix(LOGIN_ROOM_PREFIX))
        await super().close_room(room, namespace)


class RedisClientManager(socketio.AsyncRedisManager, _LogoutRooms):  # type: ignore[misc]
    """python-socketio's Redis manager, plus one rule: closing a login room (``session:``), on
    any process, is a logout of its token on every process."""

    @classmethod
    def for_url(cls, url: str) -> RedisClientManager:
        """A manager on ``url``'s Redis, on the deployment's own Socket.IO channel.

        Short timeouts and one retry: a logout while Redis is away must not
        hang the request (its local sockets are dropped all the same).
        """
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
    """The Redis broker's counters, read at every scrape of ``/metrics``."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    def collect(self) -> Iterator[Metric]:
        counters = self._broker.counters
        for name, value, text in (
            ("published", counters.published, "Events Redis accepted from this process."),
            (
                "publish_failures",
                counters.publish_failures,
                "Stored events this process could not publish (their viewers resume them).",
            ),
            ("received", counters.received, "Messages read from the events channel."),
            ("bad_messages", counters.bad_messages, "Messages on the channel that were ignored."),
            ("connection_losses", counters.connection_losses, "Times the subscription broke."),
            ("reconnects", counters.reconnects, "Times the subscription came back."),
            ("resyncs", counters.resyncs, "Times events may have been lost on the way."),
        ):
            yield CounterMetricFamily(f"taskstream_redis_{name}", text, value=value)
        yield GaugeMetricFamily(
            "taskstream_redis_connected",
            "1 while this process's Redis subscription is up.",
            value=1 if self._broker.connected else 0,
        )
