"""Helpers shared by the test suites that talk to a real server over the wire."""

from .asgi import InProcess
from .http import Account, Api, Reply, call_sync, register_sync
from .server import (
    AIOHTTP_EXAMPLE,
    TEST_INVITE_CODE,
    TEST_JWT_SECRET,
    AiohttpExampleProcess,
    ServerExited,
    ServerProcess,
    free_port,
)
from .sockets import (
    Exit,
    LiveSocket,
    Received,
    Refused,
    SocketDriver,
    WireSocket,
    received_text,
)
from .wire import POLLING, RawAnswer, RecordingApi, Wire, polling_session, raw_request

__all__ = [
    "AIOHTTP_EXAMPLE",
    "POLLING",
    "TEST_INVITE_CODE",
    "TEST_JWT_SECRET",
    "Account",
    "AiohttpExampleProcess",
    "Api",
    "Exit",
    "InProcess",
    "LiveSocket",
    "RawAnswer",
    "Received",
    "RecordingApi",
    "Refused",
    "Reply",
    "ServerExited",
    "ServerProcess",
    "SocketDriver",
    "Wire",
    "WireSocket",
    "call_sync",
    "free_port",
    "polling_session",
    "raw_request",
    "received_text",
    "register_sync",
]
