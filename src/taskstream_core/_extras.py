"""The error an adapter raises when its optional dependency (an extra) is not installed."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(error: ImportError, *, extra: str, module: str, needed_by: str) -> ImportError:
    """The error to raise, ``from error``, when an adapter's optional import fails.

    Args:
        error: The error the import raised.
        extra: The taskstream-core extra that installs the missing module (``"redis"``).
        module: The top-level module that extra provides (``"redis"``).
        needed_by: What needs it, for the message (``"the redis:// broker"``).

    Returns:
        A ``ModuleNotFoundError`` whose message names the ``pip install`` command when
        *module* itself is missing; *error* unchanged when something else is.
    """
    if error.name is None or error.name.partition(".")[0] != module:
        return error
    return ModuleNotFoundError(
        f'{needed_by} needs the {extra} extra: pip install "taskstream-core[{extra}]" ({error})',
        name=module,
    )
