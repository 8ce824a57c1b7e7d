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
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, Mapping):
        return all(_is_unicode(k) and _is_unicode(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_unicode(v) for v in value)
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
