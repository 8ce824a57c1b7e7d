"""The server a fuzz module talks to, and what its cases need from it."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from tests.support import TEST_INVITE_CODE, Account, ServerProcess, register_sync

__all__ = ["PASSWORD", "Site"]

PASSWORD = "fuzz-password-1"


@dataclass(frozen=True)
class Site:
    """The module's server and what the cases need from it."""

    server: ServerProcess
    http: requests.Session
    admin: Account
    worker: Account
    worker2: Account
    open_scan: str
    closed_scan: str

    def url(self, path: str) -> str:
        return self.server.url(path)

    def auth(self, account: Account | None) -> dict[str, str]:
        return {} if account is None else {"Authorization": f"Bearer {account.token}"}

    def new_scan(self, name: str = "fuzz") -> str:
        reply = self.http.post(
            self.url("/api/scans"), json={"name": name}, headers=self.auth(self.admin)
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["scan"]["id"])

    def new_task(self, scan_id: str | None = None, content: str = "a task") -> str:
        reply = self.http.post(
            self.url(f"/api/scans/{scan_id or self.open_scan}/tasks"),
            json={"content": content},
            headers=self.auth(self.worker),
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["task"]["id"])

    def register_admin(self, username: str) -> Account:
        """Another admin (one PBKDF2 hash: once per test, not per case)."""
        return register_sync(
            self.server.base_url, username, PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
        )

    def decide(self, task_id: str, decision: str = "validated") -> None:
        """Decide a task as the site's admin."""
        reply = self.http.post(
            self.url(f"/api/tasks/{task_id}/decision"),
            json={"decision": decision},
            headers=self.auth(self.admin),
        )
        assert reply.status_code == 200, reply.text

    def claim(self, task_id: str, admin: Account) -> None:
        """Claim a task as ``admin``."""
        reply = self.http.post(self.url(f"/api/tasks/{task_id}/claim"), headers=self.auth(admin))
        assert reply.status_code == 200, reply.text

    def task_status(self, task_id: str) -> str:
        """The task's stored status, read as the site's admin."""
        reply = self.http.get(self.url(f"/api/tasks/{task_id}"), headers=self.auth(self.admin))
        assert reply.status_code == 200, reply.text
        return str(reply.json()["task"]["status"])

    def scan_total(self, scan_id: str) -> int:
        reply = self.http.get(self.url(f"/api/scans/{scan_id}"), headers=self.auth(self.admin))
        assert reply.status_code == 200, reply.text
        return sum(reply.json()["scan"]["counts"].values())

    def assert_alive(self) -> None:
        """Health answers, and a worker can still submit and read back a normal task."""
        assert self.server.running, self.server.output[-3000:]
        health = self.http.get(self.url("/api/health"), timeout=10)
        assert health.status_code == 200, health.text
        scan = self.new_scan("liveness")
        task = self.new_task(scan, "still serving")
        reply = self.http.get(self.url(f"/api/tasks/{task}"), headers=self.auth(self.worker))
        assert reply.status_code == 200, reply.text
        assert reply.json()["task"]["content"] == "still serving"
