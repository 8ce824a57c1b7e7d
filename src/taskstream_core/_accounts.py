"""Registration, login (with throttling), logout and token authentication.

Login answers the same message, after the same work, whether the username
exists or not: an unknown user's password is checked against a dummy hash so
the timing does not tell the two apart. A name no account can have (outside
the contract's username shape) fails the same way without touching the store.

Throttling holds under concurrency and across processes sharing the store:
each attempt first claims a place among the window's failures in one atomic
store step (:meth:`Store.claim_login_attempt`) and is checked only if it got
one, so no more than the limit of passwords are ever checked per window,
however many requests race.

A wrong admin invite code is answered ``forbidden`` as the contract says, one
at a time and each after a pause, so guesses cannot go faster than one per
pause per process whatever their number; the right code is never held back,
so nobody can lock admins out by sending wrong ones.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, NoReturn

from ._ids import new_id
from ._passwords import PasswordHasher
from ._store import Store
from ._tokens import TokenIssuer
from ._validation import check_password, check_role, check_username, is_username
from .errors import Forbidden, InvalidRequest, RateLimited, Unauthorized
from .models import Principal, Role, User, utc_now

__all__ = ["Accounts", "LoginThrottle", "Session"]

log = logging.getLogger("taskstream.accounts")

_BAD_LOGIN = "Wrong username or password."
#: How long each wrong admin invite code holds back the next one, in seconds.
INVITE_PAUSE = 0.25
#: Wrong invite codes waiting their turn past which more are refused ``rate_limited``.
_INVITE_QUEUE = 64


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the bearer token that proves it.

    Attributes:
        token: The bearer token to send with every later call.
        user: The signed-in user.
    """

    token: str
    user: User

    def to_dict(self) -> dict[str, object]:
        """The contract's ``Session`` object, the answer to a registration or a login.

        Returns:
            ``{"token": ..., "user": {...}}``.
        """
        return {"token": self.token, "user": self.user.to_dict()}


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """How many failed attempts a window allows; the default is the contract's rule.

    The contract's rule: 5 failures for a username within 15 minutes lock it out.

    Attributes:
        max_failures: Failures allowed within the window; the next attempt is refused.
        window: How far back failures count.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


class Accounts:
    """Registration, login with throttling, logout and token authentication.

    :class:`~taskstream_core.TaskStream` makes one as ``app.accounts``; an
    integration calls it for the contract's ``/auth`` routes and to turn each
    request's bearer token into a :class:`~taskstream_core.Principal`.

    Attributes:
        SAFE_INVITE_CODE: The shortest admin invite code accepted without a warning, in
            characters (a shorter one is the operator's choice, and logged as a risk).

    Example:
        ```python
        session = await app.accounts.login("ada", "correct horse battery")
        principal = await app.accounts.authenticate(session.token)
        ```
    """

    SAFE_INVITE_CODE: ClassVar[int] = 16

    def __init__(
        self,
        store: Store,
        tokens: TokenIssuer,
        *,
        hasher: PasswordHasher,
        admin_invite_code: str,
        throttle: LoginThrottle = LoginThrottle(),
        invite_pause: float = INVITE_PAUSE,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Accounts kept in ``store``.

        Args:
            store: Where users, failures and logged-out tokens are kept.
            tokens: Issues and checks the bearer tokens.
            hasher: The password policy.
            admin_invite_code: What registering an admin requires.
            throttle: Failed logins allowed per username and window.
            invite_pause: Seconds each wrong invite code holds back the next one
                (wrong codes are answered one at a time).
            clock: Now, in UTC.

        Raises:
            ValueError: ``admin_invite_code`` is empty.
        """
        if not admin_invite_code:
            raise ValueError("The admin invite code must not be empty.")
        if len(admin_invite_code) < self.SAFE_INVITE_CODE:
            log.warning(
                "The admin invite code is only %d characters long: whoever guesses it can "
                "register as an admin (wrong codes are answered at most 4 a second). "
                "%d random characters or more are safe.",
                len(admin_invite_code),
                self.SAFE_INVITE_CODE,
            )
        self._store = store
        self.tokens = tokens
        self._hasher = hasher
        self._invite = admin_invite_code.encode()
        self._throttle = throttle
        self._invite_pause = invite_pause
        self._guesses = asyncio.Lock()
        self._guessing = 0
        self._clock = clock
        self._dummy_hash = hasher.hash(uuid.uuid4().hex)

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password: str, hashed: str) -> bool:
        return await asyncio.to_thread(self._hasher.verify, password, hashed)

    async def _claim(self, key: str, throttle: LoginThrottle, what: str) -> datetime:
        """Count one attempt on ``key`` as failed before it is checked; its time.

        Raises:
            RateLimited: ``throttle.max_failures`` failures of ``key`` are in the window.
        """
        now = self._clock()
        window = throttle.window
        # A failure exactly `window` old has left the window: that is the moment
        # retry_after below points the caller to.
        recorded, failures = await self._store.claim_login_attempt(
            key, now, since=now - window, limit=throttle.max_failures
        )
        if not recorded:
            counted = failures[-throttle.max_failures :]
            unlock = counted[0] + window if counted else now
            raise RateLimited(
                f"Too many {what}; try again later.",
                retry_after=max(1.0, (unlock - now).total_seconds()),
            )
        return now

    async def _wrong_invite_code(self) -> NoReturn:
        """Refuse a wrong invite code in its turn, after the pause (see the module's text)."""
        if self._guessing >= _INVITE_QUEUE:
            raise RateLimited("Too many wrong invite codes; try again later.", retry_after=1.0)
        self._guessing += 1
        try:
            async with self._guesses:
                await asyncio.sleep(self._invite_pause)
        finally:
            self._guessing -= 1
        raise Forbidden("Registering an admin needs a valid invite code.")

    async def register(
        self, username: object, password: object, role: object = None, invite_code: object = None
    ) -> Session:
        """Create an account and sign it in; an admin needs the invite code.

        Args:
            username: The client's value: 3–32 letters, digits, ``_``, ``.`` or ``-``.
            password: The client's value: 8–256 characters.
            role: ``"worker"`` (the default when None) or ``"admin"``.
            invite_code: The deployment's admin invite code; required for an admin.

        Returns:
            The new account's session.

        Raises:
            InvalidRequest: A field breaks the contract's rules.
            Forbidden: An admin without the right invite code (answered after
                the wrong codes before it, each after ``invite_pause``).
            RateLimited: Too many wrong invite codes are waiting their turn.
            Conflict: The username is taken.
        """
        name = check_username(username)
        secret = check_password(password)
        wanted = check_role(role)
        if wanted is Role.ADMIN and not (
            isinstance(invite_code, str) and hmac.compare_digest(invite_code.encode(), self._invite)
        ):
            await self._wrong_invite_code()
        user = User(id=new_id(), username=name, role=wanted, created_at=self._clock())
        await self._store.create_user(user, await self._hash(secret))
        return self._sign_in(user)

    async def login(self, username: object, password: object) -> Session:
        """Check a password, with the contract's throttling per username.

        A stored hash weaker than the hasher's policy is upgraded on success.

        Args:
            username: The client's value.
            password: The client's value.

        Returns:
            The session, with a new token.

        Raises:
            InvalidRequest: The username or password is not a string.
            Unauthorized: The password is wrong or no such user exists.
            RateLimited: The username failed too often within the window.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidRequest("'username' and 'password' must be strings.")
        if not is_username(username):  # no account has it: the store is not touched
            await self._verify(password[:1024], self._dummy_hash)
            raise Unauthorized(_BAD_LOGIN)
        claimed = await self._claim(username, self._throttle, "failed sign-ins for this username")
        found = await self._store.find_credentials(username)
        hashed = found[1] if found else self._dummy_hash
        if not await self._verify(password[:1024], hashed) or found is None:
            raise Unauthorized(_BAD_LOGIN)  # the claimed failure stays
        user = found[0]
        # This attempt was no failure: forget its claim, and only its claim (the
        # failures before it stay in the window, as the contract counts them).
        await self._store.release_login_attempt(username, claimed)
        if self._hasher.needs_rehash(hashed):
            await self._store.set_password_hash(user.id, await self._hash(password))
        return self._sign_in(user)

    def _sign_in(self, user: User) -> Session:
        token, _ = self.tokens.issue(user, now=self._clock())
        return Session(token=token, user=user)

    async def authenticate(self, token: object) -> Principal:
        """Turn a bearer token into the caller it names.

        Args:
            token: The client's value (the bearer token, without ``Bearer``).

        Returns:
            The caller, if the token is genuine, unexpired and not logged out,
            and its user still exists with the role the token claims.

        Raises:
            Unauthorized: Any of those does not hold.
        """
        claims = self.tokens.verify(token)
        if await self._store.is_token_revoked(claims.token_id):
            raise Unauthorized("This token was signed out; sign in again.")
        user = await self._store.get_user(claims.user_id)
        if user is None or user.role is not claims.role:
            raise Unauthorized("The token is not valid.")
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            token_id=claims.token_id,
            token_expires_at=claims.expires_at,
        )

    async def logout(self, principal: Principal) -> None:
        """Refuse the caller's token from now on, until it would have expired.

        Args:
            principal: The caller, as :meth:`authenticate` returned it.
        """
        expires = principal.token_expires_at or (self._clock() + self.tokens.lifetime)
        await self._store.revoke_token(principal.token_id, expires)

    async def me(self, principal: Principal) -> User:
        """Read the caller's account (``GET /auth/me``).

        Args:
            principal: The caller.

        Returns:
            The caller's user.

        Raises:
            Unauthorized: The account no longer exists.
        """
        user = await self._store.get_user(principal.user_id)
        if user is None:
            raise Unauthorized("The token is not valid.")
        return user
