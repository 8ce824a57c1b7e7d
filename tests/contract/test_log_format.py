"""The server's log lines: readable text on a terminal (or ``--log-format text``), JSON otherwise,
and the URL to open and a new admin invite code stated on lines of their own."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

from tests.support import ServerProcess, call_sync

NO_SECRETS = {"TASKSTREAM_JWT_SECRET": None, "TASKSTREAM_ADMIN_INVITE_CODE": None}
#: ``12:00:00 INFO    taskstream.access  GET /api/health 200  ...``
TEXT_LINE = re.compile(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) +[\w.]+  \S.*")


def _is_json(line: str) -> bool:
    with contextlib.suppress(ValueError):
        return isinstance(json.loads(line), dict)
    return False


def test_text_logs_state_the_url_and_the_invite_code_plainly(tmp_path: Path) -> None:
    """``--log-format text``: short lines, no JSON; the URL and a generated invite code each
    on a line of their own at the first start, and where the code is kept at the next."""
    db = tmp_path / "t.db"
    server = ServerProcess(
        store_url=f"sqlite:///{db}", env=NO_SECRETS, args=["--log-format", "text"]
    )
    with server:
        assert call_sync(server.base_url, "GET", "/api/health")[0] == 200
        kept = json.loads(db.with_name("t.db.secrets.json").read_text())
        code = kept["admin_invite_code"]
        time.sleep(0.2)  # the access line of the health check
        lines = list(server.lines)
        assert f"open {server.base_url}/ in a browser" in lines
        assert f"admin invite code: {code} (kept in {db}.secrets.json)" in lines
        assert not any(_is_json(line) for line in lines), lines
        access = [line for line in lines if "taskstream.access  GET /api/health 200" in line]
        assert access
        assert all(TEXT_LINE.fullmatch(line) for line in access), access
        assert "request_id=" in access[0]
        assert "path=" not in access[0]  # said once, in the message
        before = len(server.lines)

        server.restart()

        after = server.lines[before:]
        assert f"the admin invite code is kept in {db}.secrets.json" in after
        assert not any(code in line for line in after)


def test_logs_are_json_lines_when_stderr_is_no_terminal(tmp_path: Path) -> None:
    """The default (``auto``) on a pipe: every line is one JSON object, the URL and the invite
    code among them as fields."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/j.db", env=NO_SECRETS)
    with server:
        call_sync(server.base_url, "GET", "/api/health")
        url = server.wait_for_log(lambda r: "url" in r)
        assert url["url"] == f"{server.base_url}/"
        assert url["message"] == f"open {server.base_url}/ in a browser"
        assert server.wait_for_log(lambda r: "admin_invite_code" in r)["kept_in"]
    assert all(_is_json(line) for line in server.lines), server.output


def test_logs_are_text_on_a_terminal(tmp_path: Path) -> None:
    """The default (``auto``) when stderr is a terminal: text lines, no JSON."""
    server = ServerProcess(store_url="memory://", cwd=tmp_path)
    parent, child = pty.openpty()
    process = subprocess.Popen(
        server.command, env=server.env, stdin=subprocess.DEVNULL, stdout=child, stderr=child
    )
    os.close(child)
    output = b""
    try:
        deadline = time.monotonic() + 30
        while b"in a browser" not in output and time.monotonic() < deadline:
            if select.select([parent], [], [], 0.5)[0]:
                output += os.read(parent, 65536)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        os.close(parent)
    lines = output.decode().replace("\r\n", "\n").splitlines()
    assert f"open {server.base_url}/ in a browser" in lines, lines
    assert any(TEXT_LINE.fullmatch(line) for line in lines), lines
    assert not any(_is_json(line) for line in lines), lines
