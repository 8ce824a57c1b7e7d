"""A client made from a token alone (no ``user``) recognises its own earlier decisions and
undos, before and after a token refresh; against the real server process."""

from __future__ import annotations

import aiohttp
import pytest

from taskstream_core.client import TaskStreamClient
from taskstream_core.models import TaskStatus
from tests.client.helpers import PASSWORD, unique_name
from tests.support import TEST_INVITE_CODE, ServerProcess

pytestmark = pytest.mark.contract


async def test_a_token_made_client_counts_its_own_repeated_decision_and_undo_as_done(
    server: ServerProcess, worker: TaskStreamClient
) -> None:
    """A repeated ``decide()`` or ``undo()`` of a client built from a token, whose ``user`` is
    None, finds its own outcome stored and succeeds, also once the token was refreshed."""
    name = unique_name("admin")
    made = await TaskStreamClient.register(
        server.base_url, name, PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    await made.close()
    first_token = made.token
    refresh = TaskStreamClient.password_refresh(server.base_url, name, PASSWORD)
    admin = TaskStreamClient(server.base_url, first_token, token_refresh=refresh)
    async with admin:
        assert admin.user is None
        scan = await admin.create_scan("token made")
        decided = await worker.submit(scan.id, "decided twice")
        undone = await worker.submit(scan.id, "undone twice")

        assert (await admin.decide(decided.id, "validated")).status is TaskStatus.VALIDATED
        again = await admin.decide(decided.id, "validated")  # a retry finds it stored
        assert again.status is TaskStatus.VALIDATED

        await admin.decide(undone.id, "refused")
        assert (await admin.undo(undone.id)).status is TaskStatus.PENDING
        assert (await admin.undo(undone.id)).status is TaskStatus.PENDING

        # The first token is logged out elsewhere: the client refreshes it, and still
        # recognises its own outcomes.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                server.base_url + "/api/auth/logout",
                headers={"Authorization": f"Bearer {first_token}"},
            ) as response,
        ):
            assert response.status == 204
        again = await admin.decide(decided.id, "validated")
        assert again.status is TaskStatus.VALIDATED
        assert admin.token != first_token
        assert (await admin.undo(undone.id)).status is TaskStatus.PENDING
        assert admin.user is None
