"""The public API: exactly these names, and no server framework pulled in by importing it."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import taskstream_core

EXPORTED = [
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


def test_the_export_list_is_exactly_the_public_api() -> None:
    """__all__ names exactly these members, sorted, so nothing appears or vanishes by accident."""
    assert taskstream_core.__all__ == EXPORTED
    assert sorted(EXPORTED) == EXPORTED


@pytest.mark.parametrize(("name", "home"), [("Forbidden", "errors"), ("TaskStatus", "models")])
def test_a_name_that_moved_still_resolves_with_a_warning(name: str, home: str) -> None:
    """Names exported before 0.2 resolve from their public module, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match=f"taskstream_core.{home}"):
        moved = getattr(taskstream_core, name)
    assert moved is getattr(importlib.import_module(f"taskstream_core.{home}"), name)
    with pytest.raises(AttributeError):
        _ = taskstream_core.NoSuchName  # type: ignore[attr-defined]


@pytest.mark.parametrize("folder", ["examples", "benchmarks", "docs"])
def test_examples_benchmarks_and_docs_import_no_private_module(folder: str) -> None:
    """What users copy uses only the public API: no ``taskstream_core._name`` anywhere in it."""
    root = Path(__file__).resolve().parents[1] / folder
    found = [
        f"{path.relative_to(root.parent)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*"))
        if path.suffix in {".py", ".md"} and path.name != "changelog.md"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\btaskstream_core(\.[a-z]\w*)*\._[a-z]\w*", line)
    ]
    assert not found, "\n".join(found)


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
