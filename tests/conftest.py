"""Settings shared by the whole test tree."""

from __future__ import annotations

# tests/typing holds files that exist to be type-checked by mypy, never run.
collect_ignore = ["typing"]
