"""CONTRACT.md §1, starting and stopping the server: secrets, restarts, signals, bad settings.

Each test runs its own server process on its own store, so it can stop,
kill and restart it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import (
    TEST_INVITE_CODE,
    TEST_JWT_SECRET,
    Account,
    Api,
    LiveSocket,
    ServerProcess,
    call_sync,
    register_sync,
)

from .helpers import PASSWORD

NO_SECRETS = {"TASKSTREAM_JWT_SECRET": None, "TASKSTREAM_ADMIN_INVITE_CODE": None}


def _invite_code_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "admin_invite_code" in r]


def test_generated_secrets_survive_a_restart_and_the_code_is_shown_once(tmp_path: Path) -> None:
    """Contract: "`TASKSTREAM_JWT_SECRET` ... When unset, the server makes one and keeps it beside
    the store, so tokens survive a restart"; the invite code "When unset, the server makes one at
    first start and prints it in its startup log"."""
    db = tmp_path / "data" / "ts.db"
    server = ServerProcess(store_url=f"sqlite:///{db}", env=NO_SECRETS)
    with server:
        shown = _invite_code_records(server.log_records())
        assert len(shown) == 1
        code = shown[0]["admin_invite_code"]
        secrets_file = db.with_name("ts.db.secrets.json")
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        kept = json.loads(secrets_file.read_text())
        assert kept["admin_invite_code"] == code
        assert len(kept["jwt_secret"]) >= 32

        admin = register_sync(server.base_url, "boss", PASSWORD, role="admin", invite_code=code)
        worker = register_sync(server.base_url, "hand", PASSWORD)
        _, created = call_sync(server.base_url, "POST", "/api/scans", {"name": "s"}, admin.token)
        scan = created["scan"]["id"]
        _, task = call_sync(
            server.base_url, "POST", f"/api/scans/{scan}/tasks", {"content": "c"}, worker.token
        )
        lines_before = len(server.lines)

        server.restart()

        after = server.log_records()[lines_before:]
        assert _invite_code_records(after) == []
        assert not any(code in line for line in server.lines[lines_before:])
        assert any(str(secrets_file) in str(r.get("kept_in")) for r in after)
        for account in (admin, worker):
            status, body = call_sync(server.base_url, "GET", "/api/auth/me", token=account.token)
            assert status == 200
            assert body["user"] == account.user
        status, again = call_sync(
            server.base_url, "GET", f"/api/tasks/{task['task']['id']}", token=worker.token
        )
        assert status == 200
        assert again == task
        status, second = call_sync(
            server.base_url, "POST", f"/api/scans/{scan}/tasks", {"content": "d"}, worker.token
        )
        assert second["task"]["seq"] == task["task"]["seq"] + 1
        assert not any(kept["jwt_secret"] in line for line in server.lines)


async def _admin_worker_scan(
    server: ServerProcess, name: str
) -> tuple[Account, Account, dict[str, Any]]:
    """An admin (``<name>-admin``), a worker (``<name>-worker``) and a scan of the admin's."""
    admin = await asyncio.to_thread(
        register_sync,
        server.base_url,
        f"{name}-admin",
        PASSWORD,
        role="admin",
        invite_code=TEST_INVITE_CODE,
    )
    worker = await asyncio.to_thread(register_sync, server.base_url, f"{name}-worker", PASSWORD)
    async with aiohttp.ClientSession() as session:
        api = Api(server.base_url, session)
        scan = (await api.post("/api/scans", {"name": name}, token=admin.token)).body["scan"]
    return admin, worker, scan


