"""fast_path: frames are what websockets sends, and a library it does not fit is said so."""

from __future__ import annotations

import logging

import engineio
import pytest
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, SERVER, Protocol, State
from websockets.server import ServerProtocol

from taskstream_server.fast_path import FastPath, guard_shutdown, text_frame


def _texts(data: bytes) -> list[str]:
    """What a websocket client reads from ``data``."""
    client = Protocol(CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    frames = client.events_received()
    assert all(isinstance(f, Frame) and f.opcode is Opcode.TEXT and f.fin for f in frames)
    return [bytes(f.data).decode() for f in frames if isinstance(f, Frame)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_a_frame_is_what_websockets_would_send(size: int) -> None:
    text = ("é" * size)[:size]
    server = Protocol(SERVER, state=State.OPEN)
    server.send_text(text.encode())
    assert text_frame(text) == b"".join(server.data_to_send())
    assert _texts(text_frame(text)) == [text]


def test_it_installs_on_engineios_asgi_driver_and_warns_where_that_is_not_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = engineio.AsyncServer(async_mode="asgi")
    shared = server._async["websocket"]
    with caplog.at_level(logging.INFO, "taskstream.fast_path"):
        assert FastPath.install(server) is not None
        assert issubclass(server._async["websocket"], shared)
        server._async = {**server._async, "websocket": None}
        assert FastPath.install(server) is None
    assert [r.levelname for r in caplog.records] == ["INFO", "WARNING"]
    assert caplog.records[1].getMessage().startswith("fast path: off, python-engineio is not")


def test_a_protocol_other_than_uvicorns_gets_no_lane_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast = FastPath()
    with caplog.at_level(logging.WARNING, "taskstream.fast_path"):
        assert fast.lane(object()) is None
        assert fast.lane(None) is None
    assert len(caplog.records) == 1  # said once
    assert caplog.records[0].getMessage().startswith("fast path: not used, object is not")


# -- guard_shutdown: uvicorn's shutdown survives a websocket its client was already closing.
# uvicorn's websockets-sansio protocol sends a close frame on shutdown without checking whether
# the client's close already put the connection in the *closing* state; websockets then raises
# ``InvalidState`` and the server exited 1 on SIGINT (once in CI).
class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _ClosingConnection:
    """What uvicorn's shutdown meets: a websocket whose client sent its close first."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.conn = ServerProtocol()
        self.conn.state = State.CLOSING

    def shutdown(self) -> None:
        self.conn.send_close(1012)  # what uvicorn does, whatever the state


def test_a_connection_already_closing_is_closed_instead_of_raising() -> None:
    connection = _ClosingConnection()
    with pytest.raises(InvalidState):
        connection.shutdown()
    guard_shutdown(connection)
    connection.shutdown()
    assert connection.transport.closed


def test_a_connection_that_shuts_down_normally_is_left_to_do_so() -> None:
    calls: list[str] = []

    class Fine:
        transport = _Transport()

        def shutdown(self) -> None:
            calls.append("shutdown")

    connection = Fine()
    guard_shutdown(connection)
    connection.shutdown()
    assert calls == ["shutdown"]
    assert not Fine.transport.closed
