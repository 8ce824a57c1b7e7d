"""Fuzzing every request body of CONTRACT.md §2 against one real server.

Each target sends bodies built by :mod:`tests.fuzz.strategies` (odd types,
numbers out of range, overlong and invalid text, deep nesting, missing and
unknown fields, malformed JSON, wrong content types) and holds the server to
the contract: never a 5xx, every error the contract's body with a contract
code and its status, and a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.support import TEST_INVITE_CODE, Account

from .budget import FUZZ, counted
from .served import PASSWORD, Site
from .strategies import CONTENT_TYPES, body_object, field, json_body, long_text, odd_text
from .verdicts import reply_error

USERNAMES = st.from_regex(r"[A-Za-z0-9_.\-]{3,32}", fullmatch=True)
TEXT = st.one_of(odd_text(), long_text(), st.text(min_size=1, max_size=40))


def post(site: Site, path: str, body: bytes, content_type: str | None, who: Account | None) -> Any:
    headers = site.auth(who)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return site.http.post(site.url(path), data=body, headers=headers, timeout=30)


def test_register(site: Site) -> None:
    """POST /api/auth/register: `{username, password, role?, invite_code?}` → 201."""
    objects = body_object(
        {
            "username": field(USERNAMES),
            "password": field(st.text(min_size=8, max_size=20)),
            "role": field(st.sampled_from(["admin", "worker"])),
            "invite_code": field(st.just(TEST_INVITE_CODE) | odd_text()),
        }
    )

    @FUZZ
    @given(body=json_body(objects, ("username", "password", "role")), content_type=CONTENT_TYPES)
    def case(body: bytes, content_type: str | None) -> None:
        counted("http POST /api/auth/register")
        reply = post(site, "/api/auth/register", body, content_type, None)
        if reply_error(reply, frozenset({201})) is None:
            assert set(reply.json()) == {"token", "user"}

    case()


def test_login(site: Site) -> None:
    """POST /api/auth/login: `{username, password}` → 200 `{token, user}`.

    Usernames come mostly from two names, so the throttle locks them after
    five failures and most cases skip the deliberately slow password hash.
    """
    objects = body_object(
        {
            # Names no account can have (too long, other characters) record no failure.
            "username": field(st.sampled_from(["fuzz-worker-2", "fuzz-nobody"]) | long_text()),
            "password": field(st.sampled_from([PASSWORD, "not-the-password"])),
        }
    )

    @FUZZ
    @given(body=json_body(objects, ("username", "password")), content_type=CONTENT_TYPES)
    def case(body: bytes, content_type: str | None) -> None:
        counted("http POST /api/auth/login")
        reply = post(site, "/api/auth/login", body, content_type, None)
        if reply_error(reply, frozenset({200})) is None:
            assert reply.json()["user"]["username"] == "fuzz-worker-2"

    case()


def _scan_count(site: Site) -> int:
    reply = site.http.get(site.url("/api/scans"), headers=site.auth(site.admin))
    assert reply.status_code == 200, reply.text
    return len(reply.json()["scans"])


def test_create_scan(site: Site) -> None:
    """POST /api/scans: `{name, description?}` → 201; only the 201s made a scan."""
    objects = body_object({"name": field(TEXT), "description": field(TEXT)})
    before = _scan_count(site)
    created: list[str] = []

    @FUZZ
    @given(
        body=json_body(objects, ("name", "description")),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["admin", "admin", "worker", "nobody"]),
    )
    def case(body: bytes, content_type: str | None, who: str) -> None:
        counted("http POST /api/scans")
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        reply = post(site, "/api/scans", body, content_type, account)
        if reply_error(reply, frozenset({201})) is None:
            assert who == "admin"
            created.append(reply.json()["scan"]["id"])

    case()
    assert _scan_count(site) == before + len(created)


def test_submit_task(site: Site) -> None:
    """POST /api/scans/{id}/tasks: `{content, idempotency_key?}` → 201 (200 on a replay);
    a refused or replayed submit adds no task."""
    objects = body_object(
        {
            "content": field(TEXT),
            "idempotency_key": field(st.sampled_from(["k1", "k2"]) | odd_text() | long_text()),
        }
    )

    @FUZZ
    @given(
        body=json_body(objects, ("content", "idempotency_key")),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["worker", "worker", "admin", "nobody"]),
        where=st.sampled_from(["open", "open", "closed", "unknown"]),
    )
    def case(body: bytes, content_type: str | None, who: str, where: str) -> None:
        counted("http POST /api/scans/{id}/tasks")
        scan = {"open": site.open_scan, "closed": site.closed_scan}.get(where, "no-such-scan")
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        before = site.scan_total(site.open_scan)
        reply = post(site, f"/api/scans/{scan}/tasks", body, content_type, account)
        code = reply_error(reply, frozenset({200, 201}))
        created = reply.status_code == 201
        assert site.scan_total(site.open_scan) == before + int(created)
        if code is None:
            assert (who, where) == ("worker", "open")
        elif code == "scan_closed":
            assert where == "closed"

    case()


def test_decide_task(site: Site) -> None:
    """POST /api/tasks/{id}/decision: `{decision, reason?}` → 200; a refused decision leaves
    the task pending, an accepted one leaves exactly that decision."""
    objects = body_object(
        {
            "decision": field(st.sampled_from(["validated", "refused"])),
            "reason": field(TEXT),
        }
    )
    scan = site.new_scan("decisions")

    @FUZZ
    @given(
        body=json_body(objects, ("decision", "reason")),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["admin", "admin", "worker", "nobody"]),
    )
    def case(body: bytes, content_type: str | None, who: str) -> None:
        counted("http POST /api/tasks/{id}/decision")
        task = site.new_task(scan)
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        reply = post(site, f"/api/tasks/{task}/decision", body, content_type, account)
        code = reply_error(reply, frozenset({200}))
        stored = site.http.get(site.url(f"/api/tasks/{task}"), headers=site.auth(site.admin))
        status = stored.json()["task"]["status"]
        if code is None:
            assert who == "admin"
            assert status == reply.json()["task"]["status"] != "pending"
        else:
            assert status == "pending", code

    case()


def test_nesting_just_under_the_parsers_depth_is_invalid_request(site: Site) -> None:
    """Regression: a body nested 850–990 levels deep parsed, then overflowed the stack in
    the Unicode check after it, answering 500 `internal`; it is 400 `invalid_request`."""
    for depth in (850, 900, 950, 974, 990):
        for inner in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            body = ('{"username":' + inner + "}").encode()
            reply = post(site, "/api/auth/login", body, "application/json", None)
            assert reply_error(reply, frozenset()) == "invalid_request", depth
