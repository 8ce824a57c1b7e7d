"""The contract's objects (CONTRACT.md §2, "Objects") as JSON Schema for the OpenAPI document.

JSON Schema 2020-12, as OpenAPI 3.1 uses it: a nullable field is
``{"type": [kind, "null"]}``.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["SCHEMAS", "Schema", "nullable", "obj", "ref"]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


def obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


_TIME: Final = {"type": "string", "format": "date-time"}

SCHEMAS: Final[dict[str, Schema]] = {
    "Error": obj(
        ["error"],
        error=obj(
            ["code", "message"],
            code={
                "type": "string",
                "enum": [
                    "invalid_request",
                    "unauthorized",
                    "forbidden",
                    "not_found",
                    "conflict",
                    "scan_closed",
                    "already_decided",
                    "payload_too_large",
                    "rate_limited",
                    "unavailable",
                    "internal",
                ],
            },
            message={"type": "string"},
            task={**ref("Task"), "description": "With already_decided: the task as decided."},
        ),
    ),
    "User": obj(
        ["id", "username", "role", "created_at"],
        id={"type": "string"},
        username={"type": "string"},
        role={"type": "string", "enum": ["admin", "worker"]},
        created_at=_TIME,
    ),
    "Session": obj(["token", "user"], token={"type": "string"}, user=ref("User")),
    "Counts": obj(
        ["pending", "validated", "refused"],
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
    ),
    "Scan": obj(
        ["id", "name", "description", "status", "created_by", "created_at", "counts"],
        id={"type": "string"},
        name={"type": "string"},
        description={"type": "string"},
        status={"type": "string", "enum": ["open", "closed"]},
        created_by={"type": "string"},
        created_at=_TIME,
        closed_at=nullable("string", format="date-time"),
        counts=ref("Counts"),
    ),
    "Task": obj(
        [
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
        ],
        id={"type": "string"},
        scan_id={"type": "string"},
        worker_id={"type": "string"},
        worker_username={"type": "string"},
        content={"type": "string"},
        status={"type": "string", "enum": ["pending", "validated", "refused"]},
        reason=nullable("string"),
        decided_by=nullable("string"),
        created_at=_TIME,
        decided_at=nullable("string", format="date-time"),
        seq={"type": "integer"},
    ),
    "WorkerStats": obj(
        ["worker_id", "username", "submitted", "pending", "validated", "refused"],
        worker_id={"type": "string"},
        username={"type": "string"},
        submitted={"type": "integer"},
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
    ),
    "Stats": obj(
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
        ],
        scan_id={"type": "string"},
        total={"type": "integer"},
        pending={"type": "integer"},
        validated={"type": "integer"},
        refused={"type": "integer"},
        acceptance_rate=nullable("number"),
        submissions_last_minute={"type": "integer"},
        decision_seconds_p50=nullable("number"),
        decision_seconds_p95=nullable("number"),
        workers={"type": "array", "items": ref("WorkerStats")},
    ),
}
