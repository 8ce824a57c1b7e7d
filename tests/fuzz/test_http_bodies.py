"""Fuzzing every request body of CONTRACT.md §2 and §4 against one real server.

Each target sends bodies built by :mod:`tests.fuzz.strategies` (odd types,
numbers out of range, overlong and invalid text, deep nesting, missing and
unknown fields, malformed JSON, wrong content types) and holds the server to
the contract: never a 5xx, every error the contract's body with a contract
code and its status, and a refused request changes nothing.
"""

from __future__ import annotations

import json
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


def _sent(body: bytes) -> Any:
    """The JSON object a body held as the server read it (a case it accepted was one)."""
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


def test_decide_task(site: Site) -> None:
    """POST /api/tasks/{id}/decision: `{decision, reason?, override?}` → 200; a refused
    decision leaves the task pending, an accepted one leaves exactly that decision, and a task
    another admin holds is decided only with `"override": true`."""
    objects = body_object(
        {
            "decision": field(st.sampled_from(["validated", "refused"])),
            "reason": field(TEXT),
            "override": field(st.booleans()),
        }
    )
    scan = site.new_scan("decisions")
    rival = site.register_admin("fuzz-rival-http-decide")

    @FUZZ
    @given(
        body=json_body(objects, ("decision", "reason", "override")),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["admin", "admin", "worker", "nobody"]),
        held=st.booleans(),
    )
    def case(body: bytes, content_type: str | None, who: str, held: bool) -> None:
        counted("http POST /api/tasks/{id}/decision")
        task = site.new_task(scan)
        if held:
            site.claim(task, rival)
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        reply = post(site, f"/api/tasks/{task}/decision", body, content_type, account)
        code = reply_error(reply, frozenset({200}))
        status = site.task_status(task)
        if code is None:
            assert who == "admin"
            assert status == reply.json()["task"]["status"] != "pending"
            assert not held or _sent(body).get("override") is True, "decided through a claim"
        else:
            assert status == "pending", code
            if "claim" in reply.json()["error"]:
                assert held
                assert reply.json()["error"]["claim"]["admin_id"] == rival.id

    case()


def test_claim_next(site: Site) -> None:
    """POST /api/scans/{id}/claims/next: `{after_task_id?}` (the body optional) → 200
    `{task, claim}`: a pending task of that scan, now the caller's, or both null."""
    scan = site.new_scan("claims/next")
    other = site.new_task()  # of another scan: refused as after_task_id
    objects = body_object({"after_task_id": field(st.sampled_from(["fresh", other]) | TEXT)})

    @FUZZ
    @given(
        body=json_body(objects, ("after_task_id",)),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["admin", "admin", "worker", "nobody"]),
    )
    def case(body: bytes, content_type: str | None, who: str) -> None:
        counted("http POST /api/scans/{id}/claims/next")
        task = site.new_task(scan)
        body = body.replace(b'"fresh"', f'"{task}"'.encode())
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        reply = post(site, f"/api/scans/{scan}/claims/next", body, content_type, account)
        if reply_error(reply, frozenset({200})) is None:
            assert who == "admin"
            answer = reply.json()
            assert answer.keys() == {"task", "claim"}
            if answer["task"] is None:
                assert answer["claim"] is None
            else:
                assert answer["task"]["scan_id"] == scan
                assert answer["task"]["status"] == "pending"
                assert answer["claim"]["task_id"] == answer["task"]["id"]
                assert answer["claim"]["admin_id"] == site.admin.id

    case()


#: CONTRACT.md §2: request bodies over 64 KiB answer 413.
MAX_BODY = 64 * 1024
#: The §4 routes that read no body: whatever body comes, the answer is the route's own.
BODYLESS = [
    ("POST", "/api/tasks/{}/undo", 200),
    ("POST", "/api/tasks/{}/claim", 200),
    ("DELETE", "/api/tasks/{}/claim", 204),
]


def test_routes_without_a_body(site: Site) -> None:
    """POST /api/tasks/{id}/undo, POST and DELETE /api/tasks/{id}/claim, sent any body: a
    contract answer, the same as without it."""
    scan = site.new_scan("bodyless")
    objects = body_object({"task_id": field(TEXT), "override": field(st.booleans())})

    @FUZZ
    @given(
        route=st.sampled_from(BODYLESS),
        body=json_body(objects, ("task_id",)),
        content_type=CONTENT_TYPES,
        who=st.sampled_from(["admin", "admin", "worker", "nobody"]),
    )
    def case(route: tuple[str, str, int], body: bytes, content_type: str | None, who: str) -> None:
        method, template, ok = route
        counted("http §4 routes without a body (3 routes)")
        task = site.new_task(scan)
        site.decide(task, "refused")  # the admin may undo it; claiming it is already_decided
        account = {"admin": site.admin, "worker": site.worker}.get(who)
        headers = site.auth(account)
        if content_type is not None:
            headers["Content-Type"] = content_type
        url = site.url(template.format(task))
        reply = site.http.request(method, url, data=body, headers=headers, timeout=30)
        code = reply_error(reply, frozenset({ok}))
        if code == "payload_too_large":
            assert len(body) > MAX_BODY
            return
        expected = {"admin": None, "worker": "forbidden", "nobody": "unauthorized"}[who]
        if template.endswith("/claim") and method == "POST" and who == "admin":
            expected = "already_decided"
        assert code == expected

    case()


def test_nesting_just_under_the_parsers_depth_is_invalid_request(site: Site) -> None:
    """Regression: a body nested 850–990 levels deep parsed, then overflowed the stack in
    the Unicode check after it, answering 500 `internal`; it is 400 `invalid_request`."""
    for depth in (850, 900, 950, 974, 990):
        for inner in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            body = ('{"username":' + inner + "}").encode()
            reply = post(site, "/api/auth/login", body, "application/json", None)
            assert reply_error(reply, frozenset()) == "invalid_request", depth
