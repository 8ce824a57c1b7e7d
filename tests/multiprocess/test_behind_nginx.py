"""deploy/nginx.conf in front of two server processes: WebSocket, sticky long-polling, origin."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveSocket, ServerProcess, call_sync, free_port

from .cluster import Cluster, data_events, submit

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def local_conf(place: Path, port: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf with the compose service names replaced by local ports."""
    text = CONF.read_text()
    for index, upstream in enumerate(upstreams, 1):
        text, found = re.subn(rf"server server-{index}:8000", f"server 127.0.0.1:{upstream}", text)
        assert found == 1
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace(
        "worker_processes auto;",
        f"worker_processes 1;\npid {place}/nginx.pid;\nerror_log {place}/error.log;",
    )
    temp = " ".join(
        f"{kind}_temp_path {place}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    text = text.replace("http {", f"http {{\n    access_log off;\n    {temp}", 1)
    path = place / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """nginx on a free port in front of servers A and B; its base URL."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        pytest.skip("nginx is not installed")
    port = free_port()
    conf = local_conf(tmp_path, port, [server.port for server in cluster.servers])
    check = subprocess.run(
        [binary, "-t", "-c", str(conf), "-p", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while call_sync_or_none(base) is None:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop, by PID
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
        if process.stderr is not None:
            process.stderr.close()


def call_sync_or_none(base: str) -> int | None:
    try:
        return call_sync(base, "GET", "/api/health")[0]
    except OSError:
        return None


async def test_nginx_carries_websocket_and_sticky_long_polling_to_both_servers(
    nginx: str, cluster: Cluster, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    """Through deploy/nginx.conf a browser-origin WebSocket and a long-polling client (sticky by
    address) both work, and an event submitted over long-polling reaches a socket connected to
    the other server directly."""
    admin, worker = cluster.register("admin", role="admin"), cluster.register("w")
    scan = cluster.new_scan(admin)
    origin = {"Origin": nginx}  # what a browser on the page sends: same origin, through nginx
    admin_via_nginx = LiveSocket(nginx, admin.token, headers=origin)
    worker_polling = LiveSocket(nginx, worker.token, transport="polling", headers=origin)
    admin_on_b = LiveSocket(b.base_url, admin.token)
    for socket in (admin_via_nginx, worker_polling, admin_on_b):
        opened.append(await socket.connect())
        assert (await socket.call("scan:join", {"scan_id": scan}))["ok"]

    tasks = [await submit(worker_polling, scan, f"over polling {i}") for i in range(3)]
    for socket in (admin_via_nginx, admin_on_b):
        for task in tasks:
            await socket.wait_event("task:created", id=task["id"])
        assert [e["task"]["id"] for e in data_events(socket.events)] == [t["id"] for t in tasks]

    # A logout through nginx ends the long-polling session from the server's side (a client's
    # own close of a long-poll waits for the pending poll to time out).
    status, _ = call_sync(nginx, "POST", "/api/auth/logout", token=worker.token)
    assert status == 204
    async with asyncio.timeout(30):
        await worker_polling.disconnected.wait()
