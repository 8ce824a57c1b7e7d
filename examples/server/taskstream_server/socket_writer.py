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
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio.async_socket import AsyncSocket

__all__ = ["install"]

#: The ``poll`` python-engineio's writer calls: the replacement stands in for this one only.
_ENGINEIO_POLL: Any = getattr(AsyncSocket, "poll", None)


def install(socket: object) -> bool:
    """Give one Engine.IO socket the cheaper ``poll``; False where it does not fit."""
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
    socket.poll = functools.partial(_poll, socket, socket.queue, interval + timeout)
    return True


async def _poll(socket: AsyncSocket, queue: asyncio.Queue[Any], wait: float) -> list[Any]:
    """python-engineio's ``AsyncSocket.poll``, without a task per wait.

    A websocket's writer waits with no timeout of its own: the socket's
    reader already gives up on a client silent for as long and then queues
    the ``None`` that ends the writer. A timer armed and cancelled per wait
    (thousands a second under fan-out) cost about a quarter of the server's
    CPU per delivery. A long-poll GET keeps the timeout: nothing else ends it.
    """
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
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # the writer's next poll sees the close too
            break
        packets.append(pkt)
    return packets
