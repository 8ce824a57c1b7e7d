"""Exports of a scan's tasks: CSV with the Task object's fields as columns, or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Final

from .models import Scan, Task

__all__ = ["TASK_COLUMNS", "export_csv", "export_json"]

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


def export_csv(tasks: Iterable[Task]) -> str:
    """RFC 4180 CSV (CRLF line ends); null fields are empty cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TASK_COLUMNS)
    for task in tasks:
        row = task.to_dict()
        writer.writerow(["" if row[c] is None else row[c] for c in TASK_COLUMNS])
    return out.getvalue()


def export_json(scan: Scan, tasks: Iterable[Task]) -> str:
    """``{"scan", "tasks"}`` as the contract gives it."""
    return json.dumps(
        {"scan": scan.to_dict(), "tasks": [t.to_dict() for t in tasks]}, ensure_ascii=False
    )
