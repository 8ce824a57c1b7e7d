"""Registration, login throttling, password upgrades, logout and token authentication."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest

from taskstream_core import Accounts, LoginThrottle, PasswordHasher, Role, TokenIssuer
from taskstream_core.errors import Conflict, Forbidden, InvalidRequest, RateLimited, Unauthorized
from taskstream_core.models import User
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import ManualClock
from tests.security.test_login import RecordingHasher

from .test_passwords import rounds_of

INVITE = "the-admin-invite-code"
PASSWORD = "right-password"


@pytest.fixture
def store() -> MemoryStore:
    """The accounts' store."""
    return MemoryStore()


@pytest.fixture
def tokens() -> TokenIssuer:
    """The deployment's token issuer."""
    return TokenIssuer("t" * 40)


@pytest.fixture
def accounts(store: MemoryStore, tokens: TokenIssuer, clock: ManualClock) -> Accounts:
    """Accounts with cheap hashing and a manual clock."""
    return Accounts(
        store, tokens, hasher=PasswordHasher.for_tests(), admin_invite_code=INVITE, clock=clock
    )


def test_an_empty_invite_code_is_refused_and_a_short_one_warned_about(
    store: MemoryStore, tokens: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty invite code is refused when the accounts are built; a code under 16 characters
    is the operator's choice (the contract sets no length) and is logged as guessable, without
    the code; 16 characters pass quietly."""
    hasher = PasswordHasher.for_tests()
    with pytest.raises(ValueError, match="must not be empty"):
        Accounts(store, tokens, hasher=hasher, admin_invite_code="")
    with caplog.at_level(logging.WARNING, logger="taskstream.accounts"):
        Accounts(store, tokens, hasher=hasher, admin_invite_code="fifteen-chars-x")
        assert [r.getMessage() for r in caplog.records] == [
            "The admin invite code is only 15 characters long: whoever guesses it can register "
            "as an admin (wrong codes are answered at most 4 a second). 16 random characters "
            "or more are safe."
        ]
        caplog.clear()
        Accounts(store, tokens, hasher=hasher, admin_invite_code="x" * 16)
        assert caplog.records == []


async def test_register_makes_a_worker_by_default_and_signs_it_in(accounts: Accounts) -> None:
    """Registering without a role makes a worker and returns a working token."""
    session = await accounts.register("alice", PASSWORD)
    assert session.user.role is Role.WORKER
    assert session.user.username == "alice"
    principal = await accounts.authenticate(session.token)
    assert (principal.user_id, principal.role) == (session.user.id, Role.WORKER)
    assert session.to_dict() == {"token": session.token, "user": session.user.to_dict()}
    assert await accounts.me(principal) == session.user


@pytest.mark.parametrize("code", [None, "", "wrong", INVITE.upper(), INVITE + " ", 123])
async def test_registering_an_admin_needs_the_invite_code(accounts: Accounts, code: object) -> None:
    """Without the exact invite code an admin registration is Forbidden and stores nothing."""
    with pytest.raises(Forbidden):
        await accounts.register("root", PASSWORD, "admin", code)
    with pytest.raises(Unauthorized):
        await accounts.login("root", PASSWORD)


async def test_registering_an_admin_with_the_invite_code(accounts: Accounts) -> None:
    """With the invite code the user is an admin."""
    session = await accounts.register("root", PASSWORD, "admin", INVITE)
    assert session.user.role is Role.ADMIN
    assert (await accounts.authenticate(session.token)).is_admin


async def test_registration_validates_its_input(accounts: Accounts) -> None:
    """A bad username, a short password or an unknown role is invalid_request."""
    for args in (("no", PASSWORD), ("alice", "short"), ("alice", PASSWORD, "root")):
        with pytest.raises(InvalidRequest):
            await accounts.register(*args)


async def test_a_taken_username_in_another_case_is_a_conflict(accounts: Accounts) -> None:
    """Usernames are unique ignoring case."""
    await accounts.register("Alice", PASSWORD)
    with pytest.raises(Conflict):
        await accounts.register("aLiCe", "other-password")


async def test_login_with_the_right_password_in_any_case(accounts: Accounts) -> None:
    """Login finds the user ignoring case and returns a token for it."""
    registered = await accounts.register("Alice", PASSWORD)
    session = await accounts.login("ALICE", PASSWORD)
    assert session.user == registered.user
    assert (await accounts.authenticate(session.token)).user_id == registered.user.id


async def test_a_wrong_password_and_an_unknown_user_fail_alike(accounts: Accounts) -> None:
    """Both answer Unauthorized with the same message, so usernames cannot be probed."""
    await accounts.register("alice", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        await accounts.login("alice", "wrong-password")
    with pytest.raises(Unauthorized) as unknown:
        await accounts.login("nobody", "wrong-password")
    assert wrong.value.message == unknown.value.message


@pytest.mark.parametrize(("username", "password"), [(None, PASSWORD), ("alice", None), (1, 2)])
async def test_login_with_non_string_credentials_is_invalid_request(
    accounts: Accounts, username: object, password: object
) -> None:
    """Credentials of the wrong type (or missing) are invalid_request, as the contract says of
    wrong types, and not a crash."""
    await accounts.register("alice", PASSWORD)
    with pytest.raises(InvalidRequest):
        await accounts.login(username, password)


async def test_five_failures_lock_the_username_even_for_the_right_password(
    accounts: Accounts, clock: ManualClock
) -> None:
    """After 5 failures within 15 minutes the right password answers RateLimited."""
    await accounts.register("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            await accounts.login("alice", "wrong-password")
        clock.advance(60)
    with pytest.raises(Unauthorized):
        await accounts.login("ALICE", "wrong-password")  # the fifth, in another case
    with pytest.raises(RateLimited) as limited:
        await accounts.login("alice", PASSWORD)
    # The oldest failure leaves the window 15 minutes after it happened.
    assert limited.value.retry_after == pytest.approx(11 * 60)
    with pytest.raises(RateLimited):
        await accounts.login("alice", "wrong-password")


async def test_the_lock_lifts_when_retry_after_has_passed(
    accounts: Accounts, clock: ManualClock
) -> None:
    """RateLimited.retry_after seconds later the right password works; a second earlier not."""
    await accounts.register("alice", PASSWORD)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.login("alice", "wrong-password")
        clock.advance(1)
    with pytest.raises(RateLimited) as limited:
        await accounts.login("alice", PASSWORD)
    retry_after = limited.value.retry_after
    assert retry_after is not None
    assert retry_after == 15 * 60 - 5
    clock.advance(retry_after - 1)
    with pytest.raises(RateLimited):
        await accounts.login("alice", PASSWORD)
    clock.advance(1)
    assert (await accounts.login("alice", PASSWORD)).user.username == "alice"


async def test_unknown_usernames_are_throttled_too(accounts: Accounts) -> None:
    """Guessing at a username that does not exist is locked out the same way."""
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.login("ghost", "wrong-password")
    with pytest.raises(RateLimited):
        await accounts.login("ghost", "wrong-password")


async def test_throttling_is_per_username(accounts: Accounts) -> None:
    """One locked username does not lock another."""
    await accounts.register("bob", PASSWORD)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.login("alice", "wrong-password")
    assert (await accounts.login("bob", PASSWORD)).user.username == "bob"


async def test_a_successful_login_forgets_only_its_own_attempt(accounts: Accounts) -> None:
    """Four failures, a success, one more failure: five failures are in the window, so the
    right password answers RateLimited (the success does not wipe the failures before it)."""
    await accounts.register("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            await accounts.login("alice", "wrong-password")
    assert (await accounts.login("alice", PASSWORD)).user.username == "alice"
    with pytest.raises(Unauthorized):
        await accounts.login("alice", "wrong-password")
    with pytest.raises(RateLimited):
        await accounts.login("alice", PASSWORD)


async def test_successful_logins_never_lock_the_username(accounts: Accounts) -> None:
    """Six successful logins in a row (each claims a slot before the check) all succeed."""
    await accounts.register("alice", PASSWORD)
    for _ in range(6):
        assert (await accounts.login("alice", PASSWORD)).user.username == "alice"


async def test_a_custom_throttle_is_honoured(
    store: MemoryStore, tokens: TokenIssuer, clock: ManualClock
) -> None:
    """max_failures and window come from the LoginThrottle given."""
    accounts = Accounts(
        store,
        tokens,
        hasher=PasswordHasher.for_tests(),
        admin_invite_code=INVITE,
        throttle=LoginThrottle(max_failures=2, window=timedelta(seconds=10)),
        clock=clock,
    )
    await accounts.register("alice", PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await accounts.login("alice", "nope-nope")
    with pytest.raises(RateLimited):
        await accounts.login("alice", PASSWORD)
    clock.advance(10)
    await accounts.login("alice", PASSWORD)


async def test_login_upgrades_a_hash_weaker_than_the_policy(
    accounts: Accounts, store: MemoryStore, tokens: TokenIssuer, clock: ManualClock
) -> None:
    """A successful login re-hashes a password stored under a weaker policy."""
    await accounts.register("alice", PASSWORD)
    found = await store.find_credentials("alice")
    assert found is not None
    assert rounds_of(found[1]) == 1_000
    stronger = Accounts(
        store,
        tokens,
        hasher=PasswordHasher(iterations=2_000, allow_weak=True),
        admin_invite_code=INVITE,
        clock=clock,
    )
    await stronger.login("alice", PASSWORD)
    upgraded = await store.find_credentials("alice")
    assert upgraded is not None
    assert rounds_of(upgraded[1]) == 2_000
    assert (await stronger.login("alice", PASSWORD)).user == found[0]
    assert (await accounts.login("alice", PASSWORD)).user == found[0]
    unchanged = await store.find_credentials("alice")
    assert unchanged is not None
    assert rounds_of(unchanged[1]) == 2_000, "a weaker policy never downgrades"


async def test_logout_revokes_that_token_only(accounts: Accounts) -> None:
    """After logout the token is refused; the user's other tokens still work."""
    first = await accounts.register("alice", PASSWORD)
    second = await accounts.login("alice", PASSWORD)
    principal = await accounts.authenticate(first.token)
    await accounts.logout(principal)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(first.token)
    assert (await accounts.authenticate(second.token)).user_id == first.user.id


async def test_authenticate_refuses_a_token_of_an_unknown_user(
    accounts: Accounts, tokens: TokenIssuer, clock: ManualClock
) -> None:
    """A genuine token whose user is not (or no longer) stored is refused."""
    ghost = User(id="deleted-user", username="ghost", role=Role.ADMIN, created_at=clock())
    token, _ = tokens.issue(ghost)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(token)


async def test_authenticate_refuses_a_token_whose_role_is_not_the_users(
    accounts: Accounts, tokens: TokenIssuer
) -> None:
    """A token claiming admin for a worker (a role changed since) is refused."""
    session = await accounts.register("alice", PASSWORD)
    promoted = User(session.user.id, "alice", Role.ADMIN, session.user.created_at)
    token, _ = tokens.issue(promoted)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(token)


@pytest.mark.parametrize("token", [None, "", "garbage", 42])
async def test_authenticate_refuses_what_is_not_a_token(accounts: Accounts, token: object) -> None:
    """Missing or malformed tokens are Unauthorized."""
    with pytest.raises(Unauthorized):
        await accounts.authenticate(token)


async def test_me_of_a_vanished_user_is_unauthorized(accounts: Accounts) -> None:
    """me() refuses a principal whose user is not stored."""
    session = await accounts.register("alice", PASSWORD)
    principal = await accounts.authenticate(session.token)
    other = MemoryStore()
    lonely = Accounts(
        other, accounts.tokens, hasher=PasswordHasher.for_tests(), admin_invite_code=INVITE
    )
    with pytest.raises(Unauthorized):
        await lonely.me(principal)


async def test_wrong_invite_codes_never_lock_out_the_right_one(
    store: MemoryStore, tokens: TokenIssuer
) -> None:
    """Wrong invite codes, however many, are each answered Forbidden (the contract's 403), and
    the right code registers an admin at once, also while wrong ones wait their turn."""
    accounts = Accounts(
        store, tokens, hasher=PasswordHasher.for_tests(), admin_invite_code=INVITE, invite_pause=0.2
    )
    guesses = [
        asyncio.ensure_future(accounts.register(f"guess{i}", PASSWORD, "admin", f"guess-{i}"))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    started = time.monotonic()
    admin = await accounts.register("root", PASSWORD, "admin", INVITE)
    assert admin.user.role is Role.ADMIN
    assert time.monotonic() - started < 0.2  # not behind the guesses' pauses
    for outcome in await asyncio.gather(*guesses, return_exceptions=True):
        assert isinstance(outcome, Forbidden)
    assert (await accounts.register("root2", PASSWORD, "admin", INVITE)).user.role is Role.ADMIN


async def test_wrong_invite_codes_are_answered_one_at_a_time_after_a_pause(
    store: MemoryStore, tokens: TokenIssuer
) -> None:
    """Guessing cannot go faster than one wrong code per pause, however many are sent at once;
    past 64 waiting, more are refused RateLimited rather than queued."""
    accounts = Accounts(
        store, tokens, hasher=PasswordHasher.for_tests(), admin_invite_code=INVITE, invite_pause=0.1
    )
    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(accounts.register(f"guess{i}", PASSWORD, "admin", "wrong") for i in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(o, Forbidden) for o in outcomes)
    assert time.monotonic() - started >= 0.5
    slow = Accounts(
        store, tokens, hasher=PasswordHasher.for_tests(), admin_invite_code=INVITE, invite_pause=60
    )
    waiting = [
        asyncio.ensure_future(slow.register(f"wait{i}", PASSWORD, "admin", "wrong"))
        for i in range(64)
    ]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited):
        await slow.register("one-more", PASSWORD, "admin", "wrong")
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert (await slow.register("root", PASSWORD, "admin", INVITE)).user.role is Role.ADMIN


@pytest.mark.parametrize(
    "username", ["x" * 60_000, "x", "ab", "has space", "é-accent", "semi;colon", "a" * 33]
)
async def test_a_username_no_account_can_have_fails_alike_and_records_nothing(
    store: MemoryStore, tokens: TokenIssuer, clock: ManualClock, username: str
) -> None:
    """Issue #16 finding 13: a name outside the contract's shape fails as a wrong password does
    (same message, one verification against the dummy hash), and nothing is stored for it, so
    it is never locked either."""
    hasher = RecordingHasher(iterations=1_000, allow_weak=True)
    accounts = Accounts(store, tokens, hasher=hasher, admin_invite_code=INVITE, clock=clock)
    await accounts.register("alice", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        await accounts.login("alice", "wrong-password")
    hasher.verified.clear()
    for _ in range(7):
        with pytest.raises(Unauthorized) as impossible:
            await accounts.login(username, "wrong-password")
        assert impossible.value.message == wrong.value.message
    assert len(hasher.verified) == 7
    assert set(store._failures) == {"alice"}
