"""``redis://`` and ``rediss://``: every server process shares stored events through Redis.

One path for every event, a process's own included: :meth:`RedisBroker.publish`
only sends the event to Redis, and each process (the publisher too) reads what
comes back in :meth:`RedisBroker.events`. No event reaches a local viewer by a
shorter road that could overtake another process's event.

Each scan has a channel of its own (``<prefix>:scan:<scan id>``), and a process
subscribes to the scans its viewers join (:meth:`RedisBroker.follow`, which the
core's fan-out calls): it reads nothing of the scans nobody views there. The
events of one scan that a process has queued when its publisher wakes go out
as one message (at most 256): every process then reads, parses and decodes
one message per batch rather than one per event (docs/scaling.md). Resync
notices go on ``<prefix>:events``, to which every process subscribes.

Redis pub/sub keeps nothing, so the broker plans for what it drops:

- Losing the subscription, and getting it back, yields a :class:`Resync` of
  every scan: the core sends its viewers away to resume with ``since_seq``
  from the store, the source of truth. The listener reconnects by itself, with
  backoff, and logs both moments.
- A publish that fails is logged and counted, never raised: the event is
  stored, and the request that stored it succeeds. Once Redis takes publishes
  again, a resync notice for the scans concerned reaches every process, whose
  stream yields it as a :class:`Resync` of those scans.

Needs the ``redis`` extra (redis-py 5.0.1 or later): ``pip install 'taskstream-core[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .._extras import missing_extra

try:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as error:
    raise missing_extra(
        error, extra="redis", module="redis", needed_by="RedisBroker (redis://)"
    ) from error

from .._broker import Resync
from .._url import mask_url
from ..errors import Unavailable
from ..models import ScanEvent
from ._redis_claims import RedisClaimRegistry
from ._redis_presence import RedisPresenceRegistry
from ._redis_wire import (
    DEFAULT_PREFIX,
    DEFAULT_REORDER_WINDOW,
    RedisOptions,
    decode,
    encode_events,
    encode_resync,
    event_record,
    parse_redis_url,
)

__all__ = [
    "RedisBroker",
    "RedisBrokerCounters",
    "RedisClaimRegistry",
    "RedisOptions",
    "RedisPresenceRegistry",
    "parse_redis_url",
]

log = logging.getLogger("taskstream.broker.redis")

_Outgoing = tuple[str, dict[str, Any]]  # (scan id, the event's wire record)
_BATCH = 256  # events sent in one message at most
#: Connections per client pool unless the URL says otherwise; past it, commands wait.
_MAX_CONNECTIONS = 100


@dataclass(slots=True)
class RedisBrokerCounters:
    """What a :class:`RedisBroker` did since it was made; monotonic counts, for metrics."""

    published: int = 0  #: events Redis accepted
    publish_failures: int = 0  #: stored events that could not be published
    received: int = 0  #: messages read from the channel
    bad_messages: int = 0  #: messages that were not ours, or malformed
    connection_losses: int = 0  #: times the subscription went down
    reconnects: int = 0  #: times it came back
    resyncs: int = 0  #: times the stream announced that events may have been lost


class RedisBroker:
    """A broker whose events go through Redis pub/sub, a channel per scan.

    Args:
        url: ``redis[s]://[:password@]host:port/db``.
        prefix: Starts the names of the channels (``<prefix>:events``,
            ``<prefix>:scan:<scan id>``) and keys: deployments sharing a Redis differ.
        reorder_window: How long the core waits for a missing event before reading it from
            the store (:attr:`reorder_window`): events of several processes may cross.
        outbox_size: Events waiting to be sent beyond which a publish is counted as failed.
        connect_timeout: Seconds to connect, and to wait for Redis's answers.
        health_interval: Seconds of silence on the subscription before it is checked with PING.
        retry_delays: The first and the longest wait between reconnection attempts.
        presence_ttl: Seconds a process's presence entries last unless refreshed
            (every quarter of it): the users of a process that died are gone by then.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        reorder_window: float = DEFAULT_REORDER_WINDOW,
        outbox_size: int = 10_000,
        connect_timeout: float = 5.0,
        health_interval: float = 5.0,
        retry_delays: tuple[float, float] = (0.2, 10.0),
        presence_ttl: float = 20.0,
    ) -> None:
        self.url = url
        #: Starts the name of every channel and key of this deployment.
        self.prefix = prefix
        #: Seconds a process's presence entries last unless refreshed.
        self.presence_ttl = presence_ttl
        #: Seconds an event waits for a missing earlier one (read by ``TaskStream``).
        self.reorder_window = reorder_window
        self.channel = f"{prefix}:events"
        self.outbox_size = outbox_size
        self.connect_timeout = connect_timeout
        self.health_interval = health_interval
        self.retry_delays = retry_delays
        self.counters = RedisBrokerCounters()
        #: Whether the subscription is up right now.
        self.connected = False
        self._incoming: asyncio.Queue[ScanEvent | Resync | None] = asyncio.Queue()
        self._pub: Redis | None = None
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._ready = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._unannounced: set[str] = set()  # scans whose events could not be published
        self._failure_logged_at = float("-inf")
        self._followed: set[str] = set()  # scans whose events the stream carries
        #: The subscription while it is up, and the channels asked of it.
        self._pubsub: PubSub | None = None
        self._channels: set[str] = set()
        self._confirming: dict[str, asyncio.Future[None]] = {}  # channel → its confirmation
        self._subscribing = asyncio.Lock()  # SUBSCRIBE and UNSUBSCRIBE leave in call order
        self._unsubscribes: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str) -> RedisBroker:
        """Make a broker from a Redis URL; what :func:`~taskstream_core.open_broker` calls.

        Args:
            url: ``redis[s]://[:password@]host:port/db``, with the query options
                ``prefix`` and ``reorder_window`` (seconds, at most 60); any other
                option goes to redis-py.

        Returns:
            The broker, not yet started.

        Raises:
            ValueError: The URL is not ``redis://`` or ``rediss://``, or an option is invalid.

        Example:
            ```python
            broker = RedisBroker.from_url("redis://cache:6379/0?prefix=review")
            ```
        """
        options = parse_redis_url(url)
        return cls(options.url, prefix=options.prefix, reorder_window=options.reorder_window)

    @property
    def redis(self) -> Redis:
        """The client for commands (claims, presence), while the broker is started.

        Raises:
            Unavailable: The broker is not started.
        """
        if self._pub is None:
            raise Unavailable("The Redis broker is not started.")
        return self._pub

    def scan_channel(self, scan_id: str) -> str:
        """The channel of one scan's events.

        Args:
            scan_id: The scan.

        Returns:
            ``<prefix>:scan:<scan id>``.
        """
        return f"{self.prefix}:scan:{scan_id}"

    def claim_registry(self) -> RedisClaimRegistry:
        """The claims of the deployment, in this Redis: exact across processes.

        Returns:
            A registry that uses this broker's connection while it is started.
        """
        return RedisClaimRegistry(lambda: self.redis, self.prefix)

    def presence_registry(self) -> RedisPresenceRegistry:
        """Presence shared by the deployment's processes, in this Redis, with ``presence_ttl``.

        Returns:
            A registry that uses this broker's connection while it is started.
        """
        return RedisPresenceRegistry(lambda: self.redis, self.prefix, self.presence_ttl)

    def _client(self, retries: int) -> Redis:
        """A client whose pool waits for a free connection instead of refusing the command.

        redis-py's default pool refuses a command once ``max_connections`` (100 in
        redis-py 8) are in use: a storm of joins, each reading presence and claims,
        would fail them. A ``max_connections`` in the URL's query sets the bound.
        """
        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=_MAX_CONNECTIONS,
            timeout=self.connect_timeout,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), retries),
        )
        return Redis.from_pool(pool)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, subscribe, and return once this process receives the channel.

        A second call while started does nothing.

        Raises:
            Unavailable: Redis cannot be reached, or does not confirm the subscription
                within twice ``connect_timeout``.
        """
        if self._listener is not None:
            return
        # One retry: after a Redis restart the pooled connection is dead, a new one is not.
        self._pub = self._client(retries=1)
        try:
            await asyncio.wait_for(self._pub.ping(), self.connect_timeout + 1)
        except Exception as exc:
            await self._pub.aclose()
            self._pub = None
            raise Unavailable(f"Cannot reach Redis at {mask_url(self.url)}: {exc}") from exc
        self._outbox = asyncio.Queue(self.outbox_size)
        self._incoming = asyncio.Queue()
        self._ready = asyncio.Event()
        self._subscribing = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self._listener = loop.create_task(self._listen(), name="taskstream-redis-listener")
        self._publisher = loop.create_task(self._publish_loop(), name="taskstream-redis-publisher")
        try:
            await asyncio.wait_for(self._ready.wait(), 2 * self.connect_timeout)
        except TimeoutError:
            await self.stop()
            raise Unavailable(
                f"Cannot subscribe to {self.channel} on {mask_url(self.url)}."
            ) from None

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Send what is queued, disconnect, and end the stream of :meth:`events`.

        Args:
            flush_timeout: Seconds to wait at most for queued events to be sent.
        """
        listener, publisher, outbox = self._listener, self._publisher, self._outbox
        self._listener = self._publisher = None
        for task in [listener, *self._unsubscribes]:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if publisher is not None and outbox is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.join(), flush_timeout)
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
        if self._pub is not None:
            await self._pub.aclose()
            self._pub = None
        self._outbox = None
        self.connected = False
        self._incoming.put_nowait(None)

    async def events(self) -> AsyncIterator[ScanEvent | Resync]:
        """Stream the events of the followed scans; ends when the broker stops.

        Yields:
            Each event, this process's own included, and a :class:`Resync` where
            some may have been lost (the subscription dropped, or a process could
            not publish).
        """
        while (item := await self._incoming.get()) is not None:
            yield item

    # -- following -----------------------------------------------------------------------------
    async def follow(self, scan_id: str) -> None:
        """Carry the scan's events in :meth:`events` from now on.

        Returns once Redis confirmed the scan's channel: every event published
        after the return is carried. While the subscription is down it returns at
        once: the subscription that comes back takes the scan's channel too, and
        its :class:`Resync` covers the gap.

        Args:
            scan_id: The scan.

        Raises:
            Unavailable: Redis did not confirm within twice ``connect_timeout``.
        """
        self._followed.add(scan_id)
        channel = self.scan_channel(scan_id)
        async with self._subscribing:
            pubsub = self._pubsub
            if pubsub is None or scan_id not in self._followed:
                return
            confirmed = self._confirming.get(channel)
            if confirmed is None:
                if channel in self._channels:
                    return  # subscribed and confirmed
                confirmed = asyncio.get_running_loop().create_future()
                self._confirming[channel] = confirmed
                self._channels.add(channel)
                try:
                    await pubsub.subscribe(channel)
                except Exception:  # the connection broke: see above
                    self._confirming.pop(channel, None)
                    return
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), 2 * self.connect_timeout)
        except TimeoutError:
            raise Unavailable(f"Redis did not confirm the subscription to {channel}.") from None

    def unfollow(self, scan_id: str) -> None:
        """Stop carrying the scan's events (the channel is left soon after).

        Args:
            scan_id: The scan.
        """
        self._followed.discard(scan_id)
        if self._pubsub is not None:
            task = asyncio.get_running_loop().create_task(self._unsubscribe(scan_id))
            self._unsubscribes.add(task)
            task.add_done_callback(self._unsubscribes.discard)

    async def _unsubscribe(self, scan_id: str) -> None:
        channel = self.scan_channel(scan_id)
        async with self._subscribing:
            pubsub = self._pubsub
            if pubsub is None or scan_id in self._followed or channel not in self._channels:
                return  # followed again meanwhile, or the subscription is gone anyway
            self._channels.discard(channel)
            with contextlib.suppress(Exception):  # a broken connection leaves every channel
                await pubsub.unsubscribe(channel)

    # -- publishing ---------------------------------------------------------------------------
    async def publish(self, event: ScanEvent) -> None:
        """Queue a stored event for Redis; it reaches local viewers when it comes back.

        Never fails for Redis's sake: a full outbox or a failed send is logged
        and counted, and the scan's viewers are later sent away to resume.

        Args:
            event: The event, already stored.

        Raises:
            RuntimeError: The broker is not started.
        """
        if self._outbox is None:
            raise RuntimeError("the Redis broker is not started")
        try:
            self._outbox.put_nowait((event.scan_id, event_record(event)))
        except asyncio.QueueFull:
            self._publish_failed({event.scan_id}, 1, "the outbox is full")

    async def _publish_loop(self) -> None:
        outbox = self._outbox
        assert outbox is not None
        while True:
            batch: list[_Outgoing] = []
            if self._unannounced:  # do not wait for traffic to send the resync notice
                with contextlib.suppress(TimeoutError):
                    batch.append(await asyncio.wait_for(outbox.get(), 1.0))
            else:
                batch.append(await outbox.get())
            while batch and len(batch) < _BATCH and not outbox.empty():
                batch.append(outbox.get_nowait())
            try:
                await self._send(batch)
            except Exception as exc:  # whatever Redis or the network raised
                self._publish_failed({scan for scan, _ in batch}, len(batch), str(exc))
            finally:
                for _ in batch:
                    outbox.task_done()

    async def _send(self, batch: list[_Outgoing]) -> None:
        assert self._pub is not None
        notice = set(self._unannounced)
        by_scan: dict[str, list[dict[str, Any]]] = {}
        for scan_id, record in batch:  # each scan's events in publish order
            by_scan.setdefault(scan_id, []).append(record)
        messages = [(self.scan_channel(s), encode_events(r)) for s, r in by_scan.items()]
        if notice:
            messages.append((self.channel, encode_resync(notice)))
        if len(messages) == 1:
            await self._pub.publish(*messages[0])
        else:
            pipe = self._pub.pipeline(transaction=False)
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()
        self.counters.published += len(batch)
        if notice:
            self._unannounced -= notice
            log.warning("asked every process to resync %d scan(s)", len(notice))

    def _publish_failed(self, scans: set[str], count: int, reason: str) -> None:
        self.counters.publish_failures += count
        self._unannounced |= scans
        now = time.monotonic()
        if now - self._failure_logged_at >= 5.0:  # one line per 5 s during an outage
            self._failure_logged_at = now
            log.warning(
                "could not publish %d event(s) or the resync notice to Redis (%s); events are "
                "stored, and their viewers will resume them (%d publish failures so far)",
                count,
                reason,
                self.counters.publish_failures,
            )

    # -- receiving ---------------------------------------------------------------------------
    async def _listen(self) -> None:
        """Keep one subscription up for good: reconnect with backoff, resync after a gap."""
        delay, longest = self.retry_delays
        down_since: float | None = None
        while True:
            client = self._client(retries=0)  # a failure must reach this loop, not be hidden
            pubsub = client.pubsub()
            try:
                async with self._subscribing:  # the follows made meanwhile wait for it
                    channels = {self.channel, *map(self.scan_channel, self._followed)}
                    await pubsub.subscribe(*channels)
                    await self._confirmed(pubsub, channels)
                    self._pubsub, self._channels = pubsub, channels
                delay = self.retry_delays[0]
                self._subscribed(down_since)
                down_since = None
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dead connection shows as many exception types
                if down_since is None:
                    down_since = time.monotonic()
                self._lost(exc, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                delay = min(delay * 2, longest)
            finally:
                self._pubsub, self._channels = None, set()
                # Confirmations that will not come: those follows return; the resync of every
                # scan when the subscription comes back covers them.
                for confirmed in self._confirming.values():
                    if not confirmed.done():
                        confirmed.set_result(None)
                self._confirming.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _confirmed(self, pubsub: PubSub, channels: set[str]) -> None:
        """Return once Redis confirms every channel: from then on nothing is missed."""
        waiting = set(channels)
        deadline = time.monotonic() + self.connect_timeout
        while waiting and (left := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=left)
            if message is not None:
                waiting.discard(self._take(message) or "")
        if waiting:
            raise TimeoutError("Redis did not confirm the subscription")

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails; a quiet one is checked with PING."""
        heard = time.monotonic()
        pinged: float | None = None
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if pinged is not None and now - pinged > self.connect_timeout:
                    raise TimeoutError("Redis did not answer a PING on the subscription")
                if pinged is None and now - heard > self.health_interval:
                    await pubsub.ping()
                    pinged = now
                continue
            heard, pinged = now, None
            self._take(message)

    def _take(self, message: dict[str, Any]) -> str | None:
        """Handle a message of the subscription; the channel it confirms, if it confirms one."""
        kind = message.get("type")
        if kind == "message":
            self._on_message(message["data"])
        elif kind == "subscribe":
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            confirmed = self._confirming.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return channel
        return None

    def _on_message(self, data: bytes) -> None:
        try:
            message = decode(data)
        except ValueError as exc:
            self.counters.bad_messages += 1
            log.warning("ignored a message on %s: %s", self.channel, exc)
            return
        self.counters.received += 1
        if message.resync:
            log.warning("a resync of %d scan(s) was asked for", len(message.resync))
            self._resync(frozenset(message.resync))
        for event in message.events:
            self._incoming.put_nowait(event)

    def _subscribed(self, down_since: float | None) -> None:
        self.connected = True
        if not self._ready.is_set():
            self._ready.set()
            log.info("subscribed to %s on %s", self.channel, mask_url(self.url))
            return
        self.counters.reconnects += 1
        self._resync(None)
        downtime = time.monotonic() - down_since if down_since is not None else 0.0
        log.warning(
            "reconnected to Redis after %.1f s; viewers resume what they missed",
            downtime,
            extra={"redis_downtime_seconds": round(downtime, 3)},
        )

    def _lost(self, exc: BaseException, retry_in: float) -> None:
        if self.connected:
            self.connected = False
            self.counters.connection_losses += 1
            self._resync(None)
            log.warning(
                "lost the Redis subscription (%s: %s); viewers are sent away to resume; "
                "reconnecting",
                type(exc).__name__,
                exc,
            )
        else:
            log.warning(
                "cannot subscribe to Redis at %s (%s: %s); retrying in %.1f s",
                mask_url(self.url),
                type(exc).__name__,
                exc,
                retry_in,
            )

    def _resync(self, scans: frozenset[str] | None) -> None:
        """Announce on the stream that events of ``scans`` (None: any) may have been lost."""
        self.counters.resyncs += 1
        self._incoming.put_nowait(Resync(scans))
