"""The people and the scan of a fault test: one admin, a few workers, one open scan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.support import TEST_INVITE_CODE, Account, call_sync, register_sync

__all__ = ["PASSWORD", "Scene", "set_scene"]

PASSWORD = "correct horse battery"


@dataclass(frozen=True, slots=True)
class Scene:
    admin: Account
    workers: list[Account]
    scan: str


def set_scene(base_url: str, workers: int) -> Scene:
    """Register an admin and ``workers`` workers and open a scan (blocking: run it in a thread)."""
    tag = uuid.uuid4().hex[:8]
    admin = register_sync(
        base_url, f"admin-{tag}", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    people = [register_sync(base_url, f"w{i}-{tag}", PASSWORD) for i in range(workers)]
    status, body = call_sync(base_url, "POST", "/api/scans", {"name": "faults"}, admin.token)
    assert status == 201, body
    return Scene(admin, people, str(body["scan"]["id"]))
