"""The public API: exactly these names, and no server framework pulled in by importing it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import taskstream_core

EXPORTED = [
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


def test_the_export_list_is_exactly_the_public_api() -> None:
    """__all__ names exactly these members, sorted, so nothing appears or vanishes by accident."""
    assert taskstream_core.__all__ == EXPORTED
    assert sorted(EXPORTED) == EXPORTED


def test_every_exported_name_exists() -> None:
    """Each name in __all__ is importable from the package."""
    for name in taskstream_core.__all__:
        assert hasattr(taskstream_core, name), name


def test_public_classes_say_they_live_in_the_package() -> None:
    """Exported objects come from taskstream_core's own modules."""
    for name in EXPORTED:
        member = getattr(taskstream_core, name)
        module = getattr(member, "__module__", None)
        if module is not None and not isinstance(member, str):
            assert module.startswith("taskstream_core"), (name, module)


@pytest.fixture(scope="module")
def imported_by_the_package() -> set[str]:
    """The top-level modules a fresh interpreter holds after ``import taskstream_core``."""
    probe = "import sys, taskstream_core; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return {name.partition(".")[0] for name in result.stdout.split()}


def test_importing_the_package_does_not_import_sanic(imported_by_the_package: set[str]) -> None:
    """``import taskstream_core`` does not pull in the web framework of the example server."""
    assert "taskstream_core" in imported_by_the_package
    assert "sanic" not in imported_by_the_package


@pytest.mark.parametrize(
    "module", ["socketio", "engineio", "aiohttp", "uvicorn", "pymongo", "redis"]
)
def test_importing_the_package_does_not_import_optional_dependencies(
    imported_by_the_package: set[str], module: str
) -> None:
    """Client and adapter libraries are optional extras, imported only when used."""
    assert module not in imported_by_the_package
