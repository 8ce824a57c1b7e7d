"""The JSON shapes of CONTRACT.md, written out once for every suite that checks them.

They are spelled here from the contract, not imported from the code, so a
field the code drops or renames fails the tests instead of moving with them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COUNTS_KEYS",
    "HISTORY_BY_KEYS",
    "HISTORY_ENTRY_KEYS",
    "HISTORY_KEYS",
    "REVIEWER_KEYS",
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
        # v2, section 4.5
        "decisions_last_minute",
        "oldest_pending_at",
        "reviewers",
    }
)
WORKER_KEYS: Final = frozenset(
    {"worker_id", "username", "submitted", "pending", "validated", "refused"}
)
#: v2, section 4.5: one element of the stats' ``reviewers``.
REVIEWER_KEYS: Final = frozenset(
    {"admin_id", "username", "decided", "validated", "refused", "undone", "decision_seconds_p50"}
)
#: v2, section 4.4: a task's history, one entry of it, and the entry's ``by``.
HISTORY_KEYS: Final = frozenset({"task_id", "entries"})
HISTORY_ENTRY_KEYS: Final = frozenset({"seq", "at", "action", "by", "reason"})
HISTORY_BY_KEYS: Final = frozenset({"user_id", "username"})