async def test_sigkill_then_restart_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Contract: "an ack `ok: true` means the change is stored": a server killed outright and
    restarted on the same SQLite file still has every acknowledged change, and its tokens."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/crash.db")
    await asyncio.to_thread(server.start)
    try:
        admin, worker, scan = await _admin_worker_scan(server, "crash")
        socket = await LiveSocket(server.base_url, worker.token).connect()
        acked = []
        for i in range(20):
            ack = await socket.call("task:submit", {"scan_id": scan["id"], "content": f"t{i}"})
            acked.append(ack["task"])
        await socket.close()
        assert await asyncio.to_thread(server.kill) == -signal.SIGKILL

        await asyncio.to_thread(server.start)
        async with aiohttp.ClientSession() as session:
            api = Api(server.base_url, session)
            listing = await api.get(
                f"/api/scans/{scan['id']}/tasks", token=admin.token, params={"limit": "500"}
            )
        assert listing.status == 200
        assert listing.body["tasks"] == acked
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.parametrize(
    ("sig", "transport"),
    [
        (signal.SIGTERM, "websocket"),
        (signal.SIGINT, "websocket"),
        (signal.SIGTERM, "polling"),
    ],
    ids=["SIGTERM-websocket", "SIGINT-websocket", "SIGTERM-polling"],
)
async def test_signals_stop_the_server_with_exit_0(
    tmp_path: Path, sig: signal.Signals, transport: str
) -> None:
    """Contract: "SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0" — promptly,
    also with Socket.IO connections open (a long-poll included)."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/sig.db")
    await asyncio.to_thread(server.start)
    worker = await asyncio.to_thread(register_sync, server.base_url, "sig-worker", PASSWORD)
    socket = await LiveSocket(server.base_url, worker.token, transport=transport).connect()
    await asyncio.sleep(0.2)  # let a long-poll be pending
    started = time.monotonic()
    code = await asyncio.to_thread(server.stop, sig)
    assert code == 0, server.output
    assert time.monotonic() - started < 3  # well under the 5 s graceful timeout
    await asyncio.wait_for(socket.disconnected.wait(), 5)
    await socket.close()
    assert "exited cleanly" in server.output
    assert "timeout graceful shutdown exceeded" not in server.output


async def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    """Contract: "SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0"."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/inflight.db")
    await asyncio.to_thread(server.start)
    async with aiohttp.ClientSession() as session:
        api = Api(server.base_url, session)
        # registering hashes a password for about a quarter of a second: in flight long enough
        pending = asyncio.ensure_future(
            api.post("/api/auth/register", {"username": "late-one", "password": PASSWORD})
        )
        await asyncio.sleep(0.08)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        reply = await pending
    assert reply.status == 201, reply.text
    assert await asyncio.to_thread(server.wait) == 0


