"""URL helpers shared by adapters."""

from __future__ import annotations

import re

__all__ = ["mask_url"]


def mask_url(url: str) -> str:
    """Hide a URL's password, so the URL is fit for logs and error messages.

    Args:
        url: Any URL, with or without credentials.

    Returns:
        The URL with the password (if any) replaced by ``***``.

    Example:
        >>> mask_url("redis://:s3cret@cache:6379/0")
        'redis://:***@cache:6379/0'
    """
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
