"""One exception tree whose leaves carry the contract's error code and HTTP status.

Every layer (service, store adapters, HTTP routes, Socket.IO acks) raises or
catches these, so an error means the same thing wherever it surfaces: the
HTTP handler answers ``exc.status`` with ``exc.to_dict()`` and a Socket.IO ack
answers ``{"ok": False, **exc.to_dict()}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .models import Claim, Task

__all__ = [
    "ERRORS_BY_CODE",
    "AlreadyDecided",
    "Conflict",
    "Forbidden",
    "Internal",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ScanClosed",
    "TaskStreamError",
    "Unauthorized",
    "Unavailable",
]


class TaskStreamError(Exception):
    """Root of every error TaskStream raises on purpose.

    Each subclass stands for one of the contract's error codes, so an
    integration maps any of them the same way.

    Args:
        message: What went wrong, for the client to show; the class's
            ``default_message`` when None.

    Attributes:
        code: The contract's error code (``"not_found"``...).
        status: The HTTP status that goes with it.
        default_message: The message when none is given.
        message: This error's message.

    Example:
        ```python
        try:
            await app.submit_task(principal, scan_id, content)
        except TaskStreamError as exc:
            return exc.status, exc.to_dict()
        ```
    """

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong on our side."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The contract's error body.

        Returns:
            ``{"error": {"code": ..., "message": ...}}``.
        """
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(TaskStreamError):
    """Malformed JSON, a wrong type, a missing field or a length out of bounds."""

    code = "invalid_request"
    status = 400
    default_message = "The request is not valid."


class Unauthorized(TaskStreamError):
    """No credentials, or credentials that do not prove who the caller is."""

    code = "unauthorized"
    status = 401
    default_message = "Authentication is required."


class Forbidden(TaskStreamError):
    """The caller is known but its role or ownership does not allow this."""

    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(TaskStreamError):
    """No such scan, task or route."""

    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(TaskStreamError):
    """The request clashes with what is stored (a username taken, a task another admin holds...).

    Args:
        message: What went wrong; the default message when None.
        claim: The claim in the way, when another admin holds the task.

    Attributes:
        claim: The other admin's claim on the task, or None.
    """

    code = "conflict"
    status = 409
    default_message = "This conflicts with existing data."

    def __init__(self, message: str | None = None, *, claim: Claim | None = None) -> None:
        super().__init__(message)
        self.claim = claim

    def to_dict(self) -> dict[str, Any]:
        """The contract's error body, with the claim in the way when there is one.

        Returns:
            ``{"error": {"code", "message"}}``, plus ``claim`` when known.
        """
        body = super().to_dict()
        if self.claim is not None:
            body["error"]["claim"] = self.claim.to_dict()
        return body


class ScanClosed(Conflict):
    """A submission to a scan that no longer accepts tasks."""

    code = "scan_closed"
    default_message = "This scan is closed."


class AlreadyDecided(Conflict):
    """A decision on a task another decision already settled.

    It carries the task as stored so a client can show who decided first.

    Args:
        message: What went wrong; the default message when None.
        task: The task as the first decision left it, when known.

    Attributes:
        task: The task as the first decision left it, or None.
    """

    code = "already_decided"
    default_message = "This task has already been decided."

    def __init__(self, message: str | None = None, *, task: Task | None = None) -> None:
        super().__init__(message)
        self.task = task

    def to_dict(self) -> dict[str, Any]:
        """The contract's error body, with the stored task when known.

        Returns:
            ``{"error": {"code", "message", "task"}}`` (``task`` only when known).
        """
        body = super().to_dict()
        if self.task is not None:
            body["error"]["task"] = self.task.to_dict()
        return body


class PayloadTooLarge(TaskStreamError):
    """A request body over the contract's 64 KiB."""

    code = "payload_too_large"
    status = 413
    default_message = "The request body is too large."


class RateLimited(TaskStreamError):
    """Too many attempts; ``retry_after`` says in how many seconds to try again.

    Args:
        message: What went wrong; the default message when None.
        retry_after: Seconds until an attempt may succeed, when known.

    Attributes:
        retry_after: Seconds until an attempt may succeed, or None; an HTTP
            answer sends it as ``Retry-After``.
    """

    code = "rate_limited"
    status = 429
    default_message = "Too many attempts; try again later."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(TaskStreamError):
    """The store or the broker cannot be reached right now; the caller may retry."""

    code = "unavailable"
    status = 503
    default_message = "The service is temporarily unavailable; retry later."


class Internal(TaskStreamError):
    """A bug: never expected, always logged.

    Its ``message`` is for the log (it may name stored data); the body a
    client gets says only :attr:`default_message`.
    """

    def to_dict(self) -> dict[str, Any]:
        """The contract's error body, with the fixed message.

        Returns:
            ``{"error": {"code": "internal", "message": default_message}}``.
        """
        return {"error": {"code": self.code, "message": self.default_message}}


#: Every error class by its contract code (``"not_found"`` → :class:`NotFound`...).
ERRORS_BY_CODE: dict[str, type[TaskStreamError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        ScanClosed,
        AlreadyDecided,
        PayloadTooLarge,
        RateLimited,
        Unavailable,
        Internal,
    )
}
