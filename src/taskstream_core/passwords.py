"""Password hashing as a policy object around passlib's ``pbkdf2_sha256``.

The cost is checked once when the hasher is made; ``needs_rehash`` lets the
service upgrade a stored hash at the next successful login when the policy
grows, the way argon2-cffi's ``check_needs_rehash`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from passlib.hash import pbkdf2_sha256

__all__ = ["OWASP_2023_ITERATIONS", "TESTING_ITERATIONS", "PasswordHasher"]

#: OWASP's Password Storage Cheat Sheet figure for PBKDF2-HMAC-SHA256.
OWASP_2023_ITERATIONS: Final = 600_000
#: Fast and weak: for test suites that register thousands of users. Never in production.
TESTING_ITERATIONS: Final = 1_000


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    iterations: int = OWASP_2023_ITERATIONS
    allow_weak: bool = False

    def __post_init__(self) -> None:
        if self.iterations < OWASP_2023_ITERATIONS and not self.allow_weak:
            raise ValueError(
                f"{self.iterations} PBKDF2 iterations is below the {OWASP_2023_ITERATIONS} "
                "OWASP asks for; pass allow_weak=True only in tests."
            )

    @classmethod
    def for_tests(cls) -> PasswordHasher:
        """A deliberately cheap hasher so tests can register many users quickly."""
        return cls(iterations=TESTING_ITERATIONS, allow_weak=True)

    @property
    def _scheme(self) -> Any:
        return pbkdf2_sha256.using(rounds=self.iterations)

    def hash(self, password: str) -> str:
        return str(self._scheme.hash(password))

    def verify(self, password: str, hashed: str) -> bool:
        """Whether ``password`` matches; False (not an error) for a malformed hash."""
        try:
            return bool(pbkdf2_sha256.verify(password, hashed))
        except (ValueError, TypeError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with a weaker policy than this one."""
        try:
            # passlib's needs_update() also flags hashes *stronger* than the
            # policy, which would downgrade them at the next login.
            return bool(pbkdf2_sha256.from_string(hashed).rounds < self.iterations)
        except (ValueError, TypeError):
            return True
