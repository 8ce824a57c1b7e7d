"""The contract's login throttle under concurrency, on every store adapter.

CONTRACT.md §2: "After 5 failures for one username within 15 minutes, further tries — even
with the right password — answer 429 `rate_limited`". Here logins race on one store, and on
two stores sharing one database (as two server processes do); the passwords actually verified
are counted, since each verification is one guess an attacker got checked.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import pytest

from taskstream_core import Accounts, Store, TokenIssuer
from taskstream_core.errors import RateLimited
from tests.security.test_login import RecordingHasher
from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET

from .adapters import StoreAdapter
from .conftest import StoreFactory

PASSWORD = "the-right-password"


def accounts_on(store: Store, hasher: RecordingHasher) -> Accounts:
    """Accounts on ``store`` with a cheap hasher that notes every verification."""
    return Accounts(
        store, TokenIssuer(TEST_JWT_SECRET), hasher=hasher, admin_invite_code=TEST_INVITE_CODE
    )


def outcomes(results: Sequence[object]) -> Counter[str]:
    """How many logins ended in each way."""
    return Counter(type(r).__name__ for r in results)


async def test_fifty_concurrent_wrong_logins_verify_five_and_lock_the_right_one(
    store: Store,
) -> None:
    """Fifty wrong passwords at once: five are checked (401), the rest answer RateLimited
    unchecked, and then the right password answers RateLimited too."""
    hasher = RecordingHasher(iterations=1_000, allow_weak=True)
    accounts = accounts_on(store, hasher)
    await accounts.register("victim", PASSWORD)
    hasher.verified.clear()
    results = await asyncio.gather(
        *(accounts.login("victim", f"guess-{i:04d}") for i in range(50)), return_exceptions=True
    )
    assert outcomes(results) == {"Unauthorized": 5, "RateLimited": 45}
    assert len(hasher.verified) == 5
    with pytest.raises(RateLimited):
        await accounts.login("victim", PASSWORD)
    assert len(hasher.verified) == 5


async def test_wrong_logins_through_two_stores_on_one_database_verify_five(
    store_adapter: StoreAdapter, make_store: StoreFactory
) -> None:
    """Two Accounts on two stores of one database (two processes, no lock in common): fifty
    wrong passwords spread over both verify five in all, and the right one is then locked."""
    if not store_adapter.persistent:
        pytest.skip("this adapter's data is its process's own")
    hasher = RecordingHasher(iterations=1_000, allow_weak=True)
    first = accounts_on(await make_store(), hasher)
    second = accounts_on(await make_store(), hasher)
    await first.register("victim", PASSWORD)
    hasher.verified.clear()
    results = await asyncio.gather(
        *((first, second)[i % 2].login("victim", f"guess-{i:04d}") for i in range(50)),
        return_exceptions=True,
    )
    assert outcomes(results) == {"Unauthorized": 5, "RateLimited": 45}
    assert len(hasher.verified) == 5
    for accounts in (first, second):
        with pytest.raises(RateLimited):
            await accounts.login("victim", PASSWORD)
