"""HS256 tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from taskstream_core import Role, TokenIssuer, generate_secret
from taskstream_core.errors import Unauthorized
from taskstream_core.models import User

SECRET = "k" * 64  # long enough for the HS512 probe too
USER = User(
    id="user-1", username="alice", role=Role.WORKER, created_at=datetime(2026, 1, 1, tzinfo=UTC)
)
REQUIRED = ("sub", "role", "iat", "exp", "jti", "iss")


@pytest.fixture
def issuer() -> TokenIssuer:
    """A token issuer with a fixed, long enough secret."""
    return TokenIssuer(SECRET)


def claims(**changes: Any) -> dict[str, Any]:
    """A valid payload for USER, with some claims changed (None removes one)."""
    now = int(datetime.now(UTC).timestamp())
    payload: dict[str, Any] = {
        "sub": USER.id,
        "role": "worker",
        "iat": now,
        "exp": now + 3600,
        "jti": "jti-1",
        "iss": "taskstream",
    }
    for name, value in changes.items():
        if value is None:
            del payload[name]
        else:
            payload[name] = value
    return payload


def sign(payload: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def test_an_issued_token_verifies_to_its_claims(issuer: TokenIssuer) -> None:
    """verify gives back the user, role, token id and times that issue put in."""
    token, issued = issuer.issue(USER)
    assert issuer.verify(token) == issued
    assert issued.user_id == USER.id
    assert issued.role is Role.WORKER
    assert issued.expires_at - issued.issued_at == timedelta(hours=12)


def test_each_token_has_its_own_id(issuer: TokenIssuer) -> None:
    """Two tokens for the same user differ in jti, so one can be logged out alone."""
    first, second = issuer.issue(USER)[1], issuer.issue(USER)[1]
    assert first.token_id != second.token_id


def test_a_handmade_token_with_every_claim_verifies(issuer: TokenIssuer) -> None:
    """A token built by the rules (HS256, right key, every claim) is accepted."""
    assert issuer.verify(sign(claims())).user_id == USER.id


def test_alg_none_is_refused(issuer: TokenIssuer) -> None:
    """An unsigned token (``alg: none``) is refused."""
    unsigned = jwt.encode(claims(), "", algorithm="none")
    with pytest.raises(Unauthorized):
        issuer.verify(unsigned)


def test_a_token_whose_header_claims_none_but_is_signed_is_refused(issuer: TokenIssuer) -> None:
    """Swapping the header to ``alg: none`` on a signed token does not get it through."""
    token = sign(claims())
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    forged = header.decode().rstrip("=") + "." + token.split(".", 1)[1]
    with pytest.raises(Unauthorized):
        issuer.verify(forged)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms_are_refused_even_with_the_right_key(
    issuer: TokenIssuer, algorithm: str
) -> None:
    """Only HS256 is accepted: the algorithm is pinned, not read from the token."""
    with pytest.raises(Unauthorized):
        issuer.verify(sign(claims(), algorithm=algorithm))


def test_a_token_signed_with_another_key_is_refused(issuer: TokenIssuer) -> None:
    """A token from another deployment (another secret) is refused."""
    with pytest.raises(Unauthorized):
        issuer.verify(TokenIssuer("x" * 48).issue(USER)[0])


def test_a_tampered_payload_is_refused(issuer: TokenIssuer) -> None:
    """Changing the payload (an admin role) breaks the signature."""
    header, _, signature = sign(claims()).split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims(role="admin")).encode()).decode()
    with pytest.raises(Unauthorized):
        issuer.verify(f"{header}.{payload.rstrip('=')}.{signature}")


def test_an_expired_token_is_refused_saying_so(issuer: TokenIssuer) -> None:
    """A token past its exp (beyond the small leeway) is refused as expired."""
    token, _ = issuer.issue(USER, now=datetime.now(UTC) - timedelta(hours=12, seconds=30))
    with pytest.raises(Unauthorized, match="expired"):
        issuer.verify(token)


def test_expiry_has_a_few_seconds_of_leeway(issuer: TokenIssuer) -> None:
    """A token that expired a second ago still verifies (clock skew between servers)."""
    token, _ = issuer.issue(USER, now=datetime.now(UTC) - timedelta(hours=12, seconds=1))
    assert issuer.verify(token).user_id == USER.id


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_token_missing_a_required_claim_is_refused(issuer: TokenIssuer, missing: str) -> None:
    """Every one of sub, role, iat, exp, jti and iss is required."""
    with pytest.raises(Unauthorized):
        issuer.verify(sign(claims(**{missing: None})))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "someone-else"),
        ("role", "superuser"),
        ("role", 1),
        ("sub", 42),
        ("jti", 7),
        ("exp", "tomorrow"),
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(
    issuer: TokenIssuer, claim: str, value: object
) -> None:
    """A wrong issuer, an unknown role, or claims of the wrong type are refused."""
    with pytest.raises(Unauthorized):
        issuer.verify(sign(claims(**{claim: value})))


def test_an_issuer_with_another_name_refuses_our_tokens() -> None:
    """Tokens are bound to the issuer name they were made with."""
    token, _ = TokenIssuer(SECRET, issuer="a").issue(USER)
    with pytest.raises(Unauthorized):
        TokenIssuer(SECRET, issuer="b").verify(token)


@pytest.mark.parametrize(
    "garbage",
    ["", "not-a-token", "a.b.c", "Bearer x.y.z", "x" * 5000, "ey.ey.ey"],
)
def test_garbage_is_refused(issuer: TokenIssuer, garbage: str) -> None:
    """Strings that are not tokens are refused with Unauthorized, never another error."""
    with pytest.raises(Unauthorized):
        issuer.verify(garbage)


@pytest.mark.parametrize("value", [None, 123, 1.5, b"bytes", ["a"], {"token": "x"}, True])
def test_a_non_string_token_is_refused(issuer: TokenIssuer, value: object) -> None:
    """A token that is not a string (as a client may send in JSON) is refused."""
    with pytest.raises(Unauthorized):
        issuer.verify(value)


def test_an_oversized_genuine_token_is_refused(issuer: TokenIssuer) -> None:
    """Tokens longer than 4 KiB are refused before any decoding."""
    with pytest.raises(Unauthorized):
        issuer.verify(sign(claims(pad="p" * 5000)))


@pytest.mark.parametrize(
    "secret",
    ["s" * (TokenIssuer.MIN_SECRET_BYTES - 1), b"s" * (TokenIssuer.MIN_SECRET_BYTES - 1), ""],
)
def test_a_secret_shorter_than_32_bytes_is_refused(secret: str | bytes) -> None:
    """The issuer refuses a weak key when it is made, not at the first login."""
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer(secret)


def test_a_32_byte_secret_is_enough() -> None:
    """Exactly 32 bytes, as text or bytes, is accepted."""
    TokenIssuer("s" * 32)
    TokenIssuer(b"s" * 32)
    TokenIssuer("é" * 16)  # 32 bytes in UTF-8


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_a_token_lifetime_must_be_positive(lifetime: timedelta) -> None:
    """A zero or negative lifetime is refused."""
    with pytest.raises(ValueError, match="positive"):
        TokenIssuer(SECRET, lifetime=lifetime)


def test_generate_secret_is_long_and_random() -> None:
    """generate_secret makes keys long enough for TokenIssuer, never twice the same."""
    first, second = generate_secret(), generate_secret()
    assert len(first.encode()) >= TokenIssuer.MIN_SECRET_BYTES
    assert first != second
    TokenIssuer(first)
