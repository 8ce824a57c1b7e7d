"""Client payloads as the wire allows them: a JSON object whose text is valid Unicode.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``), which Python decodes
into a ``str`` that no UTF-8 store can hold. The contract's wire is UTF-8, so
such a payload is refused here as malformed (400 ``invalid_request``) instead
of failing deep in a store as an internal error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from taskstream_core import InvalidRequest
from taskstream_core.validation import require_object

__all__ = ["client_object", "decode_json_object"]


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
    """A decoded payload that is a JSON object of valid Unicode, or ``InvalidRequest``."""
    body = require_object(value, what)
    if not _is_unicode(body):
        raise InvalidRequest(f"{what} holds text that is not valid Unicode.")
    return body


def decode_json_object(raw: bytes) -> Mapping[str, Any]:
    """An HTTP body: JSON text holding an object (empty, malformed or other JSON is refused)."""
    if not raw:
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    return client_object(body)
