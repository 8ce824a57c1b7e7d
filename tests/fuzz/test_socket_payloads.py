"""Fuzzing every Socket.IO client event of CONTRACT.md §3 and §4, and the connect auth payload.

Payloads go through the raw wire client, written as python-socketio's client
writes them (compact JSON, NaN and Infinity as raw JSON text), or as raw
packet text for what that client cannot send.
Every case must be acked with ``{"ok": true, ...}`` or a contract error, and
the socket must stay connected: the contract drops a socket only on logout,
token expiry or lag, never for a bad payload.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from taskstream_server.socket_packets import RESERVED_NAMES
from tests.support import SocketDriver, WireSocket

from .budget import FUZZ, counted
from .served import Site
from .strategies import body_object, field, json_values, long_text, odd_text, raw_json_text
from .verdicts import CLAIM_FIELDS, ack_error

EVENTS = (
    "scan:join",
    "scan:leave",
    "task:submit",
    "task:decide",
    "task:undo",
    "task:claim",
    "task:release",
    "task:claim_next",
)
#: Names Socket.IO keeps for itself, as the server's decoder lists them: a client event so
#: named is acked like an unknown event and never reaches the connection handlers.
RESERVED = sorted(RESERVED_NAMES)
TEXT = st.one_of(odd_text(), long_text(), st.text(min_size=1, max_size=40))
SEQS = st.one_of(
    st.integers(-5, 50),
    st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63), 10**30, 1e308, float("nan"), 0.5]),
    st.sampled_from(["0", "7", "-1", "1e3", "", "NaN"]),
)


def _payloads(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Mostly objects with the event's fields, sometimes any other JSON value at all."""
    objects = body_object(fields)
    return st.one_of(objects, objects, objects, json_values())


def _scan_ids(site: Site) -> st.SearchStrategy[Any]:
    # Ids shaped like another scan's room name must reach nothing of that scan.
    aliases = [f"{site.open_scan}:all-tasks", f"{site.open_scan}:worker:{site.worker.id}"]
    known = [site.open_scan, site.closed_scan, "no-such-scan", *aliases]
    return field(st.sampled_from(known) | TEXT)


#: engine.io closes a connection whose message passes its buffer size (the server sets 64 KiB,
#: like the HTTP body limit); the contract has no error for it, so the cases stay below.
MAX_PACKET = 60_000


def _fits(event: str, payload: Any, target: str) -> None:
    """Skip a case too large to send; count the others as run."""
    assume(len(json.dumps([event, payload])) < MAX_PACKET)
    counted(target)


def _checked(sockets: SocketDriver, socket: WireSocket, event: str, ack: Any) -> str | None:
    code = ack_error(ack, event)
    assert socket.connected, f"{event}: a bad payload dropped the socket"
    return code


def test_join_and_resume(site: Site, sockets: SocketDriver) -> None:
    """`scan:join` `{scan_id, since_seq?}` → `{ok, scan, seq, tasks}` or `{..., events}`."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)

    @FUZZ
    @given(
        payload=_payloads({"scan_id": _scan_ids(site), "since_seq": field(SEQS)}),
        as_admin=st.booleans(),
    )
    def case(payload: Any, as_admin: bool) -> None:
        socket = admin if as_admin else worker
        _fits("scan:join", payload, "socket scan:join (since_seq: resume)")
        ack = sockets.call(socket, "scan:join", payload)
        if _checked(sockets, socket, "scan:join", ack) is None:
            assert {"scan", "seq"} <= ack.keys()
            assert ("tasks" in ack) != ("events" in ack)

    case()


def test_leave(site: Site, sockets: SocketDriver) -> None:
    """`scan:leave` `{scan_id}` → `{ok}`."""
    worker = sockets.connect(site.worker.token)

    @FUZZ
    @given(payload=_payloads({"scan_id": _scan_ids(site)}))
    def case(payload: Any) -> None:
        _fits("scan:leave", payload, "socket scan:leave")
        ack = sockets.call(worker, "scan:leave", payload)
        if _checked(sockets, worker, "scan:leave", ack) is None:
            assert ack == {"ok": True}

    case()


def test_submit(site: Site, sockets: SocketDriver) -> None:
    """`task:submit` `{scan_id, content, idempotency_key?}` → `{ok, task}`; a refused or
    replayed submit adds no task."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    keys = st.sampled_from(["s1", "s2"]) | odd_text() | long_text()

    @FUZZ
    @given(
        payload=_payloads(
            {"scan_id": _scan_ids(site), "content": field(TEXT), "idempotency_key": field(keys)}
        ),
        as_admin=st.sampled_from([False, False, False, True]),
    )
    def case(payload: Any, as_admin: bool) -> None:
        socket = admin if as_admin else worker
        before = site.scan_total(site.open_scan)
        _fits("task:submit", payload, "socket task:submit")
        ack = sockets.call(socket, "task:submit", payload)
        code = _checked(sockets, socket, "task:submit", ack)
        after = site.scan_total(site.open_scan)
        if code is not None:
            assert after == before, code
        else:
            assert not as_admin
            assert ack["task"]["scan_id"] == site.open_scan
            assert after - before in (0, 1)  # 0: an idempotency_key replayed

    case()


