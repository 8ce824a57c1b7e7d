"""CONTRACT.md §2, the rules every route shares: JSON, error bodies, body limit, health,
plus the OpenAPI document and the web pages the server serves beside the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from tests.support import Api, ServerProcess
from tests.support.matrix import registered_routes

from .helpers import Users, assert_error, unique_name

CONTRACT_CODES = {
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
}


async def test_health_answers_ok_version_and_store(api: Api, server: ServerProcess) -> None:
    """`GET /api/health | anyone | → 200 {"status": "ok", "version", "store"}`."""
    reply = await api.get("/api/health")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    scheme = (server.store_url or "").partition("://")[0]
    assert scheme in {"sqlite", "mongodb", "memory"}
    assert reply.body == {"status": "ok", "version": reply.body["version"], "store": scheme}
    assert isinstance(reply.body["version"], str)
    assert reply.body["version"]


_PAGE = pytest.mark.integrations("sanic")  # the dashboard's pages


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/openapi.json", pytest.param("/", marks=_PAGE), "/api/nothing"]
)
async def test_head_answers_what_get_would_without_a_body(api: Api, path: str) -> None:
    """HEAD (what a load balancer's or uptime probe sends) answers GET's status and headers."""
    got, head = await api.get(path), await api.request("HEAD", path)
    assert (head.status, head.text) == (got.status, "")
    assert head.headers["Content-Type"] == got.headers["Content-Type"]


async def test_unknown_route_answers_contract_404(api: Api) -> None:
    """Contract: "Every error is a 4xx/5xx status with the body {"error": {"code", "message"}}" —
    also an unknown route (`not_found` (404))."""
    assert_error(await api.get("/api/nothing-here"), 404, "not_found")
    assert_error(await api.get("/no/such/page"), 404, "not_found")


async def test_wrong_method_answers_contract_body(api: Api) -> None:
    """Contract: "Every error is a 4xx/5xx status with the body {"error": {"code", "message"}}" —
    also a method a route does not take (405, with `Allow`)."""
    reply = await api.request("DELETE", "/api/scans")
    assert_error(reply, 405, "invalid_request")
    assert "GET" in reply.headers["Allow"]
    assert "POST" in reply.headers["Allow"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b'{"username": "abc",}', b"\xff\xfe\x00", b"[" * 30_000],
    ids=["truncated", "text", "trailing-comma", "bad-utf8", "deeply-nested"],
)
async def test_malformed_json_is_invalid_request(api: Api, raw: bytes) -> None:
    """Contract: "`invalid_request` (400, also malformed JSON and wrong types/lengths)"."""
    reply = await api.request(
        "POST", "/api/auth/login", data=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 400, "invalid_request")


@pytest.mark.parametrize("body", ["[]", '"text"', "null", "42", ""], ids=repr)
async def test_json_body_must_be_an_object(api: Api, body: str) -> None:
    """Contract: "JSON in and out": a body that is not a JSON object is 400 `invalid_request`."""
    reply = await api.request(
        "POST", "/api/auth/register", data=body, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 400, "invalid_request")


def _padded_login(size: int) -> bytes:
    """A login body of exactly ``size`` bytes (the padding is an unknown field)."""
    head = b'{"username": "' + unique_name("nobody").encode() + b'", "password": "x", "pad": "'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_body_of_exactly_64_kib_is_accepted(api: Api) -> None:
    """Contract: "Request bodies over 64 KiB answer 413": 65,536 bytes is not over, so it is
    handled."""
    body = _padded_login(64 * 1024)
    assert len(body) == 65_536
    reply = await api.request(
        "POST", "/api/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 401, "unauthorized")  # read and handled: the login itself answers


async def test_body_over_64_kib_answers_413(api: Api) -> None:
    """Contract: "Request bodies over 64 KiB answer 413" (`payload_too_large`), by
    Content-Length."""
    reply = await api.request(
        "POST",
        "/api/auth/login",
        data=_padded_login(64 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_error(reply, 413, "payload_too_large")


async def test_chunked_body_over_64_kib_answers_413(api: Api, users: Users) -> None:
    """Contract: "Request bodies over 64 KiB answer 413", also when sent chunked without a
    length."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(17):
            yield b"y" * 4096
        yield b'"}'

    reply = await api.request(
        "POST",
        "/api/scans",
        data=chunks(),
        token=users.admin.token,
        headers={"Content-Type": "application/json"},
    )
    assert_error(reply, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/auth/register", {"username": ["a"], "password": {"x": 1}}),
        ("/api/auth/register", {"username": "valid-name", "password": 12345678}),
        ("/api/auth/register", {"username": "valid-name", "password": "longenough", "role": 1}),
        ("/api/auth/login", {"username": 1, "password": None}),
        ("/api/scans", {"name": 3.5}),
        ("/api/scans", {"name": "ok", "description": ["list"]}),
    ],
)
async def test_wrong_types_are_400_never_500(
    api: Api, users: Users, path: str, body: dict[str, Any]
) -> None:
    """Contract: "`invalid_request` (400, also malformed JSON and wrong types/lengths)"; `internal`
    (500) is "never expected"."""
    reply = await api.post(path, body, token=users.admin.token)
    assert reply.status in (400, 401), reply.text
    assert reply.error_code in CONTRACT_CODES


