"""The TaskStream reference server: the contract's HTTP API, Socket.IO and web pages.

Run it with ``taskstream-server`` or ``python -m taskstream_server``; build
the ASGI app in-process with :func:`build_app`.
"""

from .app import ServerApp, build_app
from .settings import Secrets, Settings

__all__ = ["Secrets", "ServerApp", "Settings", "build_app"]