def test_decide(site: Site, sockets: SocketDriver) -> None:
    """`task:decide` `{task_id, decision, reason?}` → `{ok, task}`; a refused decision leaves
    the task pending."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    scan = site.new_scan("socket decisions")

    rival = site.register_admin("fuzz-rival-decide")

    @FUZZ
    @given(
        payload=_payloads(
            {
                "task_id": field(st.just("fresh") | TEXT),
                "decision": field(st.sampled_from(["validated", "refused"])),
                "reason": field(TEXT),
                "override": field(st.booleans()),
            }
        ),
        as_admin=st.sampled_from([True, True, True, False]),
        held=st.booleans(),
    )
    def case(payload: Any, as_admin: bool, held: bool) -> None:
        task = site.new_task(scan)
        if held:
            site.claim(task, rival)
        if isinstance(payload, dict) and payload.get("task_id") == "fresh":
            payload["task_id"] = task
        socket = admin if as_admin else worker
        _fits("task:decide", payload, "socket task:decide")
        ack = sockets.call(socket, "task:decide", payload)
        code = _checked(sockets, socket, "task:decide", ack)
        status = site.task_status(task)
        if code is None:
            assert as_admin
            assert status == ack["task"]["status"] != "pending"
            assert not held or payload.get("override") is True, "decided through a rival's claim"
        else:
            assert status == "pending", code
            if code == "conflict" and "claim" in ack["error"]:
                assert ack["error"]["claim"]["admin_id"] == rival.id

    case()


def _fresh(payload: Any, task: str) -> None:
    """Put ``task`` where the payload asks for the case's own task."""
    if isinstance(payload, dict) and payload.get("task_id") == "fresh":
        payload["task_id"] = task


