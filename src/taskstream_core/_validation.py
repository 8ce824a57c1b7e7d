"""The contract's input rules, applied to raw decoded JSON.

Each function takes whatever a client sent (``object``: the value may be of
any JSON type, or missing) and returns a typed value or raises
``InvalidRequest`` naming the field (an id too long for any object is
``NotFound`` instead: see :func:`check_id`). The service calls them on every
argument, so a library user calling the service directly meets the same rules
as a client of the reference server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from .errors import InvalidRequest, NotFound
from .models import Role, TaskStatus

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DESCRIPTION",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_PAGE_LIMIT",
    "MAX_PASSWORD",
    "MAX_REASON",
    "MAX_SCAN_NAME",
    "MAX_TASK_CONTENT",
    "MIN_PASSWORD",
    "check_decision",
    "check_description",
    "check_id",
    "check_idempotency_key",
    "check_limit",
    "check_password",
    "check_reason",
    "check_role",
    "check_scan_name",
    "check_seq",
    "check_status_filter",
    "check_task_content",
    "check_username",
    "is_username",
    "require_object",
    "seq_from_text",
]

#: The largest request body the contract accepts, in bytes (64 KiB).
MAX_BODY_BYTES: Final = 64 * 1024
#: The shortest password accepted, in characters.
MIN_PASSWORD: Final = 8
#: The longest password accepted, in characters.
MAX_PASSWORD: Final = 256
#: The longest scan name, in characters.
MAX_SCAN_NAME: Final = 200
#: The longest scan description, in characters.
MAX_DESCRIPTION: Final = 2_000
#: The longest task content, in characters.
MAX_TASK_CONTENT: Final = 5_000
#: The longest reason given with a decision, in characters.
MAX_REASON: Final = 1_000
#: The longest idempotency key, in characters.
MAX_IDEMPOTENCY_KEY: Final = 100
#: Tasks in a page when the client asks for no ``limit``.
DEFAULT_PAGE_LIMIT: Final = 100
#: The largest ``limit`` a client may ask for.
MAX_PAGE_LIMIT: Final = 500
_MAX_ID: Final = 64

_USERNAME = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
# ASCII digits only: str.isdigit() also takes "²" and "--5", which int() then refuses.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_T = TypeVar("_T")


def require_object(body: object, what: str = "The request body") -> Mapping[str, Any]:
    """A JSON object, or ``InvalidRequest``: arrays, strings and null are refused."""
    if not isinstance(body, Mapping):
        raise InvalidRequest(f"{what} must be a JSON object.")
    return body


def _string(value: object, field: str, *, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{field}' must be a string.")
    if not low <= len(value) <= high:
        if low == 0:
            raise InvalidRequest(f"'{field}' must be at most {high} characters.")
        raise InvalidRequest(f"'{field}' must be {low} to {high} characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no store can keep it as text
        raise InvalidRequest(f"'{field}' is not valid Unicode text.") from None
    return value


def _optional(value: object, field: str, *, high: int) -> str | None:
    return None if value is None else _string(value, field, low=0, high=high)


def check_username(value: object) -> str:
    """3–32 of ``A–Z a–z 0–9 _ . -``."""
    name = _string(value, "username", low=3, high=32)
    if not _USERNAME.fullmatch(name):
        raise InvalidRequest("'username' may use only letters, digits, '_', '.' and '-'.")
    return name


def is_username(value: str) -> bool:
    """Whether ``value`` has the shape of a username (3–32 of ``A–Z a–z 0–9 _ . -``)."""
    return len(value) <= 32 and _USERNAME.fullmatch(value) is not None


def check_password(value: object) -> str:
    return _string(value, "password", low=MIN_PASSWORD, high=MAX_PASSWORD)


def check_role(value: object) -> Role:
    """``worker`` when absent; ``admin`` or ``worker`` otherwise."""
    if value is None:
        return Role.WORKER
    if isinstance(value, str):
        try:
            return Role(value)
        except ValueError:
            pass
    raise InvalidRequest("'role' must be 'admin' or 'worker'.")


def check_scan_name(value: object) -> str:
    return _string(value, "name", low=1, high=MAX_SCAN_NAME)


def check_description(value: object) -> str:
    return _optional(value, "description", high=MAX_DESCRIPTION) or ""


def check_task_content(value: object) -> str:
    return _string(value, "content", low=1, high=MAX_TASK_CONTENT)


def check_reason(value: object) -> str | None:
    return _optional(value, "reason", high=MAX_REASON) or None


def check_idempotency_key(value: object) -> str | None:
    key = _optional(value, "idempotency_key", high=MAX_IDEMPOTENCY_KEY)
    return key or None


def check_decision(value: object) -> TaskStatus:
    if value in (TaskStatus.VALIDATED.value, TaskStatus.REFUSED.value):
        return TaskStatus(value)
    raise InvalidRequest("'decision' must be 'validated' or 'refused'.")


def check_status_filter(value: object) -> TaskStatus | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return TaskStatus(value)
        except ValueError:
            pass
    raise InvalidRequest("'status' must be 'pending', 'validated' or 'refused'.")


def check_id(value: object, field: str) -> str:
    """An object id as a client sends it: a non-empty string.

    No scan or task has an id longer than 64 characters, so such an id names
    none: it answers what an unknown one does (contract: "An unknown scan or
    task: 404"), without asking the store.

    Args:
        value: The client's value.
        field: Its name: ``scan_id``, or ``task_id`` / ``after_task_id``.

    Returns:
        The id.

    Raises:
        InvalidRequest: Not a string, empty, or not valid Unicode.
        NotFound: Longer than 64 characters ("No such scan." or "No such
            task.", as the store says for an unknown one).
    """
    if isinstance(value, str) and len(value) > _MAX_ID:
        raise NotFound("No such task." if field.endswith("task_id") else "No such scan.")
    return _string(value, field, low=1, high=_MAX_ID)


def _integer(value: object, field: str) -> int:
    # bool is an int in Python but never a number on the wire.
    if isinstance(value, bool):
        raise InvalidRequest(f"'{field}' must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise InvalidRequest(f"'{field}' must be an integer.")


def check_limit(value: object) -> int:
    """Page size: 1–500, 100 when absent. Query strings arrive as text."""
    if value is None or value == "":
        return DEFAULT_PAGE_LIMIT
    limit = _integer(value, "limit")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_PAGE_LIMIT}.")
    return limit


def check_seq(value: object, field: str = "since_seq") -> int | None:
    """A non-negative sequence number as a JSON number, or None when absent.

    Text is refused, as ``true`` and ``2.0`` are: a transport that carries the
    seq as text (a query string, a header) reads it with :func:`seq_from_text`.
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"'{field}' must be an integer.")
    if not 0 <= value < 2**63:
        raise InvalidRequest(f"'{field}' must be a non-negative integer.")
    return value


def seq_from_text(text: str | None, field: str = "since_seq") -> int | None:
    """Read a resume point sent as text: a query string's value, a ``Last-Event-ID``.

    Args:
        text: The text as it arrived; None when absent.
        field: The name an error message gives it.

    Returns:
        The seq, or None when ``text`` is None or empty.

    Raises:
        InvalidRequest: ``text`` is not ASCII digits of a seq (0 to 2**63 - 1).
    """
    if text is None or text == "":
        return None
    return check_seq(_integer(text, field), field)
