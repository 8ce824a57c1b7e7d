"""Exports of a scan's tasks: CSV with the Task object's fields as columns, or JSON.

CSV cells are neutralised against formula injection as OWASP's "CSV Injection"
page recommends: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading ``'``, so a spreadsheet shows it as text
instead of running it. The JSON export carries every value as stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Final

from .models import Scan, Task

__all__ = ["TASK_COLUMNS", "export_csv", "export_json"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP's list).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

#: The CSV export's columns, in order: the contract's Task object's fields.
TASK_COLUMNS: Final = (
    "id",
    "scan_id",
    "worker_id",
    "worker_username",
    "content",
    "status",
    "reason",
    "decided_by",
    "created_at",
    "decided_at",
    "seq",
)


def _cell(value: object) -> object:
    """A value as a CSV cell: empty for null, text a spreadsheet would run quoted with ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(tasks: Iterable[Task]) -> str:
    """Encode tasks as RFC 4180 CSV (CRLF line ends), one row per task after a header.

    A null field is an empty cell. A text cell starting with ``= + - @``, a tab
    or a carriage return is prefixed with ``'`` (OWASP's advice against formula
    injection).

    Args:
        tasks: The tasks, in the order of the rows.

    Returns:
        The CSV text, with :data:`TASK_COLUMNS` as its header.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TASK_COLUMNS)
    for task in tasks:
        row = task.to_dict()
        writer.writerow([_cell(row[c]) for c in TASK_COLUMNS])
    return out.getvalue()


def export_json(scan: Scan, tasks: Iterable[Task]) -> str:
    """Encode a scan and its tasks as the contract's JSON export.

    Args:
        scan: The scan.
        tasks: Its tasks.

    Returns:
        ``{"scan": {...}, "tasks": [...]}`` as JSON text, every value as stored.
    """
    return json.dumps(
        {"scan": scan.to_dict(), "tasks": [t.to_dict() for t in tasks]}, ensure_ascii=False
    )
