"""Helpers shared by the test suites that talk to a real server over the wire."""

from .asgi import InProcess
from .http import Account, Api, Reply, call_sync, register_sync
from .server import TEST_INVITE_CODE, TEST_JWT_SECRET, ServerExited, ServerProcess, free_port
from .sockets import LiveSocket, Received

__all__ = [
    "TEST_INVITE_CODE",
    "TEST_JWT_SECRET",
    "Account",
    "Api",
    "InProcess",
    "LiveSocket",
    "Received",
    "Reply",
    "ServerExited",
    "ServerProcess",
    "call_sync",
    "free_port",
    "register_sync",
]