async def test_a_body_still_arriving_at_the_shutdown_deadline_is_answered_503(
    tmp_path: Path,
) -> None:
    """Contract: "`unavailable` (503 ...; retry later)" and "`internal` (500, never expected)":
    a request whose body has not all arrived when the graceful shutdown runs out is answered
    in the contract's JSON, 503 `unavailable`, not the ASGI server's plain-text 500, with no
    traceback logged, and the server exits 0."""
    server = ServerProcess(
        store_url=f"sqlite:///{tmp_path}/cut.db", args=["--shutdown-timeout", "1"]
    )
    await asyncio.to_thread(server.start)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"username"'
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    head, _, body = (await asyncio.wait_for(reader.read(), 10)).partition(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 503 "), head
    assert b"content-type: application/json" in head.lower(), head
    assert json.loads(body)["error"]["code"] == "unavailable", body
    assert await asyncio.to_thread(server.wait) == 0
    assert "Exception in ASGI application" not in server.output, server.output
    assert "Traceback" not in server.output, server.output


async def test_sigterm_acks_every_socket_event_it_took(tmp_path: Path) -> None:
    """SIGTERM during a burst of ``task:submit``: every event is acked before the socket is
    let go, and a task is stored exactly when its ack says ``ok``; the rest say
    ``unavailable`` (nothing is stored without its worker hearing of it)."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/burst.db")
    await asyncio.to_thread(server.start)
    admin, worker, scan = await _admin_worker_scan(server, "burst")
    socket = await LiveSocket(server.base_url, worker.token).connect()
    session = aiohttp.ClientSession()
    logins = [  # each hashes a password: the server is busy when the signal comes
        asyncio.ensure_future(
            Api(server.base_url, session).post(
                "/api/auth/login", {"username": "burst-worker", "password": PASSWORD}
            )
        )
        for _ in range(4)
    ]
    calls = [
        asyncio.ensure_future(
            socket.call("task:submit", {"scan_id": scan["id"], "content": f"t{i}"})
        )
        for i in range(30)
    ]
    await asyncio.sleep(0.05)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    acks = await asyncio.gather(*calls)
    await asyncio.gather(*logins, return_exceptions=True)
    await session.close()
    await socket.close()
    assert await asyncio.to_thread(server.wait) == 0
    assert {a["error"]["code"] for a in acks if not a["ok"]} <= {"unavailable"}
    acked = {a["task"]["content"] for a in acks if a["ok"]}

    await asyncio.to_thread(server.start)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(server.base_url, session)
            listing = await api.get(
                f"/api/scans/{scan['id']}/tasks", token=admin.token, params={"limit": "500"}
            )
        assert {t["content"] for t in listing.body["tasks"]} == acked
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.parametrize(
    ("store", "env", "args", "says"),
    [
        ("nosuch://x", {}, [], "Unknown store URL"),
        ("sqlite:///{tmp}/a-file/inside.db", {}, [], "Cannot open"),
        ("sqlite:///{tmp}/ok.db", {"TASKSTREAM_JWT_SECRET": "too-short"}, [], "at least 32 bytes"),
        (
            "sqlite:///{tmp}/ok.db",
            {},
            ["--redis-url", "redis://:pw@127.0.0.1:1/0"],
            "Cannot reach Redis",
        ),
    ],
    ids=["unknown-scheme", "unopenable-store", "short-jwt-secret", "redis-unreachable"],
)
def test_bad_settings_fail_fast_with_one_line_and_exit_2(
    tmp_path: Path, store: str, env: dict[str, str], args: list[str], says: str
) -> None:
    """The server refuses to start on a setting it cannot use: exit code 2 and one plain line on
    stderr saying why (a store that "cannot be reached" included)."""
    (tmp_path / "a-file").write_text("not a directory")
    server = ServerProcess(store_url=store.format(tmp=tmp_path), env=env, args=args)
    server.spawn()
    assert server.wait(30) == 2, server.output
    last = server.lines[-1]
    assert last.startswith("taskstream-server: "), server.output
    assert says in last
    assert "pw@" not in server.output  # a password in a URL is masked


def test_memory_store_keeps_its_secrets_in_memory(tmp_path: Path) -> None:
    """Contract: "`memory://` (nothing persisted)": the generated secrets are not written anywhere
    and the invite code is shown at every start."""
    server = ServerProcess(store_url="memory://", env=NO_SECRETS, cwd=tmp_path)
    with server:
        status, health = call_sync(server.base_url, "GET", "/api/health")
        assert status == 200
        assert health["store"] == "memory"
        assert len(_invite_code_records(server.log_records())) == 1
    assert list(tmp_path.iterdir()) == []
    assert TEST_JWT_SECRET not in server.output


def test_store_url_comes_from_the_environment(tmp_path: Path) -> None:
    """Contract: "`--store` (env `TASKSTREAM_STORE_URL`) picks the storage adapter by URL
    scheme"."""
    server = ServerProcess(store_url=None, env={"TASKSTREAM_STORE_URL": "memory://"}, cwd=tmp_path)
    with server:
        assert call_sync(server.base_url, "GET", "/api/health")[1]["store"] == "memory"
    assert list(tmp_path.iterdir()) == []


def test_default_store_is_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    """Contract: "`sqlite:///path/to/file.db` (the embedded default: `sqlite:///./taskstream.db`)",
    with the generated secrets kept beside it."""
    server = ServerProcess(store_url=None, env=NO_SECRETS, cwd=tmp_path)
    with server:
        assert call_sync(server.base_url, "GET", "/api/health")[1]["store"] == "sqlite"
    assert (tmp_path / "taskstream.db").is_file()
    secrets_file = tmp_path / "taskstream.db.secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
