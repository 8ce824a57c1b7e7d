"""``taskstream_core.wire``: the contract's HTTP rules, the same for every integration."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from taskstream_core import (
    Principal,
    Role,
    Scan,
    Task,
    TaskStreamError,
    __version__,
    export_csv,
    export_json,
    wire,
)
from taskstream_core.errors import (
    ERRORS_BY_CODE,
    AlreadyDecided,
    Conflict,
    Forbidden,
    Internal,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ScanClosed,
    Unauthorized,
    Unavailable,
)
from taskstream_core.models import ScanStatus, TaskStatus

from ..conformance.factories import T0, at

SCAN = Scan("s1", "Export me", "", ScanStatus.OPEN, "a1", T0)
TASK = Task("t1", "s1", "w1", "alice", "=1+1 ünïcödé", TaskStatus.PENDING, T0, 1, 1)


def body_of(reply: wire.Reply) -> Any:
    return json.loads(reply.body.decode("utf-8"))


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("bad"),
        Unauthorized(),
        Forbidden(),
        NotFound(),
        Conflict(),
        ScanClosed(),
        PayloadTooLarge(),
        Unavailable(),
        Internal(),
    ],
    ids=lambda e: e.code,
)
def test_a_core_error_answers_its_status_and_body(error: TaskStreamError) -> None:
    """A TaskStreamError answers its own status and ``{"error": {"code", "message"}}`` as JSON."""
    reply = wire.error_reply(error)
    assert reply.status == error.status
    assert reply.content_type == "application/json"
    assert body_of(reply) == {"error": {"code": error.code, "message": error.message}}
    assert dict(reply.headers) == {}


def test_already_decided_carries_the_task() -> None:
    """``already_decided`` answers the winning task in ``error.task``."""
    reply = wire.error_reply(AlreadyDecided(task=TASK))
    assert reply.status == 409
    assert body_of(reply)["error"]["task"] == TASK.to_dict()


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.2, "1"), (1.0, "1"), (2.5, "3"), (900.0, "900"), (None, None)]
)
def test_rate_limited_says_when_to_retry(retry_after: float | None, header: str | None) -> None:
    """``rate_limited`` carries Retry-After in whole seconds, rounded up, at least 1."""
    reply = wire.error_reply(RateLimited(retry_after=retry_after))
    assert reply.status == 429
    assert body_of(reply)["error"]["code"] == "rate_limited"
    assert reply.headers.get("Retry-After") == header


def test_an_unexpected_exception_is_internal_and_says_nothing_of_itself() -> None:
    """Any other exception answers 500 ``internal`` with the generic message only."""
    reply = wire.error_reply(KeyError("secret detail"))
    assert reply.status == 500
    assert body_of(reply) == Internal().to_dict()
    assert b"secret" not in reply.body


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_request"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (405, "invalid_request"),
        (409, "conflict"),
        (413, "payload_too_large"),
        (414, "invalid_request"),
        (429, "rate_limited"),
        (431, "invalid_request"),
        (500, "internal"),
        (502, "internal"),
        (503, "unavailable"),
    ],
)
def test_code_for_status(status: int, code: str) -> None:
    """A framework's status maps to the contract's code of that status; other 4xx are
    ``invalid_request``, other 5xx ``internal``."""
    assert wire.code_for_status(status) == code


def test_a_framework_refusal_keeps_its_status_and_headers() -> None:
    """A framework's 405 answers the contract's body, keeps ``Allow`` and drops the
    framework's own content type and length."""
    framework_headers = {"Allow": "GET, POST", "Content-Type": "text/plain", "content-length": "9"}
    reply = wire.status_reply(405, "Method not allowed", framework_headers)
    assert reply.status == 405
    assert reply.content_type == "application/json"
    assert dict(reply.headers) == {"Allow": "GET, POST"}
    assert body_of(reply) == {"error": {"code": "invalid_request", "message": "Method not allowed"}}


@pytest.mark.parametrize(("status", "message"), [(404, "Not Found"), (499, None)])
def test_a_framework_refusal_without_a_message_gets_one(status: int, message: str | None) -> None:
    """Without a message, the status's reason phrase (or a generic sentence) is the message."""
    error = body_of(wire.status_reply(status))["error"]
    assert error["message"] == (message or "The request could not be handled.")


