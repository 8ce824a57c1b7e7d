"""Real Socket.IO connections (:class:`LiveSocket`) driven from synchronous Hypothesis tests.

Hypothesis calls a test once per case; the sockets must outlive the cases,
so they live on an event loop of their own in a background thread, and each
case hands that loop one coroutine and waits for its result.

:meth:`SocketDriver.call_raw` sends an event packet whose JSON part is given
as text, to reach what python-socketio's client would never send (malformed
JSON, ``NaN``, a 5,000-digit number, a packet that is not ``[name, ...]``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import socketio

from tests.support import LiveSocket

__all__ = ["SocketDriver"]

_T = TypeVar("_T")
#: No case waits longer for an ack: a missing ack fails the case instead of hanging the run.
ACK_TIMEOUT = 15.0


class SocketDriver:
    """An event loop thread that owns the sockets of one test module."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._sockets: list[LiveSocket] = []

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(ACK_TIMEOUT * 2)

    def connect(self, token: str | None, *, auth: Any = None) -> LiveSocket:
        async def open_one() -> LiveSocket:
            socket = LiveSocket(self.base_url, token, auth=auth, timeout=ACK_TIMEOUT)
            return await socket.connect()

        socket = self.run(open_one())
        self._sockets.append(socket)
        return socket

    def refused(self, auth: Any) -> tuple[bool, Any]:
        """Connect with ``auth``: (True, the ``connect_error`` data) if refused, else
        (False, None) after closing the accepted socket."""

        async def attempt() -> tuple[bool, Any]:
            socket = LiveSocket(self.base_url, None, auth=auth, timeout=ACK_TIMEOUT)
            try:
                await socket.connect()
            except socketio.exceptions.ConnectionError:
                return True, socket.connect_errors[-1] if socket.connect_errors else None
            await socket.close()
            return False, None

        return self.run(attempt())

    def call(self, socket: LiveSocket, event: str, payload: Any) -> Any:
        return self.run(socket.call(event, payload))

    def call_raw(self, socket: LiveSocket, packet_json: str) -> Any:
        """Send ``2<ack id><packet_json>`` (an EVENT packet on ``/``) and return its ack."""

        async def send() -> Any:
            arrived: asyncio.Future[Any] = self.loop.create_future()

            def on_ack(*args: Any) -> None:
                if not arrived.done():
                    arrived.set_result(args[0] if len(args) == 1 else list(args))

            ack_id = socket.client._generate_ack_id("/", on_ack)
            await socket.client.eio.send(f"2{ack_id}{packet_json}")
            return await asyncio.wait_for(arrived, ACK_TIMEOUT)

        return self.run(send())

    def close(self) -> None:
        for socket in self._sockets:
            self.run(socket.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