def test_undo(site: Site, sockets: SocketDriver) -> None:
    """`task:undo` `{task_id}` → `{ok, task}`: the deciding admin's task is pending again; a
    refused undo leaves the decision standing."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    scan = site.new_scan("socket undos")

    @FUZZ
    @given(
        payload=_payloads({"task_id": field(st.just("fresh") | TEXT)}),
        as_admin=st.sampled_from([True, True, True, False]),
        decided=st.sampled_from([True, True, False]),
    )
    def case(payload: Any, as_admin: bool, decided: bool) -> None:
        task = site.new_task(scan)
        if decided:
            site.decide(task, "refused")
        _fresh(payload, task)
        socket = admin if as_admin else worker
        _fits("task:undo", payload, "socket task:undo")
        ack = sockets.call(socket, "task:undo", payload)
        code = _checked(sockets, socket, "task:undo", ack)
        status = site.task_status(task)
        if code is None:
            assert as_admin
            assert decided
            assert ack["task"]["id"] == task
            assert status == ack["task"]["status"] == "pending"
        else:
            assert status == ("refused" if decided else "pending"), code

    case()


def test_claim(site: Site, sockets: SocketDriver) -> None:
    """`task:claim` `{task_id}` → `{ok, claim}`; held by another admin → `conflict` with
    `error.claim`; not pending → `already_decided`."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    rival = site.register_admin("fuzz-rival-claim")
    scan = site.new_scan("socket claims")

    @FUZZ
    @given(
        payload=_payloads({"task_id": field(st.just("fresh") | TEXT)}),
        as_admin=st.sampled_from([True, True, True, False]),
        state=st.sampled_from(["pending", "pending", "held", "decided"]),
    )
    def case(payload: Any, as_admin: bool, state: str) -> None:
        task = site.new_task(scan)
        if state == "held":
            site.claim(task, rival)
        elif state == "decided":
            site.decide(task)
        _fresh(payload, task)
        socket = admin if as_admin else worker
        _fits("task:claim", payload, "socket task:claim")
        ack = sockets.call(socket, "task:claim", payload)
        code = _checked(sockets, socket, "task:claim", ack)
        if code is None:
            assert as_admin
            assert state == "pending"
            assert ack["claim"].keys() == CLAIM_FIELDS
            assert ack["claim"]["task_id"] == task
            assert ack["claim"]["admin_id"] == site.admin.id
        elif code == "conflict" and isinstance(payload, dict) and payload.get("task_id") == task:
            assert state == "held"
            assert ack["error"]["claim"]["admin_id"] == rival.id
        elif code == "already_decided":
            assert state == "decided"

    case()


def test_release(site: Site, sockets: SocketDriver) -> None:
    """`task:release` `{task_id}` → `{ok}`: a no-op unless the caller holds the task."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    scan = site.new_scan("socket releases")

    @FUZZ
    @given(
        payload=_payloads({"task_id": field(st.just("fresh") | TEXT)}),
        as_admin=st.sampled_from([True, True, True, False]),
        held=st.booleans(),
    )
    def case(payload: Any, as_admin: bool, held: bool) -> None:
        task = site.new_task(scan)
        if held:
            site.claim(task, site.admin)
        _fresh(payload, task)
        socket = admin if as_admin else worker
        _fits("task:release", payload, "socket task:release")
        ack = sockets.call(socket, "task:release", payload)
        if _checked(sockets, socket, "task:release", ack) is None:
            assert as_admin
            assert ack == {"ok": True}

    case()


def test_claim_next(site: Site, sockets: SocketDriver) -> None:
    """`task:claim_next` `{scan_id, after_task_id?}` → `{ok, task, claim}`: a pending task of
    that scan, now the caller's, or `{task: null, claim: null}`."""
    admin, worker = sockets.connect(site.admin.token), sockets.connect(site.worker.token)
    scan = site.new_scan("socket claim_next")
    other = site.new_task()  # a task of another scan: after_task_id must be of this one
    known = [scan, site.open_scan, site.closed_scan, "no-such-scan"]

    @FUZZ
    @given(
        payload=_payloads(
            {
                "scan_id": field(st.sampled_from(known) | TEXT),
                "after_task_id": field(st.sampled_from(["fresh", other]) | TEXT),
            }
        ),
        as_admin=st.sampled_from([True, True, True, False]),
    )
    def case(payload: Any, as_admin: bool) -> None:
        task = site.new_task(scan)
        if isinstance(payload, dict) and payload.get("after_task_id") == "fresh":
            payload["after_task_id"] = task
        socket = admin if as_admin else worker
        _fits("task:claim_next", payload, "socket task:claim_next")
        ack = sockets.call(socket, "task:claim_next", payload)
        if _checked(sockets, socket, "task:claim_next", ack) is None:
            assert as_admin
            assert ack.keys() == {"ok", "task", "claim"}
            if ack["task"] is None:
                assert ack["claim"] is None
            else:
                assert ack["task"]["status"] == "pending"
                assert ack["task"]["scan_id"] == payload["scan_id"]
                assert ack["claim"]["task_id"] == ack["task"]["id"]
                assert ack["claim"]["admin_id"] == site.admin.id

    case()


