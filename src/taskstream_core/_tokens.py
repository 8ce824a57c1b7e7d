"""HS256 access tokens: issuing them and proving them genuine.

Verification pins the algorithm (so ``alg: none`` and RS/HS confusion are
refused) and requires every claim. Whether a genuine token was logged out is a
question for the store, answered by :meth:`taskstream_core.Accounts.authenticate`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import jwt

from ._ids import new_id
from .errors import Unauthorized
from .models import Role, User

__all__ = ["TokenClaims", "TokenIssuer", "generate_secret"]

_ALGORITHM = "HS256"
_REQUIRED = ["sub", "role", "iat", "exp", "jti", "iss"]


def generate_secret() -> str:
    """Make a fresh signing key for :class:`TokenIssuer`.

    Returns:
        48 random bytes as URL-safe text (64 characters).
    """
    return secrets.token_urlsafe(48)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    role: Role
    token_id: str
    issued_at: datetime
    expires_at: datetime


class TokenIssuer:
    """Issues and verifies the tokens of one deployment.

    The secret is checked once here, so a weak key fails at start-up rather
    than at the first login.

    Args:
        secret: The HS256 signing key, at least :attr:`MIN_SECRET_BYTES` long;
            every process of a deployment needs the same one.
        issuer: The ``iss`` claim written and required.
        lifetime: How long a token is valid.
        leeway: How long after its expiry a token is still accepted.

    Raises:
        ValueError: The secret is too short, or the lifetime is not positive.

    Attributes:
        MIN_SECRET_BYTES: The shortest secret accepted, in bytes.
        issuer: The ``iss`` claim written and required.
        lifetime: How long a token is valid.

    Example:
        ```python
        tokens = TokenIssuer(os.environ["TASKSTREAM_SECRET"], lifetime=timedelta(hours=1))
        ```
    """

    MIN_SECRET_BYTES: ClassVar[int] = 32

    def __init__(
        self,
        secret: str | bytes,
        *,
        issuer: str = "taskstream",
        lifetime: timedelta = timedelta(hours=12),
        leeway: timedelta = timedelta(seconds=5),
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < self.MIN_SECRET_BYTES:
            raise ValueError(f"The JWT secret must be at least {self.MIN_SECRET_BYTES} bytes long.")
        if lifetime <= timedelta(0):
            raise ValueError("The token lifetime must be positive.")
        self._key = key
        self.issuer = issuer
        self.lifetime = lifetime
        self._leeway = leeway

    @property
    def leeway(self) -> timedelta:
        """How long after its ``exp`` a token is still accepted (clock skew between hosts)."""
        return self._leeway

    def issue(self, user: User, *, now: datetime | None = None) -> tuple[str, TokenClaims]:
        """Sign a new token for a user.

        Args:
            user: Whom the token names.
            now: The issue time (the current time when None); truncated to the second.

        Returns:
            The token, and the claims it carries (its id, expiry...).
        """
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        claims = TokenClaims(
            user_id=user.id,
            role=user.role,
            token_id=new_id(),
            issued_at=issued,
            expires_at=issued + self.lifetime,
        )
        payload = {
            "sub": claims.user_id,
            "role": claims.role.value,
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.token_id,
            "iss": self.issuer,
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM), claims

    def verify(self, token: object) -> TokenClaims:
        """Check a token's signature, issuer and expiry, and read its claims.

        It does not check whether the token was logged out: see
        :meth:`~taskstream_core.Accounts.authenticate`.

        Args:
            token: The client's value.

        Returns:
            The token's claims.

        Raises:
            Unauthorized: It is not a string, not genuine, expired, or lacks a claim.
        """
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise Unauthorized("A valid bearer token is required.")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED},
            )
            role = Role(payload["role"])
            sub, jti = payload["sub"], payload["jti"]
            if not isinstance(sub, str) or not isinstance(jti, str):
                raise Unauthorized("The token's claims are malformed.")
            return TokenClaims(
                user_id=sub,
                role=role,
                token_id=jti,
                issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired; sign in again.") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            raise Unauthorized("The token is not valid.") from None