async def test_openapi_document_is_valid_openapi_3_1(api: Api) -> None:
    """The server documents its HTTP API as a valid OpenAPI 3.1 document at /api/openapi.json."""
    validator = pytest.importorskip("openapi_spec_validator")
    reply = await api.get("/api/openapi.json")
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.1")
    validator.validate(reply.body)


@pytest.mark.integrations("sanic")  # the Sanic app's routes
async def test_openapi_paths_equal_the_registered_routes(api: Api) -> None:
    """/api/openapi.json names exactly the (path, method) pairs the Sanic app registers."""
    document = (await api.get("/api/openapi.json")).body
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    registered = {(path, method.lower()) for method, path in registered_routes()}
    assert documented == {(path, method) for path, method in registered if path.startswith("/api/")}


@pytest.mark.integrations("sanic")  # the dashboard's pages
@pytest.mark.parametrize("path", ["/", "/admin", "/admin/scans/abc123", "/worker/scan/abc123"])
async def test_pages_are_served_with_security_headers(api: Api, path: str) -> None:
    """The web pages answer HTML with a CSP that forbids inline script, nosniff,
    no-referrer and no framing."""
    reply = await api.get(path)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    csp = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in reply.text  # no inline script for the CSP to refuse
    assert "/api/" in reply.text or 'src="/assets/' in reply.text


@pytest.mark.integrations("sanic")  # the dashboard's assets
@pytest.mark.parametrize("path", ["/assets/../../settings.py", "/assets/%2e%2e/fallback.html"])
async def test_assets_do_not_escape_their_directory(api: Api, path: str) -> None:
    """/assets/ serves the built dashboard's files only; anything else is a contract 404."""
    reply = await api.request("GET", path)
    assert reply.status == 404
    assert reply.error_code == "not_found"


async def test_answers_are_json_in_utf8(api: Api, users: Users) -> None:
    """Contract: "JSON in and out, UTF-8": non-ASCII text comes back as it was sent."""
    name = "Étage 2 — façade 東"
    reply = await api.post("/api/scans", {"name": name}, token=users.admin.token)
    assert reply.status == 201
    assert reply.headers["Content-Type"].startswith("application/json")
    assert json.loads(reply.text)["scan"]["name"] == name


@pytest.mark.integrations("sanic")  # Socket.IO's websockets
@pytest.mark.parametrize("path", ["/nope", "/api/health", "/"])
async def test_websockets_outside_socketio_are_refused(
    api: Api, server: ServerProcess, path: str
) -> None:
    """Live events go over Socket.IO at `/socket.io`; a websocket anywhere else is refused
    (HTTP 403), never a server error."""
    url = server.base_url.replace("http://", "ws://") + path
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(url, open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    assert (await api.get("/api/health")).status == 200  # and the server goes on


async def test_a_huge_declared_body_is_refused_without_waiting_for_it(
    server: ServerProcess,
) -> None:
    """Contract: "Request bodies over 64 KiB answer 413" — at once from the declared length,
    even when the client never sends the body it announced."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 50000000\r\n\r\n{"username": '
    )
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ")
    writer.close()
