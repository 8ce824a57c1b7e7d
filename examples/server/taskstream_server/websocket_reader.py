"""A websocket's reader that hands each frame on in one pass of the event loop.

python-engineio reads a websocket with a loop that, for every frame, starts
a task to wait for it and waits for that task under ``asyncio.wait_for``:
when a frame arrives, the task wakes, finishes, its done callback releases
``wait_for``'s waiter, and only then the reader runs: three passes of the
event loop, each queued behind whatever else the loop has to do, before the
frame is even decoded, and a task created and a timer armed per frame. (On
the 2-core machine of docs/benchmarks.md, taking two passes off did not
show in the ``throughput`` rate: better in 9 of 16 alternating pairs.)

:func:`read` is python-engineio's ``AsyncSocket._websocket_handler`` for a
socket that connects on a websocket straight away (every client of ours
does), with the same steps and the same endings — the writer task, a frame
over ``max_http_buffer_size`` or a client silent for ``ping_interval +
ping_timeout`` ends the connection, the socket closes with the transport —
but it waits for each frame itself, under ``asyncio.timeout``, and a frame
that is no Engine.IO packet at all ends the connection cleanly where
python-engineio's handler raised out of the ASGI application. A socket
upgrading from long-polling keeps python-engineio's handler, whose upgrade
handshake this does not repeat.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

__all__ = ["Handler", "handler_for", "read"]

#: The handler this one stands in for: where python-engineio's differs, it is left alone.
_ENGINEIO_HANDLER: Any = getattr(AsyncSocket, "_websocket_handler", None)

Handler = Callable[[Any], Coroutine[Any, Any, None]]


def handler_for(handler: Handler) -> Handler:
    """The websocket handler to run in place of ``handler``, engineio's bound one.

    :func:`read` where ``handler`` is python-engineio's own, bound to a
    socket that is not yet connected (no long-polling to upgrade from) and
    has what :func:`read` uses; ``handler`` itself otherwise.
    """
    socket = getattr(handler, "__self__", None)
    if (
        _ENGINEIO_HANDLER is None
        or not hasattr(asyncio, "timeout")
        or not isinstance(socket, AsyncSocket)
        or getattr(handler, "__func__", None) is not _ENGINEIO_HANDLER
        or socket.connected
        or not isinstance(getattr(socket, "queue", None), asyncio.Queue)
    ):
        return handler
    server = socket.server
    limits = (server.max_http_buffer_size, server.ping_interval, server.ping_timeout)
    if not all(isinstance(limit, int | float) for limit in limits):
        return handler
    return functools.partial(read, socket)


async def read(socket: AsyncSocket, ws: Any) -> None:
    """python-engineio's websocket handler for a new websocket connection (see above)."""
    socket.connected = True
    socket.upgraded = True
    writer = asyncio.ensure_future(_write(socket, ws))
    socket.server.logger.info("%s: Upgrade to websocket successful", socket.sid)
    await _read_frames(socket, ws)
    await socket.queue.put(None)  # unlock the writer task so that it ends
    await writer
    await socket.close(wait=False, abort=True, reason=socket.server.reason.TRANSPORT_CLOSE)


async def _read_frames(socket: AsyncSocket, ws: Any) -> None:
    """Hand each frame to the socket until the connection ends, one way or another."""
    server = socket.server
    limit = server.max_http_buffer_size
    silence = server.ping_interval + server.ping_timeout
    while True:
        try:
            async with asyncio.timeout(silence):
                data = await ws.wait()
            if data and len(data) > limit:
                raise ValueError("packet is too large")
        except asyncio.CancelledError:
            return  # as python-engineio does: the connection ends, its cleanup runs
        except Exception:  # the client left, was silent too long, or sent too much
            return
        if data is None:  # the client closed the connection
            return
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except Exception:
            # Not an Engine.IO packet. python-engineio's handler let this escape into
            # the ASGI server, skipping the cleanup in read(); here it ends the connection.
            server.logger.info("%s: undecodable packet; closing", socket.sid)
            return
        try:
            await socket.receive(pkt)
        except eio_exceptions.UnknownPacketError:
            pass
        except eio_exceptions.SocketIsClosedError:
            server.logger.info("Receive error -- socket is closed")
            return
        except Exception:
            server.logger.exception("Unknown receive error")


async def _write(socket: AsyncSocket, ws: Any) -> None:
    """python-engineio's writer task: the socket's queued packets, until it closes."""
    while True:
        try:
            packets = await socket.poll()
        except eio_exceptions.QueueEmpty:
            break
        if not packets:  # the socket closed
            break
        try:
            for pkt in packets:
                await ws.send(pkt.encode())
        except Exception:
            break
    await ws.close()
