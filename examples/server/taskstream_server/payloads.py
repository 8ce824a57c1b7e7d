"""The contract's rule for client payloads, as ``sockets.py`` imports it.

The rule lives in :func:`taskstream_core.wire.client_object`; this module
only keeps the import path of the Socket.IO gateway.
"""

from taskstream_core.wire import client_object

__all__ = ["client_object"]
