"""TaskStream: stream tasks in real time between workers and the admins who review them.

What an integration needs is exported here. Two public modules hold the rest of the
vocabulary: :mod:`taskstream_core.models` (every wire shape and enum) and
:mod:`taskstream_core.errors` (every error, each with its contract code);
:mod:`taskstream_core.wire` holds the contract's HTTP rules,
:mod:`taskstream_core.client` a client, :mod:`taskstream_core.testing` test helpers,
and ``taskstream_core.stores`` / ``taskstream_core.brokers`` the adapters. Modules
whose name starts with ``_`` are the implementation and may change in any release.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from typing import TYPE_CHECKING, Any

from . import errors
from ._accounts import Accounts, LoginThrottle, Session
from ._broker import Broker, Resync, ScanFollowing, open_broker, register_broker
from ._export import export_csv, export_json
from ._fanout import LiveObserver
from ._passwords import PasswordHasher
from ._rbac import Permission, authorize, can
from ._service import JoinResult, TaskPage, TaskStream
from ._session import ViewerSession
from ._store import NewTask, Store, open_store, register_store
from ._tokens import TokenIssuer, generate_secret
from ._url import mask_url
from ._viewer import ViewerClosed, ViewerLagged
from .errors import TaskStreamError
from .models import Principal, Role, Scan, ScanEvent, Task

#: The version of the installed ``taskstream-core`` (from its metadata).
__version__: str
try:
    __version__ = importlib.metadata.version("taskstream-core")
except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Accounts",
    "Broker",
    "JoinResult",
    "LiveObserver",
    "LoginThrottle",
    "NewTask",
    "PasswordHasher",
    "Permission",
    "Principal",
    "Resync",
    "Role",
    "Scan",
    "ScanEvent",
    "ScanFollowing",
    "Session",
    "Store",
    "Task",
    "TaskPage",
    "TaskStream",
    "TaskStreamError",
    "TokenIssuer",
    "ViewerClosed",
    "ViewerLagged",
    "ViewerSession",
    "__version__",
    "authorize",
    "can",
    "export_csv",
    "export_json",
    "generate_secret",
    "mask_url",
    "open_broker",
    "open_store",
    "register_broker",
    "register_store",
]

# Names exported here before 0.2, now in their public module; kept working with a
# DeprecationWarning for one release.
_MOVED: dict[str, str] = {
    **{
        name: "errors"
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and name not in __all__
    },
    **dict.fromkeys(
        ["EventType", "ScanCounts", "ScanStats", "ScanStatus", "TaskStatus", "User", "WorkerStats"],
        "models",
    ),
}


if not TYPE_CHECKING:  # else a type checker takes every name, misspelled ones too, as Any

    def __getattr__(name: str) -> Any:
        """Resolve a name that moved to its public module, with a :class:`DeprecationWarning`."""
        module = _MOVED.get(name)
        if module is None:
            raise AttributeError(f"module 'taskstream_core' has no attribute {name!r}")
        warnings.warn(
            f"taskstream_core.{name} moved: import it from taskstream_core.{module}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{module}", __name__), name)
