"""The contract's HTTP API as an OpenAPI 3.1 document (JSON Schema 2020-12).

Written by hand from the contract rather than generated from routes, so it
says what routes cannot (limits, error codes, who may call). Public through
:func:`taskstream_core.wire.openapi_document`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Final

import taskstream_core

from ._export import TASK_COLUMNS
from ._validation import (
    MAX_DESCRIPTION,
    MAX_IDEMPOTENCY_KEY,
    MAX_PAGE_LIMIT,
    MAX_PASSWORD,
    MAX_REASON,
    MAX_SCAN_NAME,
    MAX_TASK_CONTENT,
    MIN_PASSWORD,
)
from .errors import ERRORS_BY_CODE

__all__ = ["openapi_document"]

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


def _obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


_TIME: Final = {"type": "string", "format": "date-time"}

_SCHEMAS: Final[dict[str, Schema]] = {
    "Error": _obj(
        ["error"],
        error=_obj(
            ["code", "message"],
            code={
                "type": "string",
                "enum": list(ERRORS_BY_CODE),
            },
            message={"type": "string"},
            task={**_ref("Task"), "description": "With already_decided: the task as decided."},
        ),
    ),
    "User": _obj(
        ["id", "username", "role", "created_at"],
        id={"type": "string"},
        username={"type": "string"},
        role={"type": "string", "enum": ["admin", "worker"]},
        created_at=_TIME,
    ),
    "Session": _obj(["token", "user"], token={"type": "string"}, user=_ref("User")),
    "Counts": _obj(
        ["pending", "validated", "refused"],
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
    ),
    "Scan": _obj(
        ["id", "name", "description", "status", "created_by", "created_at", "counts"],
        id={"type": "string"},
        name={"type": "string"},
        description={"type": "string"},
        status={"type": "string", "enum": ["open", "closed"]},
        created_by={"type": "string"},
        created_at=_TIME,
        closed_at=_nullable("string", format="date-time"),
        counts=_ref("Counts"),
    ),
    "Task": _obj(
        list(TASK_COLUMNS),
        id={"type": "string"},
        scan_id={"type": "string"},
        worker_id={"type": "string"},
        worker_username={"type": "string"},
        content={"type": "string"},
        status={"type": "string", "enum": ["pending", "validated", "refused"]},
        reason=_nullable("string"),
        decided_by=_nullable("string"),
        created_at=_TIME,
        decided_at=_nullable("string", format="date-time"),
        seq={"type": "integer"},
    ),
    "WorkerStats": _obj(
        ["worker_id", "username", "submitted", "pending", "validated", "refused"],
        worker_id={"type": "string"},
        username={"type": "string"},
        submitted={"type": "integer"},
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
    ),
    "Stats": _obj(
        [
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
            "decisions_last_minute",
            "oldest_pending_at",
            "reviewers",
        ],
        scan_id={"type": "string"},
        total={"type": "integer"},
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
        acceptance_rate=_nullable("number"),
        submissions_last_minute={"type": "integer"},
        decision_seconds_p50=_nullable("number"),
        decision_seconds_p95=_nullable("number"),
        workers={"type": "array", "items": _ref("WorkerStats")},
        decisions_last_minute={"type": "integer"},
        oldest_pending_at=_nullable("string", format="date-time"),
        reviewers={"type": "array", "items": _ref("ReviewerStats")},
    ),
    "Claim": _obj(
        ["task_id", "admin_id", "admin_username", "expires_at"],
        task_id={"type": "string"},
        admin_id={"type": "string"},
        admin_username={"type": "string"},
        expires_at=_TIME,
    ),
    "Presence": _obj(
        ["reviewers", "submitters", "present"],
        reviewers={"type": "integer", "description": "Present admins."},
        submitters={"type": "integer", "description": "Present workers."},
        present={
            "type": "array",
            "items": _obj(
                ["user_id", "username", "role", "since"],
                user_id={"type": "string"},
                username={"type": "string"},
                role={"type": "string", "enum": ["admin", "worker"]},
                since=_TIME,
            ),
        },
    ),
    "History": _obj(
        ["task_id", "entries"],
        task_id={"type": "string"},
        entries={
            "type": "array",
            "items": _obj(
                ["seq", "at", "action", "by", "reason"],
                seq={"type": "integer"},
                at=_TIME,
                action={"type": "string", "enum": ["created", "validated", "refused", "undone"]},
                by=_obj(
                    ["user_id", "username"],
                    user_id={"type": "string"},
                    username={"type": "string"},
                ),
                reason=_nullable("string"),
            ),
        },
    ),
    "ReviewerStats": _obj(
        [
            "admin_id",
            "username",
            "decided",
            "validated",
            "refused",
            "undone",
            "decision_seconds_p50",
        ],
        admin_id={"type": "string"},
        username={"type": "string"},
        decided={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
        undone={"type": "integer"},
        decision_seconds_p50=_nullable("number"),
    ),
}


_ERRORS: Final = {
    "400": "invalid_request: malformed JSON, a wrong type or a length out of bounds",
    "401": "unauthorized: no valid bearer token",
    "403": "forbidden: the caller's role or ownership does not allow this",
    "404": "not_found: no such scan or task",
    "409": "conflict, scan_closed or already_decided",
    "413": "payload_too_large: a body over 64 KiB",
    "429": "rate_limited: too many failed sign-ins; see Retry-After",
    "503": "unavailable: the store cannot be reached right now",
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    *,
    who: str,
    ok: tuple[str, Schema],
    also_ok: tuple[str, Schema] | None = None,
    errors: tuple[str, ...] = (),
    body: Schema | None = None,
    params: tuple[Schema, ...] = (),
    optional_body: Schema | None = None,
) -> Schema:
    responses: Schema = dict([ok] if also_ok is None else [ok, also_ok])
    if body is not None or optional_body is not None:  # "Request bodies over 64 KiB answer 413"
        errors = (*errors, "413")
    for status in errors:
        responses[status] = _json(_ref("Error"), _ERRORS[status])
    operation: Schema = {
        "summary": summary,
        "description": f"Who: {who}.",
        "responses": responses,
    }
    if who != "anyone":
        operation["security"] = [{"bearer": []}]
    if body is not None or optional_body is not None:
        operation["requestBody"] = {
            "required": body is not None,
            "content": {"application/json": {"schema": body or optional_body}},
        }
    if params:
        operation["parameters"] = list(params)
    return operation


def _path_param(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _string(low: int, high: int, **more: Any) -> Schema:
    return {"type": "string", "minLength": low, "maxLength": high, **more}


_USER = ("401", "503")
_ADMIN = ("400", "401", "403", "404", "503")
_SCAN = (_path_param("scan_id"),)
_TASK = (_path_param("task_id"),)


def _paths() -> Schema:
    scan = ("200", _json(_obj(["scan"], scan=_ref("Scan")), "The scan."))
    task = ("200", _json(_obj(["task"], task=_ref("Task")), "The task."))
    session = _json(_ref("Session"), "The new session.")
    return {
        "/api/health": {
            "get": _op(
                "Whether the server accepts requests",
                who="anyone",
                ok=(
                    "200",
                    _json(
                        _obj(
                            ["status", "version", "store"],
                            status={"const": "ok"},
                            version={"type": "string"},
                            store={"type": "string", "description": "The store's URL scheme."},
                        ),
                        "The server is up.",
                    ),
                ),
            )
        },
        "/api/openapi.json": {
            "get": _op(
                "This document",
                who="anyone",
                ok=("200", _json({"type": "object"}, "OpenAPI 3.1.")),
            )
        },
        "/api/auth/register": {
            "post": _op(
                "Create an account and sign it in",
                who="anyone",
                ok=("201", session),
                errors=("400", "403", "409", "503"),
                body=_obj(
                    ["username", "password"],
                    username=_string(3, 32, pattern="^[A-Za-z0-9_.-]+$"),
                    password=_string(MIN_PASSWORD, MAX_PASSWORD),
                    role={"type": "string", "enum": ["admin", "worker"], "default": "worker"},
                    invite_code={"type": "string", "description": "Required for role admin."},
                ),
            )
        },
        "/api/auth/login": {
            "post": _op(
                "Sign in",
                who="anyone",
                ok=("200", _json(_ref("Session"), "The new session.")),
                errors=("400", "401", "429", "503"),
                body=_obj(
                    ["username", "password"],
                    username={"type": "string"},
                    password={"type": "string"},
                ),
            )
        },
        "/api/auth/me": {
            "get": _op(
                "The signed-in user",
                who="any user",
                ok=("200", _json(_obj(["user"], user=_ref("User")), "The user.")),
                errors=_USER,
            )
        },
        "/api/auth/logout": {
            "post": _op(
                "Refuse this token from now on, over HTTP and Socket.IO",
                who="any user",
                ok=("204", {"description": "Signed out."}),
                errors=_USER,
            )
        },
        "/api/scans": {
            "post": _op(
                "Create a scan",
                who="admin",
                ok=("201", _json(_obj(["scan"], scan=_ref("Scan")), "The new scan.")),
                errors=("400", "401", "403", "503"),
                body=_obj(
                    ["name"],
                    name=_string(1, MAX_SCAN_NAME),
                    description={"type": "string", "maxLength": MAX_DESCRIPTION},
                ),
            ),
            "get": _op(
                "List scans, newest first: admins see all, workers the open ones",
                who="any user",
                ok=(
                    "200",
                    _json(
                        _obj(["scans"], scans={"type": "array", "items": _ref("Scan")}),
                        "The scans.",
                    ),
                ),
                errors=_USER,
            ),
        },
        "/api/scans/{scan_id}": {
            "get": _op("One scan", who="any user", ok=scan, errors=_ADMIN, params=_SCAN)
        },
        "/api/scans/{scan_id}/close": {
            "post": _op(
                "Close a scan to submissions", who="admin", ok=scan, errors=_ADMIN, params=_SCAN
            )
        },
        "/api/scans/{scan_id}/tasks": {
            "post": _op(
                "Submit a task (200 with the first task on a repeated idempotency_key)",
                who="worker",
                ok=("201", _json(_obj(["task"], task=_ref("Task")), "The new task.")),
                also_ok=(
                    "200",
                    _json(
                        _obj(["task"], task=_ref("Task")),
                        "The task this worker made with this idempotency_key in this scan.",
                    ),
                ),
                errors=(*_ADMIN, "409"),
                body=_obj(
                    ["content"],
                    content=_string(1, MAX_TASK_CONTENT),
                    idempotency_key={"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                ),
                params=_SCAN,
            ),
            "get": _op(
                "A page of the scan's tasks, oldest first: admins all, workers their own",
                who="any user",
                ok=(
                    "200",
                    _json(
                        _obj(
                            ["tasks", "next_cursor"],
                            tasks={"type": "array", "items": _ref("Task")},
                            next_cursor=_nullable("string"),
                        ),
                        "A page; next_cursor is null on the last one.",
                    ),
                ),
                errors=_ADMIN,
                params=(
                    *_SCAN,
                    _query(
                        "status",
                        {"type": "string", "enum": ["pending", "validated", "refused"]},
                        "Only tasks in this state.",
                    ),
                    _query(
                        "limit",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE_LIMIT,
                            "default": 100,
                        },
                        "Page size.",
                    ),
                    _query("cursor", {"type": "string"}, "next_cursor of the previous page."),
                ),
            ),
        },
        "/api/scans/{scan_id}/stats": {
            "get": _op(
                "The scan's analytics",
                who="admin",
                ok=("200", _json(_ref("Stats"), "The stats.")),
                errors=_ADMIN,
                params=_SCAN,
            )
        },
        "/api/scans/{scan_id}/export": {
            "get": _op(
                "Every task of the scan as a download (Content-Disposition: attachment)",
                who="admin",
                ok=(
                    "200",
                    {
                        "description": "CSV with a header row, or JSON {scan, tasks}.",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {
                                "schema": _obj(
                                    ["scan", "tasks"],
                                    scan=_ref("Scan"),
                                    tasks={"type": "array", "items": _ref("Task")},
                                )
                            },
                        },
                    },
                ),
                errors=_ADMIN,
                params=(
                    *_SCAN,
                    _query(
                        "format",
                        {"type": "string", "enum": ["csv", "json"], "default": "json"},
                        "The download's format.",
                    ),
                ),
            )
        },
        "/api/tasks/{task_id}": {
            "get": _op(
                "One task: workers only their own",
                who="any user",
                ok=task,
                errors=_ADMIN,
                params=_TASK,
            )
        },
        "/api/tasks/{task_id}/decision": {
            "post": _op(
                "Validate or refuse a pending task; of concurrent decisions exactly one wins",
                who="admin",
                ok=task,
                errors=(*_ADMIN, "409"),
                body=_obj(
                    ["decision"],
                    decision={"type": "string", "enum": ["validated", "refused"]},
                    reason={"type": "string", "maxLength": MAX_REASON},
                ),
                params=_TASK,
            )
        },
        "/api/tasks/{task_id}/undo": {
            "post": _op(
                "Take back a decision: only its admin, within the undo window; pending again",
                who="admin",
                ok=task,
                errors=(*_ADMIN, "409"),
                params=_TASK,
            )
        },
        "/api/tasks/{task_id}/claim": {
            "post": _op(
                "Claim a pending task for 30 s, or renew one's claim (one claim per scan)",
                who="admin",
                ok=("200", _json(_obj(["claim"], claim=_ref("Claim")), "The claim.")),
                errors=(*_ADMIN, "409"),
                params=_TASK,
            ),
            "delete": _op(
                "Release one's claim on a task (nothing happens unless the caller holds it)",
                who="admin",
                ok=("204", {"description": "Released, or not held by the caller."}),
                errors=_ADMIN,
                params=_TASK,
            ),
        },
        "/api/scans/{scan_id}/claims/next": {
            "post": _op(
                "Claim the oldest pending task no other admin holds, after after_task_id",
                who="admin",
                ok=(
                    "200",
                    _json(
                        _obj(
                            ["task", "claim"],
                            task={"oneOf": [_ref("Task"), {"type": "null"}]},
                            claim={"oneOf": [_ref("Claim"), {"type": "null"}]},
                        ),
                        "The task now claimed by the caller, or both null when there is none.",
                    ),
                ),
                errors=_ADMIN,
                optional_body=_obj([], after_task_id={"type": "string"}),
                params=_SCAN,
            )
        },
        "/api/scans/{scan_id}/presence": {
            "get": _op(
                "Who has a socket joined to the scan, on any server process",
                who="admin",
                ok=("200", _json(_ref("Presence"), "The scan's presence.")),
                errors=_ADMIN,
                params=_SCAN,
            )
        },
        "/api/tasks/{task_id}/history": {
            "get": _op(
                "Who did what to the task, in seq order: admins any task, workers their own",
                who="any user",
                ok=("200", _json(_ref("History"), "The task's history.")),
                errors=_ADMIN,
                params=_TASK,
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    """The contract's HTTP API as an OpenAPI 3.1 document.

    Each call returns a copy of its own: the caller may change it (add its
    own routes, servers or descriptions) without affecting other callers.

    Returns:
        The document as JSON-ready dicts and lists, for ``/api/openapi.json``.
    """
    return copy.deepcopy(_document())


@cache
def _document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TaskStream",
            "version": taskstream_core.__version__,
            "description": (
                "The HTTP part of the TaskStream wire contract v2. Live events are the "
                "contract's sections 3 and 4 (the reference server carries them over "
                "Socket.IO at "
                '/socket.io). Every error answers {"error": {"code", "message"}}.'
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
