"""A cheaper wait for python-engineio's per-socket writer.

Every socket's writer task loops on ``AsyncSocket.poll()``, which waits with
``asyncio.wait_for(queue.get(), timeout)``. On Python 3.11 ``wait_for``
wraps the ``get()`` in a task of its own, so each wake-up of a writer (in
practice, each live event each socket sends) cost a task created, started,
finished and a second wake-up of the writer: the largest single part of the
server's CPU per delivery in a py-spy profile. :func:`install` gives one socket
a ``poll`` with the same contract (the packets queued, ``[]`` once the queue
says the socket closed, :class:`QueueEmpty` on timeout or cancellation) that
takes what is already queued without waiting and otherwise waits on the
queue itself (see :func:`_poll` for the timeout).

It reaches into python-engineio's socket (its ``queue``, its ``poll`` and
the server's ping timings), so it installs itself only where those look as
expected, and otherwise leaves the socket on python-engineio's own ``poll``.
The order of a socket's packets is the queue's order, whoever put them there.

An :class:`Outbox` given to :func:`install` learns what the writer takes:
with what the gateway counts as it queues, that is how much one socket holds
unsent in the queue and in the writer's hands (see ``sockets.SEND_BUDGET``).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio.async_socket import AsyncSocket

__all__ = ["Outbox", "install", "packet_size"]

#: The ``poll`` python-engineio's writer calls: the replacement stands in for this one only.
_ENGINEIO_POLL: Any = getattr(AsyncSocket, "poll", None)


def packet_size(pkt: object) -> int:
    """The characters an Engine.IO packet carries (0 for one without text: a ping, the close)."""
    data = getattr(pkt, "data", None)
    return len(data) if isinstance(data, str | bytes) else 0


class Outbox:
    """What one socket holds unsent in python-engineio's hands, in characters of packet text.

    ``queued`` is what the gateway added to the socket's queue (:meth:`add`) less what the
    writer took from it; ``sending`` is the batch the writer took last, counted until it
    asks for the next one (it has then written it, or stopped). Packets the gateway did
    not count (pings) take nothing below zero.
    """

    __slots__ = ("queued", "sending")

    def __init__(self) -> None:
        self.queued = 0
        self.sending = 0

    @property
    def unsent(self) -> int:
        """Characters queued or in the writer's hands."""
        return self.queued + self.sending

    def add(self, size: int) -> None:
        """Count a packet of ``size`` characters put in the queue."""
        self.queued += size

    def took(self, size: int) -> None:
        """Count a batch of ``size`` characters the writer took (the last one is done)."""
        self.queued = max(0, self.queued - size)
        self.sending = size


def install(socket: object, outbox: Outbox | None = None) -> bool:
    """Give one Engine.IO socket the cheaper ``poll``; False where it does not fit.

    Args:
        socket: python-engineio's socket.
        outbox: Told what each ``poll`` takes from the queue.

    Returns:
        Whether the socket now polls through this module (and ``outbox`` is kept up to date).
    """
    if not hasattr(asyncio, "timeout") or _ENGINEIO_POLL is None:
        return False
    if not isinstance(socket, AsyncSocket) or type(socket).poll is not _ENGINEIO_POLL:
        return False
    if "poll" in vars(socket) or not isinstance(getattr(socket, "queue", None), asyncio.Queue):
        return False
    if not isinstance(getattr(socket, "upgraded", None), bool):
        return False
    server = getattr(socket, "server", None)
    interval = getattr(server, "ping_interval", None)
    timeout = getattr(server, "ping_timeout", None)
    if not isinstance(interval, int | float) or not isinstance(timeout, int | float):
        return False
    socket.poll = functools.partial(
        _poll, socket, socket.queue, interval + timeout, outbox or Outbox()
    )
    return True


async def _poll(
    socket: AsyncSocket, queue: asyncio.Queue[Any], wait: float, outbox: Outbox
) -> list[Any]:
    """python-engineio's ``AsyncSocket.poll``, without a task per wait.

    A websocket's writer waits with no timeout of its own: the socket's
    reader already gives up on a client silent for as long and then queues
    the ``None`` that ends the writer. A timer armed and cancelled per wait
    (thousands a second under fan-out) cost about a quarter of the server's
    CPU per delivery. A long-poll GET keeps the timeout: nothing else ends it.
    """
    outbox.sending = 0  # the writer asks again: it is done with the last batch
    if queue.empty():
        try:
            if socket.upgraded:
                first = await queue.get()
            else:
                async with asyncio.timeout(wait):
                    first = await queue.get()
        except (TimeoutError, asyncio.CancelledError):
            raise eio_exceptions.QueueEmpty() from None
    else:
        first = queue.get_nowait()
    queue.task_done()
    if first is None:
        return []
    packets = [first]
    size = packet_size(first)
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # the writer's next poll sees the close too
            break
        packets.append(pkt)
        size += packet_size(pkt)
    outbox.took(size)
    return packets
