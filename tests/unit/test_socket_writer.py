"""socket_writer: the writer's cheaper poll keeps python-engineio's poll contract."""

from __future__ import annotations

import asyncio

import engineio
import pytest
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from taskstream_server import socket_writer


def _socket(ping_interval: float = 25, ping_timeout: float = 20) -> AsyncSocket:
    server = engineio.AsyncServer(
        async_mode="asgi", ping_interval=ping_interval, ping_timeout=ping_timeout
    )
    return AsyncSocket(server, "sid")


async def test_installs_once_on_an_engineio_socket() -> None:
    socket = _socket()
    assert socket_writer.install(socket)
    assert not socket_writer.install(socket)  # already replaced: left as it is
    assert not socket_writer.install(object())


@pytest.mark.parametrize("installed", [True, False], ids=["replaced", "engineio"])
async def test_takes_what_is_queued_in_order_and_stops_at_the_close(installed: bool) -> None:
    socket = _socket()
    if installed:
        assert socket_writer.install(socket)
    for item in ("a", "b", None, "c"):
        socket.queue.put_nowait(item)
    # The close goes back in the queue, behind what was queued after it, as in engineio.
    assert await socket.poll() == ["a", "b"]
    assert await socket.poll() == ["c"]
    assert await socket.poll() == []
    await asyncio.wait_for(socket.queue.join(), 1)  # every get was marked done


async def test_wakes_for_a_packet_queued_while_it_waits() -> None:
    socket = _socket()
    assert socket_writer.install(socket)
    waiting = asyncio.ensure_future(socket.poll())
    await asyncio.sleep(0)
    assert not waiting.done()
    socket.queue.put_nowait("a")
    assert await asyncio.wait_for(waiting, 5) == ["a"]


async def test_an_idle_long_poll_times_out_as_engineio_does() -> None:
    socket = _socket(ping_interval=0.05, ping_timeout=0.05)
    assert socket_writer.install(socket)
    with pytest.raises(eio_exceptions.QueueEmpty):
        await socket.poll()


async def test_cancelling_the_writer_ends_its_poll_as_engineio_does() -> None:
    socket = _socket()
    assert socket_writer.install(socket)
    waiting = asyncio.ensure_future(socket.poll())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(eio_exceptions.QueueEmpty):
        await waiting


async def test_a_websocket_writer_waits_for_the_close_not_a_timer() -> None:
    # With no time at all to wait, only a poll without a timer of its own gets the packet;
    # on a websocket the reader's own timeout queues the None that ends the writer.
    socket = _socket(ping_interval=0, ping_timeout=0)
    socket.upgraded = True
    assert socket_writer.install(socket)
    waiting = asyncio.ensure_future(socket.poll())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()
    socket.queue.put_nowait("a")
    assert await waiting == ["a"]
    socket.queue.put_nowait(None)
    assert await socket.poll() == []


async def test_the_outbox_counts_what_waits_and_what_the_writer_holds() -> None:
    """What was queued counts until the writer takes it, then as the batch being sent until
    the writer asks for more; packets nobody counted (a ping) take nothing below zero."""
    socket = _socket()
    outbox = socket_writer.Outbox()
    assert socket_writer.install(socket, outbox)
    for text in ("a" * 10, "b" * 20):
        socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, text))
        outbox.add(len(text))
    assert outbox.unsent == 30
    assert len(await socket.poll()) == 2
    assert (outbox.queued, outbox.sending) == (0, 30)
    socket.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
    assert len(await socket.poll()) == 1
    assert (outbox.queued, outbox.sending) == (0, 0)
    assert socket_writer.packet_size(eio_packet.Packet(eio_packet.MESSAGE, "xyz")) == 3
