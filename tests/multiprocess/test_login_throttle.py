"""The login throttle across two server processes on one store.

Contract: "After 5 failures for one username within 15 minutes, further tries — even with the
right password — answer 429 `rate_limited`" — for the deployment, not per process: the
processes share nothing but the store (no lock in common), so the limit must hold there.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from tests.contract.helpers import assert_error
from tests.support import Api, ServerProcess

from .cluster import PASSWORD, Cluster


async def test_parallel_wrong_logins_over_two_processes_are_checked_five_times(
    cluster: Cluster, a: ServerProcess, b: ServerProcess
) -> None:
    """Issue #16 finding 2: sixty wrong passwords sent at once, half to each process, get five
    401s between them and 429 for the rest; then the right password is refused on both."""
    user = cluster.register("burst")
    async with aiohttp.ClientSession() as session:
        apis = [Api(a.base_url, session), Api(b.base_url, session)]
        replies = await asyncio.gather(
            *(
                apis[i % 2].post(
                    "/api/auth/login", {"username": user.username, "password": f"guess-{i:04d}"}
                )
                for i in range(60)
            )
        )
        assert Counter(r.status for r in replies) == {401: 5, 429: 55}
        for api in apis:
            right = await api.post(
                "/api/auth/login", {"username": user.username, "password": PASSWORD}
            )
            assert_error(right, 429, "rate_limited")
