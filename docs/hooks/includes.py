"""An mkdocs hook: a page whose file include was not expanded fails the build.

Pages include files with pymdownx.snippets, whose ``check_paths`` fails the build when
an included file is missing. An include line that snippets does not recognise at all,
though, is left in the page as text: one rewritten by a code formatter (``--8 < --"a.py"``
is how a Python formatter spells the inline form), or one with a typo. This hook reads
each page as the reader sees it, with the HTML tags and the syntax highlighting taken
out, and stops the build on any text that is still an include marker.

The pages write their includes in snippets' block form, which is not Python, so that
``ruff format`` (which formats the Python blocks of Markdown files) leaves them alone::

    ```python
    --8<--
    examples/tutorial/app.py
    --8<--
    ```
"""

from __future__ import annotations

import html
import re
from typing import Any

#: An include marker as it reads once rendered: ``--8<--``, and the spaced ``--8 < --``.
MARKER = re.compile(r"-+[ \t]*8[ \t]*<[ \t]*-+")
_TAG = re.compile(r"<[^>]*>")


def unexpanded_includes(page_html: str) -> list[str]:
    """The lines of a rendered page's text that still hold an include marker.

    Args:
        page_html: The page's HTML, as Markdown and the highlighter made it.

    Returns:
        Each such line, stripped; none for a page whose includes were all expanded.
    """
    text = html.unescape(_TAG.sub("", page_html))
    return [line.strip() for line in text.splitlines() if MARKER.search(line)]


def on_page_content(content: str, page: Any, **kwargs: Any) -> str:
    """Stop the build on a page that shows an include marker instead of the included file.

    Args:
        content: The page's HTML.
        page: The page.
        **kwargs: The event's other arguments (the config, the files).

    Returns:
        ``content``, unchanged.

    Raises:
        PluginError: The page shows an include marker.
    """
    from mkdocs.exceptions import PluginError  # noqa: PLC0415 - the rest runs without mkdocs

    found = unexpanded_includes(content)
    if found:
        raise PluginError(
            f"{page.file.src_uri}: an include was not expanded and shows as text: {found[0]!r}. "
            "Write it in pymdownx.snippets' block form (a line '--8<--', the path, '--8<--')."
        )
    return content