def _packet(name: Any, args: list[str]) -> str:
    return "[" + ",".join([json.dumps(name), *args]) + "]"


def test_raw_event_packets(site: Site, sockets: SocketDriver) -> None:
    """Event packets python-socketio's client would never write: malformed JSON, numbers past
    the parser's limits, nesting past its depth, names that are not strings, unknown events,
    several arguments; each is acked (`invalid_request` when unreadable)."""
    worker = sockets.connect(site.worker.token)
    keys = ("scan_id", "content", "task_id", "since_seq")
    objects = body_object({k: field(TEXT) for k in keys})
    packets = st.one_of(
        st.builds(
            _packet,
            st.sampled_from(EVENTS) | st.sampled_from(RESERVED) | odd_text() | json_values(),
            st.lists(raw_json_text(objects, keys), max_size=3),
        ),
        raw_json_text(objects, keys),
        odd_text(),
    )

    @FUZZ
    @given(packet=packets)
    def case(packet: str) -> None:
        text = packet.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if text[:1].isdigit() or text[:1] in "-/":
            # Read as part of the ack id, as an attachment count or as a namespace.
            text = " " + text
        assume(len(text.encode()) < MAX_PACKET)  # engine.io's limit counts bytes
        counted("socket raw event packets")
        ack = sockets.call_raw(worker, text)
        _checked(sockets, worker, "raw packet", ack)

    case()


def test_connect_auth(site: Site, sockets: SocketDriver) -> None:
    """Connect's auth payload `{"token": "<token>"}`: anything but a valid token is refused
    with `connect_error` data `{"code": "unauthorized"}`."""
    token = site.worker.token
    auths = st.one_of(
        json_values(),
        st.fixed_dictionaries({"token": st.one_of(TEXT, json_values(), st.just(token))}),
        st.fixed_dictionaries({"token": st.just(token + "x") | st.just(token[:-2])}),
    )

    @FUZZ
    @given(auth=auths)
    def case(auth: Any) -> None:
        _fits("connect", auth, "socket connect auth")
        refused, data = sockets.refused(auth)
        if not refused:
            assert auth == {"token": token}
        else:
            assert isinstance(data, dict), data
            assert data.get("code") == "unauthorized", data

    case()


@pytest.mark.parametrize(
    "packet",
    [
        '["task:submit",{"scan_id":"x","content":',  # truncated
        '["task:submit",{"content":1' + "0" * 100 + "}]",  # past engine.io's 100 digits
        '["task:submit",' + "[" * 5000 + "]" * 5000 + "]",  # past the parser's depth
        '["task:submit",{"content":' + "[" * 950 + "]" * 950 + "}]",  # under it
        "[]",
        "[1]",
        '{"event":"task:submit"}',
        '"task:submit"',
    ],
    ids=[
        "truncated",
        "101-digits",
        "deep",
        "nearly-deep",
        "empty",
        "number-name",
        "object",
        "string",
    ],
)
def test_unreadable_event_packets_are_acked_invalid_request(
    site: Site, sockets: SocketDriver, packet: str
) -> None:
    """Regression: these packets got no ack at all (python-socketio dropped them after logging
    an error, or a non-string name answered `internal`); each is acked `invalid_request`."""
    worker = sockets.connect(site.worker.token)
    ack = sockets.call_raw(worker, packet)
    assert _checked(sockets, worker, "raw packet", ack) == "invalid_request"


@pytest.mark.parametrize("auth", [1.5, {"token": 10**101}], ids=["number", "101-digits"])
def test_unreadable_connect_auth_is_refused_unauthorized(sockets: SocketDriver, auth: Any) -> None:
    """Regression: auth the server could not parse (python-socketio's client writes 1.5 as the
    packet ``01.5``, read as ack id 1 and the JSON ``.5``) left the connect unanswered until the
    client gave up; it is refused with `{"code": "unauthorized"}` like any other bad auth."""
    refused, data = sockets.refused(auth)
    assert refused
    assert data["code"] == "unauthorized"
