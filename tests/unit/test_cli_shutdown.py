"""The server's shutdown survives a websocket its client was already closing.

uvicorn's websockets-sansio protocol sends a close frame on shutdown without
checking whether the client's close already put the connection in the
*closing* state; websockets then raises ``InvalidState`` and the server
exited 1 on SIGINT (once in CI, in ``test_signals_stop_the_server_with_exit_0``).
"""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidState
from websockets.protocol import State
from websockets.server import ServerProtocol

from taskstream_server.cli import _guard_shutdown


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
    _guard_shutdown(connection)
    connection.shutdown()
    assert connection.transport.closed


def test_a_connection_that_shuts_down_normally_is_left_to_do_so() -> None:
    calls: list[str] = []

    class Fine:
        transport = _Transport()

        def shutdown(self) -> None:
            calls.append("shutdown")

    connection = Fine()
    _guard_shutdown(connection)
    connection.shutdown()
    assert calls == ["shutdown"]
    assert not Fine.transport.closed