# -- bearer token ------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Bearer abc.def", "bearer abc.def", "BEARER  abc.def  "])
def test_the_bearer_token_is_read_from_the_header(header: str) -> None:
    """The scheme is case-insensitive; the token comes without surrounding spaces."""
    assert wire.bearer_token(header) == "abc.def"


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Token abc", "abc"]
)
def test_a_missing_or_malformed_bearer_header_is_unauthorized(header: str | None) -> None:
    """No header, another scheme or an empty token: 401 with the contract's hint."""
    with pytest.raises(Unauthorized, match=r"Send 'Authorization: Bearer <token>'\."):
        wire.bearer_token(header)


# -- resume point as text ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "seq"), [(None, None), ("", None), ("0", 0), ("42", 42)])
def test_a_seq_in_text_is_read_as_a_number(text: str | None, seq: int | None) -> None:
    """A query string's or ``Last-Event-ID``'s digits are the seq; absent or empty: none."""
    assert wire.seq_from_text(text) == seq


@pytest.mark.parametrize("text", ["-1", "1.0", "x", "²", "9" * 20, "true"])
def test_a_seq_in_text_that_is_no_seq_is_refused(text: str) -> None:
    """Anything but ASCII digits of a seq (0 to 2**63 - 1) is ``invalid_request``."""
    with pytest.raises(InvalidRequest, match="since_seq"):
        wire.seq_from_text(text)


# -- bodies ------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    head, tail = b'{"pad": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_body_of_64_kib_is_read_and_one_byte_more_refused() -> None:
    """The limit is 65,536 bytes, declared or read."""
    wire.check_body_size(None)
    wire.check_body_size(64 * 1024)
    assert wire.decode_json_object(padded(64 * 1024))["pad"].startswith("x")
    with pytest.raises(PayloadTooLarge, match="larger than 64 KiB"):
        wire.check_body_size(64 * 1024 + 1)
    with pytest.raises(PayloadTooLarge):
        wire.decode_json_object(padded(64 * 1024 + 1))


def test_a_json_object_in_utf8_is_decoded() -> None:
    """An object with non-ASCII text decodes as sent, a leading byte order mark ignored."""
    value = {"name": "Nuit ünïcödé 🌙", "n": [1, {"x": None}]}
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert wire.decode_json_object(raw) == value
    assert wire.decode_json_object(b"\xef\xbb\xbf" + raw) == value


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b'{"username": "abc",}',
        b"\xff\xfe\x00",
        '{"name": "utf-16"}'.encode("utf-16"),
        b"[" * 30_000,
        b"[]",
        b'"text"',
        b"null",
        b"42",
        b'{"name": "\\ud800"}',
        b'{"\\udfff": "key"}',
        b'{"deep": [[[[{"x": ["\\ud83d"]}]]]]}',
    ],
    ids=[
        "empty",
        "truncated",
        "text",
        "trailing-comma",
        "bad-utf8",
        "utf-16",
        "deeply-nested",
        "array",
        "string",
        "null",
        "number",
        "surrogate-value",
        "surrogate-key",
        "surrogate-deep",
    ],
)
def test_a_body_that_is_no_json_object_of_unicode_is_invalid_request(raw: bytes) -> None:
    """Empty, malformed, not UTF-8, too deep, not an object, or holding a lone surrogate: 400."""
    with pytest.raises(InvalidRequest):
        wire.decode_json_object(raw)


def test_a_deeply_nested_valid_object_is_checked_without_recursion() -> None:
    """An object nested as deep as the parser allows is walked without exhausting the stack."""
    depth = 900
    raw = b'{"a": ' + b"[" * depth + b'"\\ud800"' + b"]" * depth + b"}"
    with pytest.raises(InvalidRequest, match="not valid Unicode"):
        wire.decode_json_object(raw)


def test_a_decoded_payload_is_checked_and_named() -> None:
    """``client_object`` applies the same rule to a payload decoded elsewhere, naming it."""
    assert wire.client_object({"scan_id": "s1"}, "The event's payload") == {"scan_id": "s1"}
    with pytest.raises(InvalidRequest, match=r"^The event's payload must be a JSON object"):
        wire.client_object(["s1"], "The event's payload")
    with pytest.raises(InvalidRequest, match=r"^The event's payload holds text"):
        wire.client_object({"scan_id": "\udc00"}, "The event's payload")


