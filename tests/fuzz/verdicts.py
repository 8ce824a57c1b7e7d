"""What every answer to a fuzz case must be, by CONTRACT.md alone.

An HTTP answer is below 500; an error is exactly the contract's body
``{"error": {"code", "message"}}`` as JSON, with a code from the contract's list
and the status the contract gives that code. A Socket.IO ack is ``{"ok": true,
...}`` or ``{"ok": false, "error": {...}}`` with a contract code. The codes
and statuses are copied from the contract here, not imported from the code.
"""

from __future__ import annotations

from typing import Any, Final

import requests

__all__ = ["CLAIM_FIELDS", "STATUS_OF", "ack_error", "error_code", "reply_error"]

#: CONTRACT.md §2: each error code and its status. ``internal`` is left out: "never expected".
STATUS_OF: Final = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "scan_closed": 409,
    "already_decided": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
}


#: CONTRACT.md §4.2: the Claim object, which a ``conflict`` about a held task carries.
CLAIM_FIELDS: Final = frozenset({"task_id", "admin_id", "admin_username", "expires_at"})


def error_code(error: object, where: str) -> str:
    """The code of a contract ``error`` object (asserting its shape)."""
    assert isinstance(error, dict), f"{where}: the error is not an object: {error!r}"
    # already_decided may carry the task as decided (the OpenAPI document says so); a conflict
    # about a task another admin holds carries that claim (§4.2).
    assert {"code", "message"} <= error.keys() <= {"code", "message", "task", "claim"}, where
    assert isinstance(error["message"], str), where
    assert error["message"], where
    code = error["code"]
    assert code in STATUS_OF, f"{where}: {code!r} is not a contract code"
    if "claim" in error:
        assert code == "conflict", f"{where}: a claim with {code!r}"
        assert isinstance(error["claim"], dict), where
        assert error["claim"].keys() == CLAIM_FIELDS, f"{where}: {error['claim']!r}"
    if "task" in error:
        assert code == "already_decided", f"{where}: a task with {code!r}"
    return str(code)


def reply_error(response: requests.Response, ok: frozenset[int]) -> str | None:
    """The contract code of an HTTP error answer, or None for one of the ``ok`` statuses."""
    url = response.request.path_url
    where = f"{response.request.method} {url[:300]}{'...' if len(url) > 300 else ''}"
    where += f" -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code in ok:
        return None
    assert response.status_code >= 400, f"{where}: not an expected success"
    assert response.headers.get("Content-Type", "").startswith("application/json"), where
    body: Any = response.json()
    assert isinstance(body, dict), where
    assert set(body) == {"error"}, f"{where}: {body!r}"
    code = error_code(body["error"], where)
    if response.status_code == 405:
        # A method the path does not take: the server keeps HTTP's 405 (with Allow) and
        # names it invalid_request, the closest contract code (tests/contract checks this).
        assert code == "invalid_request", where
        assert response.headers.get("Allow"), where
    else:
        assert STATUS_OF[code] == response.status_code, f"{where}: {code} needs {STATUS_OF[code]}"
    return code


def ack_error(ack: object, event: str) -> str | None:
    """The contract code of a refused ack, or None for ``{"ok": true, ...}``."""
    assert isinstance(ack, dict), f"{event}: the ack is not an object: {ack!r}"
    if ack.get("ok") is True:
        return None
    assert ack.get("ok") is False, f"{event}: {ack!r}"
    assert set(ack) == {"ok", "error"}, f"{event}: {ack!r}"
    return error_code(ack["error"], event)
