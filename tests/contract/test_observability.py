"""What operators read: JSON logs with request ids and no secrets, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET, Api, ServerProcess

from .helpers import PASSWORD, SocketFactory, Users, unique_name

# /metrics and the JSON logs are the reference server's.
pytestmark = pytest.mark.integrations("sanic")


async def test_metrics_expose_the_named_metrics(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """/metrics exposes, in Prometheus text format, the connected sockets gauge, the events
    published, submissions and decisions counters and the HTTP latency histogram."""
    worker = await sockets.connect(users.worker)
    ack = await worker.call("task:submit", {"scan_id": scan_id, "content": "m"})
    http = await api.post(f"/api/scans/{scan_id}/tasks", {"content": "n"}, token=users.worker.token)
    await api.post(
        f"/api/tasks/{http.body['task']['id']}/decision",
        {"decision": "validated"},
        token=users.admin.token,
    )
    assert ack["ok"] is True
    reply = await api.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    names = {name for name, _ in samples}

    assert samples[("taskstream_connected_sockets", ())] >= 1
    assert samples[("taskstream_events_published_total", (("type", "task:created"),))] >= 2
    assert samples[("taskstream_events_published_total", (("type", "task:updated"),))] >= 1
    created = (("outcome", "created"), ("transport", "socketio"))
    assert samples[("taskstream_submissions_total", created)] >= 1
    created_http = (("outcome", "created"), ("transport", "http"))
    assert samples[("taskstream_submissions_total", created_http)] >= 1
    decided = (("decision", "validated"), ("transport", "http"))
    assert samples[("taskstream_decisions_total", decided)] >= 1
    assert "taskstream_http_request_duration_seconds_bucket" in names
    routes = {dict(labels).get("route") for name, labels in samples if name.endswith("_count")}
    assert "/api/scans/<scan_id:str>/tasks" in routes  # the route pattern, not each id


async def test_a_client_cannot_add_metric_series_with_made_up_methods(api: Api) -> None:
    """Methods outside HTTP's usual ones are one ``other`` series, whatever a client sends."""
    for method in ("FOOA", "FOOB", "X" * 300):
        assert (await api.request(method, "/api/health")).status == 405
    text = (await api.get("/metrics")).text
    assert "FOOA" not in text
    assert "XXXX" not in text
    assert 'method="other",route="unmatched",status="405"' in text


async def test_log_lines_are_json_with_the_request_id(api: Api, server: ServerProcess) -> None:
    """Every log line is a JSON object; a request's lines carry its id, which the answer echoes
    in `X-Request-ID` (a caller's own id when it is a safe one)."""
    reply = await api.get("/api/health", headers={"X-Request-ID": "trace-me-123"})
    assert reply.headers["X-Request-ID"] == "trace-me-123"
    unsafe = await api.get("/api/health", headers={"X-Request-ID": "bad id\twith space"})
    generated = unsafe.headers["X-Request-ID"]
    assert generated != "bad id\twith space"
    assert len(generated) == 32

    record = await asyncio.to_thread(
        server.wait_for_log, lambda r: r.get("request_id") == "trace-me-123"
    )
    assert record["path"] == "/api/health"
    assert record["status"] == 200
    assert record["level"] == "info"
    await asyncio.to_thread(server.wait_for_log, lambda r: r.get("request_id") == generated)
    for line in server.lines:
        assert isinstance(json.loads(line), dict), line


async def test_logs_hold_no_password_token_or_secret(
    api: Api, sockets: SocketFactory, server: ServerProcess, users: Users
) -> None:
    """Log lines never contain a password, a token, the JWT secret or the invite code."""
    name, password = unique_name("quiet"), "very-secret-password-42"
    registered = await api.post("/api/auth/register", {"username": name, "password": password})
    wrong = await api.post("/api/auth/login", {"username": name, "password": "wrong-password-99"})
    login = await api.post("/api/auth/login", {"username": name, "password": password})
    assert (registered.status, wrong.status, login.status) == (201, 401, 200)
    tokens = [registered.body["token"], login.body["token"]]
    await api.get("/api/auth/me", token=tokens[0])
    await api.get("/api/auth/me", token="forged.token.value")
    socket = await sockets.new(tokens[1]).connect()
    await socket.call("scan:join", {"scan_id": "0123456789abcdef"})
    await api.post("/api/auth/logout", token=tokens[1])
    await socket.quiet(0.3)

    secrets = [
        password,
        "wrong-password-99",
        PASSWORD,
        TEST_JWT_SECRET,
        TEST_INVITE_CODE,
        "forged.token.value",
        *tokens,
        users.admin.token,
        users.worker.token,
    ]
    output = server.output
    for secret in secrets:
        assert secret not in output
    assert any('"path": "/api/auth/login"' in line for line in server.lines)  # it was logged


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/scans"])
async def test_errors_are_logged_without_the_authorization_header(
    api: Api, server: ServerProcess, path: str
) -> None:
    """A refused request is logged (path, status, request id) but not its credentials."""
    reply = await api.get(path, headers={"Authorization": "Bearer secret-looking-token-xyz"})
    assert reply.status == 401
    request_id = reply.headers["X-Request-ID"]
    record = await asyncio.to_thread(
        server.wait_for_log, lambda r: r.get("request_id") == request_id
    )
    assert record["status"] == 401
    assert "secret-looking-token-xyz" not in server.output