# -- answers -----------------------------------------------------------------------------


def test_json_answers_are_compact_utf8() -> None:
    """JSON answers keep non-ASCII text as UTF-8 and carry the given status and headers."""
    reply = wire.json_reply({"name": "ü", "n": [1, 2]}, 201, {"X-One": "1"})
    assert (reply.status, reply.content_type) == (201, "application/json")
    assert reply.body == '{"name":"ü","n":[1,2]}'.encode()
    assert dict(reply.headers) == {"X-One": "1"}


@pytest.mark.parametrize(
    ("export_format", "content_type", "suffix"),
    [
        ("csv", "text/csv; charset=utf-8", "csv"),
        ("json", "application/json", "json"),
        (None, "application/json", "json"),
        ("", "application/json", "json"),
    ],
)
def test_an_export_is_a_named_download(
    export_format: str | None, content_type: str, suffix: str
) -> None:
    """CSV or JSON (the default), as an attachment named after the scan."""
    reply = wire.export_reply(SCAN, [TASK], export_format)
    assert (reply.status, reply.content_type) == (200, content_type)
    assert reply.headers["Content-Disposition"] == f'attachment; filename="scan-s1.{suffix}"'
    expected = export_csv([TASK]) if suffix == "csv" else export_json(SCAN, [TASK])
    assert reply.body == expected.encode("utf-8")


@pytest.mark.parametrize("export_format", ["xml", "CSV", "csv ", "json,csv"])
def test_an_export_in_another_format_is_invalid_request(export_format: str) -> None:
    """Only ``csv`` and ``json`` are formats."""
    with pytest.raises(InvalidRequest, match="'format' must be 'csv' or 'json'"):
        wire.export_reply(SCAN, [TASK], export_format)


def test_the_openapi_document_describes_the_contract() -> None:
    """OpenAPI 3.1, this version, the contract's error codes, JSON through and through."""
    document = wire.openapi_document()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["properties"]["code"]["enum"] == list(ERRORS_BY_CODE)
    assert {"/api/health", "/api/openapi.json", "/api/scans/{scan_id}/export"} <= set(
        document["paths"]
    )
    assert json.loads(json.dumps(document)) == document


def test_the_openapi_document_is_valid() -> None:
    """The document passes an OpenAPI 3.1 validator."""
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(wire.openapi_document())


def test_each_openapi_document_is_the_callers_own() -> None:
    """Changing a returned document changes no other caller's."""
    first = wire.openapi_document()
    first["paths"]["/api/scans"]["get"]["summary"] = "changed"
    first["components"]["schemas"].clear()
    second = wire.openapi_document()
    assert second["paths"]["/api/scans"]["get"]["summary"] != "changed"
    assert "Error" in second["components"]["schemas"]


# -- live connections --------------------------------------------------------------------


def caller(expires: datetime | None) -> Principal:
    return Principal("u1", "alice", Role.WORKER, "tok", expires)


def test_a_live_connection_ends_when_its_token_stops_being_accepted() -> None:
    """Seconds left = the token's expiry plus the leeway, minus now; never negative."""
    leeway = timedelta(seconds=5)
    assert wire.token_seconds_left(caller(at(60)), leeway, now=T0) == 65.0
    assert wire.token_seconds_left(caller(at(60)), leeway, now=at(63)) == 2.0
    assert wire.token_seconds_left(caller(at(60)), leeway, now=at(600)) == 0.0
    assert wire.token_seconds_left(caller(None), leeway, now=T0) is None


# -- framework-free ----------------------------------------------------------------------


def test_wire_imports_no_web_framework() -> None:
    """Importing ``taskstream_core.wire`` loads no web framework or Socket.IO library."""
    frameworks = ("sanic", "aiohttp", "socketio", "engineio", "starlette", "uvicorn")
    probe = (
        f"import sys, taskstream_core.wire; print([m for m in {frameworks!r} if m in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]", found.stderr
