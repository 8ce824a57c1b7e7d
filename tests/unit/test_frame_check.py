"""with_frame_check: a websocket frame that is no Engine.IO packet ends its connection."""

from __future__ import annotations

from typing import Any

import pytest

from taskstream_server.edge import Message, with_frame_check


@pytest.mark.parametrize(
    ("frame", "passed"),
    [
        ({"text": "2"}, True),  # ping
        ({"text": '42["task:submit",{}]'}, True),
        ({"text": "bAAEC"}, True),  # a base64 binary message
        ({"bytes": b"\x00\x01"}, True),
        ({"text": ""}, False),
        ({"text": "x"}, False),
        ({"text": "{not engine.io}"}, False),
        ({"text": "b@@@"}, False),  # not base64
        ({"text": "8"}, False),  # no Engine.IO packet type
        ({"text": "0"}, False),  # the server's open, never a client's
    ],
)
async def test_each_frame_reaches_the_app_or_ends_the_connection(
    frame: dict[str, Any], passed: bool
) -> None:
    received: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.append(await receive())

    async def receive() -> Message:
        return {"type": "websocket.receive", **frame}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent for the app")

    await with_frame_check(app)({"type": "websocket"}, receive, send)
    if passed:
        assert received == [{"type": "websocket.receive", **frame}]
    else:
        assert received == [{"type": "websocket.disconnect", "code": 1002}]
