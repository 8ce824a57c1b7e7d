"""The error tree: every contract code with its HTTP status and body shape."""

from __future__ import annotations

import pytest

from taskstream_core import TaskStreamError
from taskstream_core.errors import (
    ERRORS_BY_CODE,
    AlreadyDecided,
    Conflict,
    Forbidden,
    Internal,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ScanClosed,
    Unauthorized,
    Unavailable,
)

from .test_models import pending_task

#: CONTRACT.md §2: every error code and its status.
CONTRACT_ERRORS: list[tuple[type[TaskStreamError], str, int]] = [
    (InvalidRequest, "invalid_request", 400),
    (Unauthorized, "unauthorized", 401),
    (Forbidden, "forbidden", 403),
    (NotFound, "not_found", 404),
    (Conflict, "conflict", 409),
    (ScanClosed, "scan_closed", 409),
    (AlreadyDecided, "already_decided", 409),
    (PayloadTooLarge, "payload_too_large", 413),
    (RateLimited, "rate_limited", 429),
    (Unavailable, "unavailable", 503),
    (Internal, "internal", 500),
]


@pytest.mark.parametrize(("cls", "code", "status"), CONTRACT_ERRORS)
def test_each_error_carries_its_contract_code_and_status(
    cls: type[TaskStreamError], code: str, status: int
) -> None:
    """Each error class knows the contract's code and HTTP status."""
    assert cls.code == code
    assert cls.status == status
    assert issubclass(cls, TaskStreamError)


@pytest.mark.parametrize(("cls", "code", "status"), CONTRACT_ERRORS)
def test_each_error_body_is_the_contracts_error_object(
    cls: type[TaskStreamError], code: str, status: int
) -> None:
    """to_dict gives ``{"error": {"code", "message"}}`` with a default or the given message."""
    del status
    default = cls()
    assert default.to_dict() == {"error": {"code": code, "message": default.message}}
    assert default.message
    assert str(default) == default.message
    custom = cls("Something specific.")
    said = default.message if cls is Internal else "Something specific."
    assert custom.to_dict() == {"error": {"code": code, "message": said}}


def test_an_internal_errors_message_stays_in_the_log() -> None:
    """``internal`` always answers its fixed sentence: its message may name stored data."""
    bug = Internal("Stored task 'abc' is missing the field 'worker_username'.")
    assert "worker_username" in bug.message
    assert bug.to_dict() == {"error": {"code": "internal", "message": Internal.default_message}}


def test_errors_by_code_maps_exactly_the_contracts_codes() -> None:
    """ERRORS_BY_CODE holds every contract code and nothing else, each to its class."""
    assert {code: cls for cls, code, _ in CONTRACT_ERRORS} == ERRORS_BY_CODE


def test_the_409_errors_are_conflicts() -> None:
    """scan_closed and already_decided are kinds of Conflict, so a catch-all 409 works."""
    assert issubclass(ScanClosed, Conflict)
    assert issubclass(AlreadyDecided, Conflict)
    assert not issubclass(Conflict, ScanClosed)


def test_already_decided_carries_the_winners_task() -> None:
    """AlreadyDecided exposes the stored task and adds it to its body."""
    task = pending_task()
    error = AlreadyDecided(task=task)
    assert error.task == task
    assert error.to_dict() == {
        "error": {"code": "already_decided", "message": error.message, "task": task.to_dict()}
    }
    assert "task" not in AlreadyDecided().to_dict()["error"]


def test_rate_limited_says_when_to_retry() -> None:
    """RateLimited carries retry_after in seconds, None when unknown."""
    assert RateLimited(retry_after=12.5).retry_after == 12.5
    assert RateLimited().retry_after is None
