"""The JSON shapes of CONTRACT.md, written out once for every suite that checks them.

They are spelled here from the contract, not imported from the code, so a
field the code drops or renames fails the tests instead of moving with them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COUNTS_KEYS",
    "SCAN_KEYS",
    "STATS_KEYS",
    "TASK_FIELDS",
    "TASK_KEYS",
    "WORKER_KEYS",
]

#: The Task object's fields, in the contract's order (also the CSV export's columns).
TASK_FIELDS: Final = (
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
TASK_KEYS: Final = frozenset(TASK_FIELDS)
SCAN_KEYS: Final = frozenset(
    {"id", "name", "description", "status", "created_by", "created_at", "counts"}
)
COUNTS_KEYS: Final = frozenset({"pending", "validated", "refused"})
STATS_KEYS: Final = frozenset(
    {
        "scan_id",
        "total",
        "pending",
        "validated",
        "refused",
        "acceptance_rate",
        "submissions_last_minute",
        "decision_seconds_p50",
        "decision_seconds_p95",
        "workers",
    }
)
WORKER_KEYS: Final = frozenset(
    {"worker_id", "username", "submitted", "pending", "validated", "refused"}
)
