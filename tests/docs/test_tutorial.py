"""The tutorial's app, ``examples/tutorial/app.py``, run as the tutorial runs it.

``uvicorn app:app`` in a child process, on a free port and a SQLite store of the test's
own, driven over HTTP and with python-socketio's ``AsyncClient`` (the client a Python user
runs), as docs/tutorial.md walks through it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest

from taskstream_core import TokenIssuer
from taskstream_core.models import Role, User, utc_now
from tests.support import (
    TEST_INVITE_CODE,
    TEST_JWT_SECRET,
    Account,
    Api,
    LiveSocket,
    ServerProcess,
    call_sync,
)

#: The tutorial's app, which the page includes whole.
TUTORIAL_APP = Path(__file__).resolve().parents[2] / "examples" / "tutorial" / "app.py"
#: The script the page runs against the app: an admin and a worker, one task.
TRY_IT = TUTORIAL_APP.with_name("try_it.py")


class TutorialProcess(ServerProcess):
    """``python -m uvicorn app:app`` in the tutorial's folder, configured as its page says."""

    integration: ClassVar[str] = "starlette"

    @property
    def command(self) -> list[str]:
        where = [
            "--app-dir",
            str(TUTORIAL_APP.parent),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        return [sys.executable, "-m", "uvicorn", "app:app", *where]

    def _healthy(self) -> bool:
        """Serving once the app answers a request (it has no health route)."""
        try:
            status, _ = call_sync(self.base_url, "POST", "/api/auth/login", {})
        except OSError:
            return False
        return status == 400


@pytest.fixture
def tutorial(tmp_path: Path) -> Iterator[TutorialProcess]:
    env = {
        "REVIEW_STORE_URL": f"sqlite:///{tmp_path / 'review.db'}",
        "REVIEW_JWT_SECRET": TEST_JWT_SECRET,
        "REVIEW_INVITE_CODE": TEST_INVITE_CODE,
    }
    with TutorialProcess(None, env=env, cwd=tmp_path) as process:
        yield process


@pytest.fixture
async def api(tutorial: TutorialProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(tutorial.base_url, session)


async def register(api: Api, username: str, role: str = "worker") -> Account:
    """Register a user over HTTP; the test fails on anything but 201."""
    body: dict[str, Any] = {"username": username, "password": "correct horse", "role": role}
    if role == "admin":
        body["invite_code"] = TEST_INVITE_CODE
    reply = await api.post("/api/auth/register", body)
    assert reply.status == 201, reply.text
    return Account(username, "correct horse", reply.body["token"], reply.body["user"])


async def disconnected(socket: LiveSocket, within: float = 15.0) -> None:
    """Wait for the server to end ``socket``; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        await socket.disconnected.wait()


async def test_a_worker_sees_the_admins_decision_live(api: Api) -> None:
    """An admin makes a scan over HTTP; a worker submits over Socket.IO; the admin sees the
    task arrive and decides it; the worker sees the decision, another worker sees nothing."""
    admin, wren, other = (
        await register(api, "ada", "admin"),
        await register(api, "wren"),
        await register(api, "otto"),
    )
    refused = await api.post("/api/scans", {"name": "Night shift"}, token=wren.token)
    assert refused.status == 403
    assert refused.error_code == "forbidden"
    made = await api.post("/api/scans", {"name": "Night shift"}, token=admin.token)
    assert made.status == 201, made.text
    scan_id = made.body["scan"]["id"]

    async with (
        LiveSocket(api.base_url, admin.token) as watching,
        LiveSocket(api.base_url, wren.token) as working,
        LiveSocket(api.base_url, other.token) as bystander,
    ):
        for socket in (watching, working, bystander):
            joined = await socket.call("scan:join", {"scan_id": scan_id})
            assert joined["ok"] is True, joined
            assert (joined["scan"]["id"], joined["tasks"]) == (scan_id, [])

        sent = await working.call("task:submit", {"scan_id": scan_id, "content": "door open"})
        assert sent["ok"] is True, sent
        task = sent["task"]
        assert (task["status"], task["worker_username"]) == ("pending", "wren")
        created = await watching.wait_event("task:created", id=task["id"])
        assert created["task"]["content"] == "door open"

        not_yours = await working.call(
            "task:decide", {"task_id": task["id"], "decision": "validated"}
        )
        assert not_yours["error"]["code"] == "forbidden"
        decided = await watching.call(
            "task:decide", {"task_id": task["id"], "decision": "refused", "reason": "a drill"}
        )
        assert decided["ok"] is True, decided
        update = await working.wait_event("task:updated", id=task["id"])
        assert (update["task"]["status"], update["task"]["reason"]) == ("refused", "a drill")
        assert update["seq"] > created["seq"]

        malformed = await working.call("task:submit", ["not", "an", "object"])
        assert (malformed["ok"], malformed["error"]["code"]) == (False, "invalid_request")
        await bystander.quiet()
        assert [e.type for e in bystander.events] == []


async def test_logout_closes_that_tokens_sockets_and_refuses_it(api: Api) -> None:
    """Logging out disconnects the sockets opened with that token (not the user's other
    sign-ins), and the token is refused from then on, over HTTP and Socket.IO."""
    wren = await register(api, "wren")
    again = await api.post("/api/auth/login", {"username": "wren", "password": "correct horse"})
    assert again.status == 200, again.text
    async with (
        LiveSocket(api.base_url, wren.token) as signed_out,
        LiveSocket(api.base_url, again.body["token"]) as still_in,
    ):
        logout = await api.post("/api/auth/logout", token=wren.token)
        assert logout.status == 204, logout.text
        await disconnected(signed_out)
        assert still_in.connected

        refusal = await LiveSocket(api.base_url, wren.token).refused()
        assert refusal["data"]["code"] == "unauthorized"
        reused = await api.post("/api/scans", {"name": "x"}, token=wren.token)
        assert reused.error_code == "unauthorized"


async def test_a_socket_ends_when_its_token_expires(api: Api) -> None:
    """A socket lives as long as its token is accepted (its expiry plus the issuer's leeway),
    while a socket with a fresh token stays."""
    wren = await register(api, "wren")
    user = User(wren.id, "wren", Role.WORKER, datetime.fromisoformat(wren.user["created_at"]))
    # A token of the app's own key that expires now: accepted for the issuer's 5-s leeway.
    issuer = TokenIssuer(TEST_JWT_SECRET, lifetime=timedelta(minutes=1))
    expiring, _ = issuer.issue(user, now=utc_now() - timedelta(minutes=1))
    async with (
        LiveSocket(api.base_url, expiring) as ending,
        LiveSocket(api.base_url, wren.token) as fresh,
    ):
        await disconnected(ending)
        assert fresh.connected
        refusal = await LiveSocket(api.base_url, expiring).refused()
        assert refusal["data"]["code"] == "unauthorized"


def test_the_pages_script_reviews_one_task(tutorial: TutorialProcess) -> None:
    """``try_it.py``, run as the page runs it, registers its two users, and each sees what the
    page says: the admin the new task, the worker its submission and then the decision."""
    run = subprocess.run(
        [sys.executable, str(TRY_IT), tutorial.base_url, TEST_INVITE_CODE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "admin sees #1",
        "worker sees #2",
        "worker submitted",
    ], lines
    assert "worker sees #2: validated" in lines
    assert lines.index("worker submitted: pending") < lines.index("worker sees #2: validated")
