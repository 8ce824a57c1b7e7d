"""Issue #6, Security 4 (login): the same answer and the same work for an unknown user and a
wrong password, and the contract's throttle for both.

CONTRACT.md §2: "Login failures answer 401 with the same message whether the user exists or
not. After 5 failures for one username within 15 minutes, further tries — even with the right
password — answer 429 `rate_limited`". Time is never asserted here: the unknown-user path is
checked to verify a password against a hash of the same cost, and the measured timings (printed
by ``python -m tests.security.login_timing``) are in docs/security.md.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from passlib.hash import pbkdf2_sha256

from taskstream_core import TokenIssuer
from taskstream_core._accounts import Accounts
from taskstream_core._passwords import PasswordHasher
from taskstream_core.errors import Unauthorized
from taskstream_core.stores.memory import MemoryStore
from tests.contract.helpers import PASSWORD, Users, assert_error, unique_name
from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET, Api, Reply, ServerProcess

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: Headers that differ between any two answers, whatever they say.
PER_ANSWER = {"date", "x-request-id", "content-length", "transfer-encoding"}


def answer(reply: Reply) -> tuple[int, str, dict[str, str]]:
    """What a caller can observe of an answer, minus what always differs."""
    headers = {k.lower(): v for k, v in reply.headers.items() if k.lower() not in PER_ANSWER}
    return reply.status, reply.text, headers


async def test_unknown_user_and_wrong_password_answer_byte_for_byte_alike(
    api: Api, users: Users
) -> None:
    """Status, code, message, body and headers are identical for a wrong password, an unknown
    username, and a username no account could have (so its format tells nothing either)."""
    wrong = await api.post(
        "/api/auth/login", {"username": users.admin2.username, "password": "not-it-at-all"}
    )
    unknown = await api.post(
        "/api/auth/login", {"username": unique_name("ghost"), "password": "not-it-at-all"}
    )
    impossible = await api.post("/api/auth/login", {"username": "x", "password": "not-it-at-all"})
    assert_error(wrong, 401, "unauthorized")
    assert answer(wrong) == answer(unknown) == answer(impossible)
    ok = await api.post(  # the shared admin's one failure (still counted) does not lock it
        "/api/auth/login", {"username": users.admin2.username, "password": PASSWORD}
    )
    assert ok.status == 200


@dataclass(frozen=True, slots=True)
class RecordingHasher(PasswordHasher):
    """The real hasher (every verify does the full PBKDF2 work), noting what it verified against."""

    verified: list[str] = field(default_factory=list)

    def verify(self, password: str, hashed: str) -> bool:
        self.verified.append(hashed)
        return PasswordHasher.verify(self, password, hashed)


async def test_an_unknown_user_costs_a_full_password_verification() -> None:
    """The unknown-user path verifies the password against a dummy hash made with the policy's
    own iteration count, exactly as the wrong-password path verifies against the stored hash:
    same work, so timing cannot tell the two apart (figures in docs/security.md)."""
    hasher = RecordingHasher(iterations=1_000, allow_weak=True)
    store = MemoryStore()
    await store.open()
    accounts = Accounts(
        store, TokenIssuer(TEST_JWT_SECRET), hasher=hasher, admin_invite_code=TEST_INVITE_CODE
    )
    await accounts.register("known-user", PASSWORD)
    failures = []
    for name in ("known-user", "unknown-user"):
        hasher.verified.clear()
        try:
            await accounts.login(name, "wrong password")
        except Unauthorized as exc:
            failures.append(exc.message)
        assert len(hasher.verified) == 1, f"{name}: {hasher.verified}"
        rounds = pbkdf2_sha256.from_string(hasher.verified[0]).rounds
        assert rounds == hasher.iterations, f"{name} verified against {rounds} rounds"
    assert len(failures) == 2
    assert failures[0] == failures[1]
    # Both failures are counted alike (the throttle below treats both usernames the same).
    for name in ("unknown-user", "known-user"):
        _, counted = await store.claim_login_attempt(name, EPOCH, since=EPOCH, limit=0)
        assert len(counted) == 1, name


async def test_the_throttle_locks_unknown_and_known_usernames_alike(api: Api) -> None:
    """After 5 failures, a known username (even with its right password) and an unknown one
    both answer 429 `rate_limited` with a `Retry-After` within the 15-minute window, in the
    same words: the lock does not reveal which usernames exist. Other usernames stay open."""
    known, unknown = unique_name("lock-known"), unique_name("lock-ghost")
    registered = await api.post("/api/auth/register", {"username": known, "password": PASSWORD})
    assert registered.status == 201, registered.text
    for name in (known, unknown):
        failures = await asyncio.gather(
            *(
                api.post("/api/auth/login", {"username": name, "password": f"wrong-{i}"})
                for i in range(5)
            )
        )
        assert [r.status for r in failures] == [401] * 5
    locked_known = await api.post("/api/auth/login", {"username": known, "password": PASSWORD})
    locked_unknown = await api.post("/api/auth/login", {"username": unknown, "password": PASSWORD})
    for locked in (locked_known, locked_unknown):
        assert_error(locked, 429, "rate_limited")
        assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    assert locked_known.text == locked_unknown.text
    # A lock is the username's own: the token from registering still works, others sign in.
    assert (await api.get("/api/auth/me", token=registered.body["token"])).status == 200
    other = await api.post("/api/auth/login", {"username": unique_name("free"), "password": "x"})
    assert_error(other, 401, "unauthorized")


async def test_parallel_wrong_logins_are_checked_five_times_then_locked(
    api: Api, server: ServerProcess
) -> None:
    """Issue #16 finding 2: fifty wrong passwords sent at once get five 401s and 429 for the
    rest (only five guesses checked), and the right password is then refused with 429 too."""
    name = unique_name("burst")
    registered = await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    assert registered.status == 201, registered.text
    replies = await asyncio.gather(
        *(
            api.post("/api/auth/login", {"username": name, "password": f"guess-{i:04d}"})
            for i in range(50)
        )
    )
    assert Counter(r.status for r in replies) == {401: 5, 429: 45}
    for reply in replies:
        if reply.status == 429:
            assert_error(reply, 429, "rate_limited")
            assert 1 <= int(reply.headers["Retry-After"]) <= 15 * 60
    right = await api.post("/api/auth/login", {"username": name, "password": PASSWORD})
    assert_error(right, 429, "rate_limited")


@pytest.mark.parametrize(
    "username", ["x" * 60_000, "x", "has space", "é-accent", "semi;colon", "a" * 33]
)
async def test_a_username_no_account_can_have_is_refused_alike_and_leaves_nothing(
    api: Api, store_path: Path, username: str
) -> None:
    """Issue #16 finding 13: a username outside the contract's shape (3–32 of A–Z a–z 0–9 _ . -)
    answers exactly as a wrong password does, and nothing of it is written to the store's
    failure table, however often it is tried."""
    # An account of this case's own: a success no longer wipes earlier failures, so one
    # shared account would lock after five cases.
    mine = unique_name("alike")
    made = await api.post("/api/auth/register", {"username": mine, "password": PASSWORD})
    assert made.status == 201, made.text
    wrong = await api.post("/api/auth/login", {"username": mine, "password": "not-it-at-all"})
    for _ in range(6):
        impossible = await api.post(
            "/api/auth/login", {"username": username, "password": "not-it-at-all"}
        )
        assert answer(impossible) == answer(wrong)
    with sqlite3.connect(store_path) as db:
        kept = db.execute(
            "SELECT COUNT(*) FROM login_failures WHERE username_key = ?", (username.lower(),)
        ).fetchone()[0]
        longest = db.execute("SELECT MAX(length(username_key)) FROM login_failures").fetchone()[0]
    assert kept == 0
    assert longest <= 32
    ok = await api.post(  # its one failure (still counted) does not lock it
        "/api/auth/login", {"username": mine, "password": PASSWORD}
    )
    assert ok.status == 200
