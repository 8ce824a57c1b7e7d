"""TaskStream: stream tasks in real time between workers and the admins who review them.

The public API is re-exported here; the modules hold one concept each.
"""

from ._fanout import LiveObserver, ViewerClosed, ViewerLagged
from .accounts import Accounts, LoginThrottle, Session
from .broker import Broker, Resync, open_broker, register_broker
from .errors import (
    AlreadyDecided,
    Conflict,
    Forbidden,
    Internal,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ScanClosed,
    TaskStreamError,
    Unauthorized,
    Unavailable,
)
from .export import export_csv, export_json
from .models import (
    EventType,
    Principal,
    Role,
    Scan,
    ScanCounts,
    ScanEvent,
    ScanStats,
    ScanStatus,
    Task,
    TaskStatus,
    User,
    WorkerStats,
)
from .passwords import PasswordHasher
from .rbac import Permission, authorize, can
from .service import JoinResult, TaskPage, TaskStream
from .session import ViewerSession
from .store import NewTask, Store, open_store, register_store
from .tokens import TokenIssuer, generate_secret

#: The version of the installed ``taskstream-core``.
__version__ = "0.1.0"

__all__ = [
    "Accounts",
    "AlreadyDecided",
    "Broker",
    "Conflict",
    "EventType",
    "Forbidden",
    "Internal",
    "InvalidRequest",
    "JoinResult",
    "LiveObserver",
    "LoginThrottle",
    "NewTask",
    "NotFound",
    "PasswordHasher",
    "PayloadTooLarge",
    "Permission",
    "Principal",
    "RateLimited",
    "Resync",
    "Role",
    "Scan",
    "ScanClosed",
    "ScanCounts",
    "ScanEvent",
    "ScanStats",
    "ScanStatus",
    "Session",
    "Store",
    "Task",
    "TaskPage",
    "TaskStatus",
    "TaskStream",
    "TaskStreamError",
    "TokenIssuer",
    "Unauthorized",
    "Unavailable",
    "User",
    "ViewerClosed",
    "ViewerLagged",
    "ViewerSession",
    "WorkerStats",
    "__version__",
    "authorize",
    "can",
    "export_csv",
    "export_json",
    "generate_secret",
    "open_broker",
    "open_store",
    "register_broker",
    "register_store",
]
