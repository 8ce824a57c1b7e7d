"""URL helpers shared by adapters."""

from __future__ import annotations

import re

__all__ = ["mask_url"]


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for logs and errors."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
