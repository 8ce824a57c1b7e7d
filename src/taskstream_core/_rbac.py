"""Who may do what: the one place where access is decided.

Read :data:`POLICY` top to bottom: a row per permission, and for each role
either ``ANY`` (every object), ``OWN`` (only objects the caller owns) or no
entry (never). HTTP routes and Socket.IO events name a permission and ask
:func:`authorize`; nothing else in the code compares roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum

from .errors import Forbidden, Unauthorized
from .models import Principal, Role

__all__ = ["POLICY", "Permission", "Scope", "authorize", "can", "scope_of"]


class Permission(StrEnum):
    """Something a caller may ask to do; :data:`POLICY` says which roles may."""

    SCAN_CREATE = "scan:create"
    SCAN_LIST = "scan:list"
    SCAN_LIST_CLOSED = "scan:list-closed"
    SCAN_READ = "scan:read"
    SCAN_CLOSE = "scan:close"
    SCAN_JOIN = "scan:join"
    SCAN_STATS = "scan:stats"
    SCAN_EXPORT = "scan:export"
    TASK_SUBMIT = "task:submit"
    TASK_READ = "task:read"
    TASK_DECIDE = "task:decide"
    TASK_UNDO = "task:undo"
    TASK_HISTORY = "task:history"
    TASK_CLAIM = "task:claim"
    SCAN_PRESENCE = "scan:presence"


class Scope(Enum):
    """How far a granted permission reaches."""

    ANY = "any"
    OWN = "own"


ANY, OWN = Scope.ANY, Scope.OWN

#: The access policy: for each permission, the scope each role holds it with (no entry: never).
POLICY: Mapping[Permission, Mapping[Role, Scope]] = {
    #                            admin               worker
    Permission.SCAN_CREATE:      {Role.ADMIN: ANY},
    Permission.SCAN_LIST:        {Role.ADMIN: ANY,   Role.WORKER: ANY},
    Permission.SCAN_LIST_CLOSED: {Role.ADMIN: ANY},
    Permission.SCAN_READ:        {Role.ADMIN: ANY,   Role.WORKER: ANY},
    Permission.SCAN_CLOSE:       {Role.ADMIN: ANY},
    Permission.SCAN_JOIN:        {Role.ADMIN: ANY,   Role.WORKER: ANY},
    Permission.SCAN_STATS:       {Role.ADMIN: ANY},
    Permission.SCAN_EXPORT:      {Role.ADMIN: ANY},
    Permission.TASK_SUBMIT:      {                   Role.WORKER: ANY},
    Permission.TASK_READ:        {Role.ADMIN: ANY,   Role.WORKER: OWN},
    Permission.TASK_DECIDE:      {Role.ADMIN: ANY},
    Permission.TASK_UNDO:        {Role.ADMIN: ANY},
    Permission.TASK_HISTORY:     {Role.ADMIN: ANY,   Role.WORKER: OWN},
    Permission.TASK_CLAIM:       {Role.ADMIN: ANY},
    Permission.SCAN_PRESENCE:    {Role.ADMIN: ANY},
}  # fmt: skip


def scope_of(principal: Principal | None, permission: Permission) -> Scope | None:
    """Look up how far a permission reaches for a caller.

    Args:
        principal: The caller, or None for an anonymous one.
        permission: The permission asked about.

    Returns:
        ``Scope.ANY``, ``Scope.OWN``, or None when the caller does not hold it.
    """
    if principal is None:
        return None
    return POLICY[permission].get(principal.role)


def can(
    principal: Principal | None, permission: Permission, *, owner_id: str | None = None
) -> bool:
    """Tell whether a caller holds a permission, in general or on one object.

    Args:
        principal: The caller, or None for an anonymous one.
        permission: The permission asked about.
        owner_id: The owner of the object asked about; None asks about the
            permission in general (an ``OWN`` scope then answers True).

    Returns:
        Whether the caller may do it.
    """
    scope = scope_of(principal, permission)
    if scope is None or principal is None:
        return False
    if scope is Scope.OWN:
        return owner_id is None or owner_id == principal.user_id
    return True


def authorize(
    principal: Principal | None, permission: Permission, *, owner_id: str | None = None
) -> Principal:
    """Check that a caller holds a permission, and pass the caller on.

    Args:
        principal: The caller, or None for an anonymous one.
        permission: The permission needed.
        owner_id: The owner of the object acted on; None asks about the
            permission in general (listing "my tasks").

    Returns:
        The caller, now known to be allowed.

    Raises:
        Unauthorized: There is no caller.
        Forbidden: The caller's role does not hold the permission (on that object).

    Example:
        ```python
        authorize(principal, Permission.TASK_READ, owner_id=task.worker_id)
        ```
    """
    if principal is None:
        raise Unauthorized()
    if not can(principal, permission, owner_id=owner_id):
        article = "An" if principal.role.value[0] in "aeiou" else "A"
        raise Forbidden(f"{article} {principal.role.value} may not do this ({permission.value}).")
    return principal
