"""Hypothesis strategies for what a hostile or broken client sends.

Values are built to sit where parsers and validators break: JSON numbers
past int64 and float range (written as raw ``NaN``/``Infinity``/``1e999``
text, which Python's parser accepts), strings beyond the contract's limits,
text with lone surrogates, NUL, right-to-left marks and emoji, nesting near
and past the parser's depth, fields missing or of the wrong type, unknown
fields, invalid UTF-8 and bodies that are not JSON at all.

A field strategy mixes the odd values with a valid one, so that many cases
get past the first check and reach the deeper ones (the store, the rules
about state) instead of all being refused at the door.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from hypothesis import strategies as st

__all__ = [
    "CONTENT_TYPES",
    "MISSING",
    "body_object",
    "deep_nesting",
    "field",
    "json_body",
    "json_values",
    "long_text",
    "odd_text",
    "raw_body",
    "raw_json_text",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: A field left out of the object altogether.
MISSING: Final = _Missing()

_ODD_CHARACTERS: Final = (
    "\x00",  # NUL
    "\ud800",  # a lone surrogate: no UTF-8 encoding exists
    "\udfff",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\ufeff",  # BOM
    "\ufffd",
    "\U0001f600",  # an emoji, outside the BMP
    "\u0301",  # a combining accent
    "\n",
    "\t",
    "'",
    '"',
    "\\",
    "%00",
    "<script>",
    "ﾠ",
)

_BIG_INTEGERS: Final = (
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    -(10**30),
)
_EDGE_FLOATS: Final = (
    1e308,
    -1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    5e-324,
    -0.0,
    0.5,
)


def odd_text() -> st.SearchStrategy[str]:
    """Short text of any code point, surrogates included, salted with awkward characters."""
    return st.one_of(
        st.text(max_size=12),
        st.lists(st.sampled_from(_ODD_CHARACTERS) | st.characters(), max_size=8).map("".join),
        st.sampled_from(["", " ", "null", "true", "0", "-1", "1e999", "NaN", "admin", "worker"]),
    )


def long_text() -> st.SearchStrategy[str]:
    """Text just over each of the contract's length limits, and far over them."""
    return st.builds(
        lambda piece, size: (piece * size)[:size],
        st.sampled_from(["a", "é", "\U0001f600", "\x00", "ab\u202e"]),
        st.sampled_from([33, 101, 201, 257, 1001, 2001, 5001, 20_000]),
    )


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(_BIG_INTEGERS),
        st.floats(),
        st.sampled_from(_EDGE_FLOATS),
        odd_text(),
    )


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value (numbers out of range included), nested a few levels."""
    return st.recursive(
        _scalars() | long_text(),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(odd_text(), children, max_size=3)
        ),
        max_leaves=8,
    )


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One field of a payload: valid, of any other JSON value, or missing."""
    return st.one_of(valid, valid, json_values(), st.just(MISSING))


def body_object(fields: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A payload object: the named fields (each possibly missing), plus unknown extra ones."""

    def assemble(values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in extra.items() if k not in values}
        body.update({k: v for k, v in values.items() if v is not MISSING})
        return body

    return st.builds(
        assemble,
        st.fixed_dictionaries(dict(fields)),
        st.dictionaries(odd_text(), json_values(), max_size=2),
    )


def deep_nesting() -> st.SearchStrategy[str]:
    """JSON text nested from a little to far past any parser's recursion limit."""
    return st.builds(
        lambda depth, kind, closed: (
            ("[" * depth + ("]" * depth if closed else ""))
            if kind == "list"
            else ('{"a":' * depth + "1" + ("}" * depth if closed else ""))
        ),
        st.sampled_from([2, 100, 850, 900, 950, 990, 1000, 1100, 5000, 10_000]),
        st.sampled_from(["list", "object"]),
        st.booleans(),
    )


def _wrapped_deep(key: str) -> st.SearchStrategy[str]:
    return deep_nesting().map(lambda inner: '{"' + key + '":' + inner + "}")


def raw_json_text(objects: st.SearchStrategy[Any], keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    """JSON *text* (not necessarily valid) around ``objects``: Python's encoder with NaN and
    Infinity left as they are, escapes or raw characters, and hand-made malformed shapes."""
    return st.one_of(
        st.builds(
            lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only, allow_nan=True),
            objects,
            st.booleans(),
        ),
        st.builds(lambda value: json.dumps(value, allow_nan=True), json_values()),
        deep_nesting(),
        st.sampled_from(keys).flatmap(_wrapped_deep),
        st.sampled_from(keys).map(lambda key: '{"' + key + '":1' + "0" * 5000 + "}"),
        st.sampled_from(keys).map(lambda key: '{"' + key + '":1e999}'),
        st.sampled_from(keys).map(lambda key: '{"' + key + '":-Infinity}'),
        st.sampled_from(keys).map(lambda key: '{"' + key + '":"\\ud800"}'),
        st.sampled_from(keys).map(lambda key: '{"' + key + '":"a", "' + key + '":2}'),
        st.builds(
            lambda text, cut: text[:cut],
            objects.map(lambda value: json.dumps(value, allow_nan=True)),
            st.integers(0, 40),
        ),
        st.sampled_from(["{", "}", "[", "{,}", '{"a":}', "{'a': 1}", "nul", "01", "", " ", "\x00"]),
    )


def raw_body(objects: st.SearchStrategy[Any], keys: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """An HTTP request body as bytes: JSON text in UTF-8 (lone surrogates written as the
    invalid bytes they would be), a BOM, other encodings, random bytes, nothing, or too much."""
    text = raw_json_text(objects, keys)
    return st.one_of(
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        text.map(lambda t: t.encode("utf-16", "surrogatepass")),
        text.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=64),
        st.just(b""),
        objects.map(lambda value: json.dumps({**_as_dict(value), "pad": "x" * 70_000}).encode()),
    )


def json_body(objects: st.SearchStrategy[Any], keys: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Mostly well-formed JSON objects (so the cases reach the rules behind the parser),
    the rest any of :func:`raw_body`'s malformed bodies."""
    encoded = st.builds(
        lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode(
            "utf-8", "surrogatepass"
        ),
        objects,
        st.booleans(),
    )
    return st.one_of(encoded, encoded, encoded, raw_body(objects, keys))


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}


#: Content-Type headers a client might send with a JSON body (None: no header).
CONTENT_TYPES: Final = st.sampled_from(
    [
        "application/json",
        "application/json",
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zzz",
        "application/json; charset=latin-1",
        "application/octet-stream",
        "*/*",
        "nonsense",
    ]
)
