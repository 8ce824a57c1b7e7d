"""The password hashing policy: OWASP's cost by default, weak only on purpose."""

from __future__ import annotations

import pytest

from taskstream_core import PasswordHasher
from taskstream_core._passwords import OWASP_2023_ITERATIONS, TESTING_ITERATIONS


def rounds_of(hashed: str) -> int:
    """The PBKDF2 iteration count written in a passlib pbkdf2-sha256 hash."""
    scheme, rounds, *_ = hashed.lstrip("$").split("$")
    assert scheme == "pbkdf2-sha256"
    return int(rounds)


@pytest.fixture(scope="module")
def strong_hash() -> str:
    """One hash made with the default policy (slow on purpose, so made once)."""
    return PasswordHasher().hash("correct horse")


def test_the_default_policy_is_600000_iterations(strong_hash: str) -> None:
    """A default hasher uses OWASP 2023's 600,000 PBKDF2-SHA256 iterations."""
    assert OWASP_2023_ITERATIONS == 600_000
    assert PasswordHasher().iterations == 600_000
    assert rounds_of(strong_hash) == 600_000


@pytest.mark.parametrize("iterations", [1, TESTING_ITERATIONS, OWASP_2023_ITERATIONS - 1])
def test_a_weak_policy_is_refused_unless_allowed(iterations: int) -> None:
    """Fewer iterations than OWASP's raise ValueError, unless allow_weak says it is meant."""
    with pytest.raises(ValueError, match="allow_weak"):
        PasswordHasher(iterations=iterations)
    assert PasswordHasher(iterations=iterations, allow_weak=True).iterations == iterations


def test_a_stronger_policy_needs_no_permission() -> None:
    """More iterations than OWASP's are accepted as they are."""
    assert PasswordHasher(iterations=OWASP_2023_ITERATIONS + 1).iterations == 600_001


def test_the_test_preset_is_cheap_and_marked_weak() -> None:
    """for_tests() is the documented cheap preset."""
    hasher = PasswordHasher.for_tests()
    assert hasher.iterations == TESTING_ITERATIONS
    assert hasher.allow_weak
    assert rounds_of(hasher.hash("pw")) == TESTING_ITERATIONS


def test_hash_then_verify() -> None:
    """The right password verifies, a wrong one does not, and each hash is salted."""
    hasher = PasswordHasher.for_tests()
    first, second = hasher.hash("s3cret pass"), hasher.hash("s3cret pass")
    assert first != second
    assert hasher.verify("s3cret pass", first)
    assert hasher.verify("s3cret pass", second)
    assert not hasher.verify("s3cret pasS", first)
    assert not hasher.verify("", first)


def test_verify_accepts_hashes_of_another_policy(strong_hash: str) -> None:
    """A hash keeps verifying after the policy changed, so users are never locked out."""
    assert PasswordHasher.for_tests().verify("correct horse", strong_hash)
    weak = PasswordHasher.for_tests().hash("old password")
    assert PasswordHasher(iterations=2_000, allow_weak=True).verify("old password", weak)


@pytest.mark.parametrize("hashed", ["", "garbage", "$pbkdf2-sha256$x$y$z", "$2b$12$abc"])
def test_verify_of_a_malformed_hash_is_false_not_an_error(hashed: str) -> None:
    """A corrupt stored hash fails verification quietly."""
    assert PasswordHasher.for_tests().verify("anything", hashed) is False


def test_needs_rehash_when_the_hash_is_weaker_than_the_policy() -> None:
    """A hash made with fewer iterations than the policy needs rehashing."""
    weak = PasswordHasher.for_tests().hash("pw")
    assert PasswordHasher(iterations=2_000, allow_weak=True).needs_rehash(weak)


def test_no_rehash_when_the_hash_matches_the_policy() -> None:
    """A hash made under the current policy needs nothing."""
    hasher = PasswordHasher.for_tests()
    assert not hasher.needs_rehash(hasher.hash("pw"))


def test_no_rehash_when_the_hash_is_stronger_than_the_policy(strong_hash: str) -> None:
    """needs_rehash asks for upgrades only: a stronger hash is never downgraded."""
    assert not PasswordHasher.for_tests().needs_rehash(strong_hash)
    assert not PasswordHasher().needs_rehash(strong_hash)


@pytest.mark.parametrize("hashed", ["", "garbage", "$2b$12$abc"])
def test_a_malformed_hash_needs_rehash(hashed: str) -> None:
    """A hash the policy cannot read is due for replacement."""
    assert PasswordHasher.for_tests().needs_rehash(hashed)
