"""The API reference (``docs/reference/``) has an entry for every public name.

A name is covered by a ``::: module.name`` directive for it, or by a ``::: module``
directive of a public module that exports the same object (``::: taskstream_core.models``
renders every name of ``models.__all__``).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)
PUBLIC_MODULES = (
    "taskstream_core",
    "taskstream_core.client",
    "taskstream_core.errors",
    "taskstream_core.models",
    "taskstream_core.testing",
    "taskstream_core.wire",
)


def _resolve(target: str) -> object:
    """The module or object a directive names."""
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError:
        module, _, name = target.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _documented() -> list[object]:
    """Every object the reference renders, a module's exported names included."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs/reference").glob("*.md"))
    shown: list[object] = []
    for target in DIRECTIVE.findall(text):
        found = _resolve(target)
        shown.append(found)
        if isinstance(found, ModuleType):
            shown += [getattr(found, name) for name in getattr(found, "__all__", ())]
    return shown


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_exported_name_has_a_reference_entry(module_name: str) -> None:
    """Each name of the module's ``__all__`` (dunders aside) is rendered somewhere."""
    module = importlib.import_module(module_name)
    shown = _documented()
    missing = [
        name
        for name in module.__all__
        if not name.startswith("__") and not any(getattr(module, name) is s for s in shown)
    ]
    assert not missing, f"{module_name}: no ::: entry in docs/reference for {missing}"
