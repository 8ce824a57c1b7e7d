"""The access policy: every permission for an admin, a worker and an anonymous caller."""

from __future__ import annotations

import pytest

from taskstream_core import Permission, Principal, Role, authorize, can
from taskstream_core._rbac import Scope, scope_of
from taskstream_core.errors import Forbidden, Unauthorized

ADMIN = Principal("admin-1", "root", Role.ADMIN)
WORKER = Principal("worker-1", "alice", Role.WORKER)

#: Who holds what, written from CONTRACT.md's routes table: (admin, worker).
MATRIX: dict[Permission, tuple[Scope | None, Scope | None]] = {
    Permission.SCAN_CREATE: (Scope.ANY, None),
    Permission.SCAN_LIST: (Scope.ANY, Scope.ANY),
    Permission.SCAN_LIST_CLOSED: (Scope.ANY, None),
    Permission.SCAN_READ: (Scope.ANY, Scope.ANY),
    Permission.SCAN_CLOSE: (Scope.ANY, None),
    Permission.SCAN_JOIN: (Scope.ANY, Scope.ANY),
    Permission.SCAN_STATS: (Scope.ANY, None),
    Permission.SCAN_EXPORT: (Scope.ANY, None),
    Permission.TASK_SUBMIT: (None, Scope.ANY),
    Permission.TASK_READ: (Scope.ANY, Scope.OWN),
    Permission.TASK_DECIDE: (Scope.ANY, None),
    Permission.TASK_UNDO: (Scope.ANY, None),
    Permission.TASK_HISTORY: (Scope.ANY, Scope.OWN),
    Permission.TASK_CLAIM: (Scope.ANY, None),
    Permission.SCAN_PRESENCE: (Scope.ANY, None),
}

CASES = [
    pytest.param(permission, who, principal, MATRIX[permission][column], id=f"{permission}-{who}")
    for permission in Permission
    for column, (who, principal) in enumerate((("admin", ADMIN), ("worker", WORKER)))
]


def test_the_matrix_names_every_permission() -> None:
    """A new permission must be added to this test's matrix on purpose."""
    assert set(MATRIX) == set(Permission)


@pytest.mark.parametrize(("permission", "who", "principal", "scope"), CASES)
def test_scope_of_each_permission_for_each_role(
    permission: Permission, who: str, principal: Principal, scope: Scope | None
) -> None:
    """scope_of answers the matrix's reach for each role."""
    del who
    assert scope_of(principal, permission) is scope


@pytest.mark.parametrize(("permission", "who", "principal", "scope"), CASES)
def test_authorize_allows_exactly_the_matrix(
    permission: Permission, who: str, principal: Principal, scope: Scope | None
) -> None:
    """authorize returns the caller where the matrix allows, and raises Forbidden elsewhere."""
    del who
    if scope is None:
        assert not can(principal, permission)
        with pytest.raises(Forbidden, match=permission.value) as refused:
            authorize(principal, permission)
        article = "An" if principal.role is Role.ADMIN else "A"
        assert refused.value.message.startswith(f"{article} {principal.role.value} may not")
    else:
        assert can(principal, permission)
        assert authorize(principal, permission) is principal


@pytest.mark.parametrize("permission", list(Permission))
def test_an_anonymous_caller_is_unauthorized_for_everything(permission: Permission) -> None:
    """Without a principal every permission is refused with Unauthorized (401), not 403."""
    assert scope_of(None, permission) is None
    assert not can(None, permission)
    with pytest.raises(Unauthorized):
        authorize(None, permission)


@pytest.mark.parametrize(("permission", "who", "principal", "scope"), CASES)
def test_ownership_limits_only_own_scoped_permissions(
    permission: Permission, who: str, principal: Principal, scope: Scope | None
) -> None:
    """An OWN grant covers the caller's objects only; an ANY grant covers everyone's."""
    del who
    mine, theirs = principal.user_id, "someone-else"
    assert can(principal, permission, owner_id=mine) is (scope is not None)
    assert can(principal, permission, owner_id=theirs) is (scope is Scope.ANY)
    if scope is Scope.OWN:
        assert authorize(principal, permission, owner_id=mine) is principal
        with pytest.raises(Forbidden):
            authorize(principal, permission, owner_id=theirs)
