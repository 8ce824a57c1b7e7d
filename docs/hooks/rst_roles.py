"""A griffe extension for the API reference: reST roles in docstrings become code spans.

The library's docstrings cross-reference with Sphinx roles (``:class:`TaskStream```,
``:meth:`start```); Markdown would show the role's name. This turns each into plain
inline code, keeping the last dotted part where the role says ``~``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod|exc|obj):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class RstRoles(griffe.Extension):
    """Rewrites every docstring's reST roles as Markdown code spans."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)
