"""The contract's HTTP rules, framework-free: what every integration answers the same way.

An integration reads a request with its web framework, calls these functions
and the core, and turns the :class:`Reply` it gets into its framework's
response. The rules live here once:

- error answers: :func:`error_reply` for anything raised while handling a
  request, :func:`status_reply` for the refusals a framework makes on its own
  (unknown route, wrong method, body too large);
- the caller's token: :func:`bearer_token`;
- request bodies: :func:`check_body_size` and :func:`decode_json_object`
  (64 KiB, UTF-8, a JSON object of valid Unicode), :func:`client_object` for
  payloads another transport already decoded;
- answers: :func:`json_reply`, :func:`export_reply`, :func:`openapi_document`;
- live connections: :func:`seq_from_text`, a resume point sent as text (a
  query string, ``Last-Event-ID``), and :func:`token_seconds_left`, how long
  one may stay open.

Aiohttp, for example::

    def response(reply: wire.Reply) -> web.Response:
        headers = {"Content-Type": reply.content_type, **reply.headers}
        return web.Response(status=reply.status, body=reply.body, headers=headers)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Final

from ._export import export_csv, export_json
from ._openapi import openapi_document
from ._validation import MAX_BODY_BYTES, require_object, seq_from_text
from .errors import (
    ERRORS_BY_CODE,
    Internal,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    TaskStreamError,
    Unauthorized,
)
from .models import Principal, Scan, Task, utc_now

__all__ = [
    "EXPORT_FORMATS",
    "JSON_CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "Reply",
    "bearer_token",
    "check_body_size",
    "client_object",
    "code_for_status",
    "decode_json_object",
    "error_reply",
    "export_reply",
    "json_reply",
    "openapi_document",
    "seq_from_text",
    "status_reply",
    "token_seconds_left",
]

#: The content type of every JSON answer (the contract's wire is UTF-8 JSON).
JSON_CONTENT_TYPE: Final = "application/json"

#: Content types of the export's formats, by the value of its ``format`` query parameter.
EXPORT_FORMATS: Final[Mapping[str, str]] = {
    "json": JSON_CONTENT_TYPE,
    "csv": "text/csv; charset=utf-8",
}


def _codes_by_status() -> dict[int, str]:
    """Each status's error code: the first error in :data:`ERRORS_BY_CODE` that carries it
    (409 is ``conflict``, the general one of the three)."""
    codes: dict[int, str] = {}
    for code, error in ERRORS_BY_CODE.items():
        codes.setdefault(error.status, code)
    return codes


#: The error code a status stands for, from the errors that carry it.
_CODE_BY_STATUS: Final[Mapping[int, str]] = _codes_by_status()

#: Headers a reply sets itself; those a framework error carries are not copied over.
_OWN_HEADERS: Final = frozenset({"content-type", "content-length"})


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: what an integration hands its framework to send.

    Attributes:
        status: The HTTP status.
        body: The body, encoded.
        content_type: The ``Content-Type`` header's value.
        headers: Every other header to send (``Retry-After``, ``Allow``,
            ``Content-Disposition``...), never ``Content-Type``.
    """

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_reply(value: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON answer, compact and UTF-8.

    Args:
        value: What to send: dicts, lists, strings, numbers, booleans, None.
        status: The HTTP status.
        headers: Headers to send besides ``Content-Type``.

    Returns:
        The answer.

    Raises:
        TypeError: ``value`` holds something JSON cannot carry.
    """
    return Reply(status, _encode(value), JSON_CONTENT_TYPE, dict(headers or {}))


def error_reply(exc: BaseException) -> Reply:
    """The contract's answer to an exception raised while handling a request.

    A :class:`~taskstream_core.TaskStreamError` answers its own status and
    body; ``rate_limited`` adds ``Retry-After`` (whole seconds, at least 1)
    when the error says when to retry. Any other exception is a bug: it
    answers 500 ``internal`` and says nothing about itself, so log it.

    Args:
        exc: What the handler raised.

    Returns:
        The answer; its status is 500 exactly when ``exc`` is a bug to log.
    """
    if not isinstance(exc, TaskStreamError):
        exc = Internal()
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return json_reply(exc.to_dict(), exc.status, headers)


def code_for_status(status: int) -> str:
    """The contract's error code for an error status a web framework answers on its own.

    Args:
        status: An HTTP status of 400 or more.

    Returns:
        The code of the contract's error with that status (``conflict`` for
        409); for any other status, ``invalid_request`` below 500 and
        ``internal`` from 500.
    """
    code = _CODE_BY_STATUS.get(status)
    if code is not None:
        return code
    return "invalid_request" if status < 500 else "internal"


def status_reply(
    status: int, message: str | None = None, headers: Mapping[str, str] | None = None
) -> Reply:
    """The contract's error body for a refusal the web framework made itself.

    An unknown route (404), a method a route does not take (405: its code is
    ``invalid_request``, the closest of the contract's codes), a body the
    framework found too large (413)...: each answers
    ``{"error": {"code", "message"}}`` with its status and headers, so that
    a client sees one error shape.

    Args:
        status: The framework's status, 400 or more.
        message: The framework's message; none: the status's reason phrase.
        headers: The framework's headers to keep (``Allow``...);
            ``Content-Type`` and ``Content-Length`` are dropped.

    Returns:
        The answer.
    """
    if not message:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "The request could not be handled."
    kept = {k: v for k, v in (headers or {}).items() if k.lower() not in _OWN_HEADERS}
    body = {"error": {"code": code_for_status(status), "message": message}}
    return json_reply(body, status, kept)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Args:
        authorization: The header's value; None when it is missing.

    Returns:
        The token, without surrounding spaces. It is not verified here:
        pass it to :meth:`~taskstream_core.Accounts.authenticate`.

    Raises:
        Unauthorized: the header is missing, of another scheme, or empty.
    """
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    return token


def check_body_size(size: int | None, limit: int = MAX_BODY_BYTES) -> None:
    """Refuse a request body over the contract's 64 KiB, before it is read.

    Args:
        size: The body's declared ``Content-Length``, or its length once
            read; None when unknown (a chunked body: check what was read).
        limit: The most bytes allowed.

    Raises:
        PayloadTooLarge: ``size`` is over ``limit``.
    """
    if size is not None and size > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")


def _is_unicode(value: object) -> bool:
    # A loop, not recursion: a payload nested nearly as deep as the JSON parser allows
    # would otherwise exhaust the stack here and answer 500 instead of 400.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return True


def client_object(value: object, what: str = "The request body") -> Mapping[str, Any]:
    """A decoded payload that is a JSON object of valid Unicode.

    JSON can spell a lone UTF-16 surrogate (``"\\ud800"``), which Python
    decodes into a ``str`` that no UTF-8 store can hold: such a payload is
    refused here as malformed, not deep in a store as an internal error.

    Args:
        value: The payload as a JSON parser gave it (an HTTP body, a socket
            event's payload).
        what: How the error message names the payload.

    Returns:
        ``value``, typed as the object it is.

    Raises:
        InvalidRequest: ``value`` is not an object, or holds a string (key
            or value, at any depth) that is not valid Unicode.
    """
    body = require_object(value, what)
    if not _is_unicode(body):
        raise InvalidRequest(f"{what} holds text that is not valid Unicode.")
    return body


def decode_json_object(raw: bytes) -> Mapping[str, Any]:
    """An HTTP request body: UTF-8 JSON text holding an object.

    UTF-16 and UTF-32 texts are refused, as any bytes that are not UTF-8; a
    leading UTF-8 byte order mark is ignored.

    Args:
        raw: The body as received.

    Returns:
        The object.

    Raises:
        PayloadTooLarge: ``raw`` is over 64 KiB.
        InvalidRequest: ``raw`` is empty, not UTF-8, not JSON (or nested too
            deep for the parser), not an object, or holds text that is not
            valid Unicode.
    """
    check_body_size(len(raw))
    if not raw:
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        value = json.loads(raw.decode("utf-8-sig"))  # a leading BOM is ignored (RFC 8259)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidRequest("The request body is not valid JSON in UTF-8.") from None
    return client_object(value)


def export_reply(scan: Scan, tasks: Iterable[Task], export_format: str | None) -> Reply:
    """A scan's export as a download (``Content-Disposition: attachment``).

    Check the caller's access first (:meth:`~taskstream_core.TaskStream.export`
    answers the scan and its tasks), then call this: a caller who may not
    export learns nothing from a format error.

    Args:
        scan: The exported scan.
        tasks: Its tasks, oldest first.
        export_format: The ``format`` query parameter: ``"csv"``, ``"json"``,
            or None / empty for JSON.

    Returns:
        The answer: CSV with a header row (:func:`~taskstream_core.export_csv`)
        or JSON ``{"scan", "tasks"}`` (:func:`~taskstream_core.export_json`),
        named ``scan-<id>.<format>``.

    Raises:
        InvalidRequest: ``export_format`` is another value.
    """
    chosen = export_format or "json"
    if chosen not in EXPORT_FORMATS:
        raise InvalidRequest("'format' must be 'csv' or 'json'.")
    text = export_csv(tasks) if chosen == "csv" else export_json(scan, tasks)
    disposition = f'attachment; filename="scan-{scan.id}.{chosen}"'
    return Reply(200, text.encode(), EXPORT_FORMATS[chosen], {"Content-Disposition": disposition})


def token_seconds_left(
    principal: Principal, leeway: timedelta, now: datetime | None = None
) -> float | None:
    """How long a live connection opened with the caller's token may stay open.

    A live connection (a socket, an event stream) lives no longer than the
    token it was opened with: it ends when the token stops being accepted,
    its expiry plus the issuer's leeway, and the client reconnects with a
    fresh token.

    Args:
        principal: The caller, as :meth:`~taskstream_core.Accounts.authenticate`
            answered it.
        leeway: How long past its expiry a token is accepted
            (:attr:`~taskstream_core.TokenIssuer.leeway`).
        now: The current time; none: the system clock.

    Returns:
        Seconds left, 0 or more; None when the caller's token has no expiry.
    """
    if principal.token_expires_at is None:
        return None
    ends = principal.token_expires_at + leeway
    return max(0.0, (ends - (now or utc_now())).total_seconds())
