"""The TaskStream reference server: the contract's HTTP API, Socket.IO and web pages.

Run it with ``taskstream-server`` or ``python -m taskstream_server``; build
the ASGI app in-process with :func:`build_app`.
"""

import importlib.metadata

from .app import ServerApp, build_app
from .settings import Secrets, Settings

__all__ = ["Secrets", "ServerApp", "Settings", "__version__", "build_app"]

#: The version of the installed ``taskstream-server`` (from its metadata).
__version__: str
try:
    __version__ = importlib.metadata.version("taskstream-server")
except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"
