"""Fuzzing what CONTRACT.md §2 reads from the URL and the headers: query parameters, ids in
paths, and the bearer token.

Query and path values are percent-encoded by hand from their UTF-8 bytes,
lone surrogates included, so the server also meets escapes that decode to
invalid UTF-8. Tokens range from junk to JWTs signed with the server's real
secret whose claims are of any type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support import TEST_JWT_SECRET

from .budget import FUZZ, counted
from .served import Site
from .strategies import MISSING, field, json_values, long_text, odd_text
from .verdicts import reply_error

NUMBERS = st.sampled_from(
    [
        *("1", "500", "501", "0", "-1", "1.5", "1e308", "NaN", "-Infinity"),
        *("99999999999999999999", "0x10", "١٢", "²", " 7 ", "+5", "--5", "9" * 400),
    ]
)
QUERY_TEXT = st.one_of(odd_text(), long_text(), NUMBERS)
#: Cursors of the server's own form (``c<seq>``, base64url) holding what no seq can be:
#: past SQLite's and MongoDB's 64-bit integers, negative, signed, not digits.
FORGED_CURSORS = st.sampled_from(
    ["9" * 19, "9" * 28, str(2**63 - 1), str(2**63), str(2**64), "-1", "+1", "0", "١٢", " 7"]
).map(lambda seq: base64.urlsafe_b64encode(f"c{seq}".encode()).decode().rstrip("="))


def _quoted(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


#: uvicorn's HTTP parser refuses a request line past 64 KiB before the app sees it (a plain-text
#: 400 the contract does not cover, like any other malformed HTTP); the cases stay below it.
MAX_URL = 60_000
#: The same for a header line (8 KiB is also what common proxies allow).
MAX_HEADER = 8_000


def _query(pairs: list[tuple[str, str]]) -> str:
    query = "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in pairs)
    assume(len(query) < MAX_URL)
    return query


def _params(**fields: Any) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query pairs: each named parameter maybe missing, maybe repeated, plus unknown ones."""

    def assemble(
        values: dict[str, list[str]], extra: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return [(k, v) for k, vs in values.items() for v in vs] + extra

    return st.builds(
        assemble,
        st.fixed_dictionaries({k: st.lists(s, max_size=2) for k, s in fields.items()}),
        st.lists(st.tuples(odd_text(), QUERY_TEXT), max_size=2),
    )


def test_list_tasks_query(site: Site) -> None:
    """GET /api/scans/{id}/tasks `?status=&limit=&cursor=` → 200 `{tasks, next_cursor}`."""
    for _ in range(3):
        site.new_task()
    first = site.http.get(
        site.url(f"/api/scans/{site.open_scan}/tasks?limit=1"), headers=site.auth(site.admin)
    )
    cursor = first.json()["next_cursor"]
    assert isinstance(cursor, str)

    @FUZZ
    @given(
        pairs=_params(
            status=st.sampled_from(["pending", "validated", "refused", ""]) | QUERY_TEXT,
            limit=NUMBERS | QUERY_TEXT,
            cursor=st.just(cursor) | FORGED_CURSORS | QUERY_TEXT,
        ),
        who=st.sampled_from(["admin", "worker", "worker2"]),
    )
    def case(pairs: list[tuple[str, str]], who: str) -> None:
        account = {"admin": site.admin, "worker": site.worker}.get(who, site.worker2)
        path = f"/api/scans/{site.open_scan}/tasks?{_query(pairs)}"
        counted("http GET /api/scans/{id}/tasks ?query")
        reply = site.http.get(site.url(path), headers=site.auth(account), timeout=30)
        if reply_error(reply, frozenset({200})) is None:
            body = reply.json()
            assert set(body) == {"tasks", "next_cursor"}
            assert all(t["worker_id"] == account.id for t in body["tasks"]) or who == "admin"

    case()


def test_export_query(site: Site) -> None:
    """GET /api/scans/{id}/export `?format=csv|json` → 200, an attachment."""

    @FUZZ
    @given(
        pairs=_params(format=st.sampled_from(["csv", "json", "CSV", "xml"]) | QUERY_TEXT),
        who=st.sampled_from(["admin", "admin", "worker"]),
    )
    def case(pairs: list[tuple[str, str]], who: str) -> None:
        account = site.admin if who == "admin" else site.worker
        path = f"/api/scans/{site.closed_scan}/export?{_query(pairs)}"
        counted("http GET /api/scans/{id}/export ?query")
        reply = site.http.get(site.url(path), headers=site.auth(account), timeout=30)
        if reply_error(reply, frozenset({200})) is None:
            assert reply.headers["Content-Disposition"].startswith("attachment")

    case()


#: Every route with an id in its path: (method, path with ``{}`` for the id, a body).
ID_ROUTES = [
    ("GET", "/api/scans/{}", None),
    ("POST", "/api/scans/{}/close", None),
    ("POST", "/api/scans/{}/tasks", {"content": "x"}),
    ("GET", "/api/scans/{}/tasks", None),
    ("GET", "/api/scans/{}/stats", None),
    ("GET", "/api/scans/{}/export", None),
    ("GET", "/api/tasks/{}", None),
    ("POST", "/api/tasks/{}/decision", {"decision": "refused"}),
    ("POST", "/api/tasks/{}/undo", None),
    ("GET", "/api/tasks/{}/history", None),
    ("POST", "/api/tasks/{}/claim", None),
    ("DELETE", "/api/tasks/{}/claim", None),
    ("POST", "/api/scans/{}/claims/next", {}),
    ("GET", "/api/scans/{}/presence", None),
]


def test_ids_in_paths(site: Site) -> None:
    """Every route with a scan or task id, given ids of any text and length."""
    scan = site.new_scan("ids")
    task = site.new_task(scan)
    ids = st.one_of(
        odd_text().filter(bool),
        long_text(),
        st.sampled_from([scan, task, scan.upper(), task + " ", "..", ".", "%2e%2e", "0" * 65]),
    )

    @FUZZ
    @given(
        route=st.sampled_from(ID_ROUTES),
        value=ids,
        who=st.sampled_from(["admin", "worker"]),
    )
    def case(route: tuple[str, str, Any], value: str, who: str) -> None:
        method, template, body = route
        account = site.admin if who == "admin" else site.worker
        path = template.format(_quoted(value))
        assume(len(path) < MAX_URL)
        counted(f"http ids in paths ({len(ID_ROUTES)} routes)")
        reply = site.http.request(
            method, site.url(path), json=body, headers=site.auth(account), timeout=30
        )
        reply_error(reply, frozenset({200, 201, 204}))

    case()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(claims: dict[str, Any]) -> str:
    """A JWT the server's own secret signed, whatever its claims hold."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64(json.dumps(claims, allow_nan=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(TEST_JWT_SECRET.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


CLAIMS = st.fixed_dictionaries(
    {
        "sub": field(st.just("no-such-user") | odd_text()),
        "role": field(st.sampled_from(["admin", "worker"])),
        "iat": field(st.just(1_700_000_000)),
        "exp": field(st.just(4_000_000_000) | st.sampled_from([1e308, 2**64, -1])),
        "jti": field(odd_text()),
        "iss": field(st.just("taskstream")),
    }
).map(lambda claims: {k: v for k, v in claims.items() if v is not MISSING})

TOKENS = st.one_of(
    odd_text(),
    long_text(),
    CLAIMS.map(_signed),
    st.dictionaries(odd_text(), json_values(), max_size=4).map(_signed),
    st.tuples(json_values(), json_values()).map(
        lambda hp: f"{_b64(json.dumps(hp[0]).encode())}.{_b64(json.dumps(hp[1]).encode())}."
    ),
)

#: Every route that needs a user, with a body where it takes one.
USER_ROUTES = [
    ("GET", "/api/auth/me", None),
    ("POST", "/api/auth/logout", None),
    ("POST", "/api/scans", {"name": "n"}),
    ("GET", "/api/scans", None),
    *ID_ROUTES,
]


def _header_value(text: str) -> str:
    """What an HTTP header can carry of ``text``: Latin-1 without control characters, trimmed.
    (A control character is malformed HTTP, refused by uvicorn's parser before the app.)"""
    value = text.encode("latin-1", "replace").decode("latin-1")
    return "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in value).strip()


def test_bearer_tokens(site: Site) -> None:
    """Every route that needs a user refuses a token that is not one: 401 `unauthorized`."""

    @FUZZ
    @given(
        route=st.sampled_from(USER_ROUTES),
        token=TOKENS,
        scheme=st.sampled_from(["Bearer ", "bearer ", "Bearer  ", "Basic ", "", "Token "]),
    )
    def case(route: tuple[str, str, Any], token: str, scheme: str) -> None:
        method, template, body = route
        headers = {"Authorization": _header_value(scheme + token)}
        assume(len(headers["Authorization"]) < MAX_HEADER)
        counted(f"http bearer tokens ({len(USER_ROUTES)} routes)")
        path = template.format(site.open_scan)
        reply = site.http.request(method, site.url(path), json=body, headers=headers, timeout=30)
        assert reply_error(reply, frozenset()) == "unauthorized"

    case()
