"""Issue #16 finding 11: a forged cursor whose number no store can hold is refused with 400.

Contract: "Every error is a 4xx/5xx status with the body {"error": ...}" and `internal` (500)
is "never expected". A cursor is ``base64url("c<created_seq>")``; one forged with a number
past SQLite's (and BSON's) 64-bit integers used to reach the store and fail there.
"""

from __future__ import annotations

import base64

import pytest

from tests.contract.helpers import Users, assert_error
from tests.support import Api


def forged(text: str) -> str:
    """A cursor carrying ``text``, encoded the way the server encodes its own."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "number",
    [str(2**63), "9" * 19, "9" * 28, "0" * 5 + str(2**64), "١٢"],
    ids=["2**63", "19-nines", "28-nines", "padded-2**64", "non-ascii-digits"],
)
async def test_a_cursor_out_of_range_is_invalid_request(
    api: Api, users: Users, scan_id: str, number: str
) -> None:
    """A cursor whose number is above 2**63-1 (or not ASCII digits) answers 400
    invalid_request, never 500."""
    reply = await api.get(
        f"/api/scans/{scan_id}/tasks",
        params={"cursor": forged("c" + number)},
        token=users.admin.token,
    )
    assert_error(reply, 400, "invalid_request")


async def test_the_largest_cursor_is_an_empty_last_page(
    api: Api, users: Users, scan_id: str
) -> None:
    """A cursor at 2**63-1 is in range: an empty page with no next cursor."""
    reply = await api.get(
        f"/api/scans/{scan_id}/tasks",
        params={"cursor": forged(f"c{2**63 - 1}")},
        token=users.admin.token,
    )
    assert reply.status == 200, reply.text
    assert reply.body == {"tasks": [], "next_cursor": None}
