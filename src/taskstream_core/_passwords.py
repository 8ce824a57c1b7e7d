"""Password hashing as a policy object around passlib's ``pbkdf2_sha256``.

passlib comes from libpass, its maintained fork (the same ``passlib`` import).

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
    """The password policy: PBKDF2-HMAC-SHA256 with a fixed number of iterations.

    The cost is checked when the hasher is made, so a weak policy fails at
    start-up. Hashing is slow by design: call it off the event loop
    (:class:`~taskstream_core.Accounts` does).

    Attributes:
        iterations: PBKDF2 iterations for new hashes; OWASP's figure by default.
        allow_weak: Allow fewer iterations than OWASP's figure (tests only).

    Raises:
        ValueError: ``iterations`` is below OWASP's figure without ``allow_weak``.

    Example:
        ```python
        hasher = PasswordHasher()
        hashed = hasher.hash("correct horse battery")
        assert hasher.verify("correct horse battery", hashed)
        ```
    """

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
        """Make a deliberately cheap hasher so tests can register many users quickly.

        Returns:
            A hasher with :data:`TESTING_ITERATIONS`; never use it in production.
        """
        return cls(iterations=TESTING_ITERATIONS, allow_weak=True)

    @property
    def _scheme(self) -> Any:
        return pbkdf2_sha256.using(rounds=self.iterations)

    def hash(self, password: str) -> str:
        """Hash a password with a fresh salt.

        Args:
            password: The password.

        Returns:
            The hash in passlib's modular crypt format (``$pbkdf2-sha256$...``).
        """
        return str(self._scheme.hash(password))

    def verify(self, password: str, hashed: str) -> bool:
        """Check a password against a stored hash, whatever its iterations.

        Args:
            password: The password to check.
            hashed: A hash :meth:`hash` made.

        Returns:
            Whether ``password`` matches; False (not an error) for a malformed hash.
        """
        try:
            return bool(pbkdf2_sha256.verify(password, hashed))
        except (ValueError, TypeError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Tell whether a stored hash should be replaced at the next successful login.

        Args:
            hashed: A stored hash.

        Returns:
            True if it has fewer iterations than this policy, or cannot be read;
            a stronger hash is kept.
        """
        try:
            # passlib's needs_update() also flags hashes *stronger* than the
            # policy, which would downgrade them at the next login.
            return bool(pbkdf2_sha256.from_string(hashed).rounds < self.iterations)
        except (ValueError, TypeError):
            return True
