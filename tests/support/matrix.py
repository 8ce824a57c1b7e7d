"""The access matrix the RBAC tests are generated from: what each route and event needs.

Two sources are joined here: the contract's routes and events tables (read
from docs/contract.md, the repository's copy of CONTRACT.md) and
``taskstream_core._rbac.POLICY``. Each route or event names what it needs —
nothing, a signed-in user, or a permission — and the expected answer for
each caller follows from POLICY (a refusal) or from the contract's table (the
status of a success), never from a hand-written status table.
tests/security/test_rbac_matrix.py checks the matrix against POLICY, the
contract and the server's registered routes and events.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

from taskstream_core import Permission, Role
from taskstream_core._rbac import POLICY, Scope
from taskstream_server.app import build_app
from taskstream_server.pages import STATIC_DIR
from taskstream_server.settings import Secrets, Settings

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "EVENT_NEEDS",
    "INTERNAL_PREFIX",
    "OTHER_WORKER",
    "REFUSAL_STATUS",
    "ROUTE_NEEDS",
    "STATIC_ASSETS",
    "V2_STATUSES",
    "WORKER",
    "Caller",
    "Open",
    "callers_for",
    "contract_events",
    "contract_routes",
    "contract_statuses",
    "expected",
    "generic",
    "owned",
    "registered_events",
    "registered_routes",
    "roles_allowed",
    "route_refusal",
]

CONTRACT: Final = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
#: The HTTP status of each refusal code.
REFUSAL_STATUS: Final = {"unauthorized": 401, "forbidden": 403}
#: Where the built dashboard's assets are served from (absent until ``npm run build``).
STATIC_ASSETS: Final = STATIC_DIR / "app" / "assets"


class Open(Enum):
    """Needs that are not a permission."""

    ANYONE = "anyone"
    SIGNED_IN = "any user"


Need = Permission | Open

#: Every HTTP route the server registers, as (method, path with {params}) -> what it needs.
ROUTE_NEEDS: Final[dict[tuple[str, str], Need]] = {
    ("GET", "/api/health"): Open.ANYONE,
    ("GET", "/api/openapi.json"): Open.ANYONE,
    ("POST", "/api/auth/register"): Open.ANYONE,
    ("POST", "/api/auth/login"): Open.ANYONE,
    ("GET", "/api/auth/me"): Open.SIGNED_IN,
    ("POST", "/api/auth/logout"): Open.SIGNED_IN,
    ("POST", "/api/scans"): Permission.SCAN_CREATE,
    ("GET", "/api/scans"): Permission.SCAN_LIST,
    ("GET", "/api/scans/{scan_id}"): Permission.SCAN_READ,
    ("POST", "/api/scans/{scan_id}/close"): Permission.SCAN_CLOSE,
    ("POST", "/api/scans/{scan_id}/tasks"): Permission.TASK_SUBMIT,
    ("GET", "/api/scans/{scan_id}/tasks"): Permission.TASK_READ,
    ("GET", "/api/scans/{scan_id}/stats"): Permission.SCAN_STATS,
    ("GET", "/api/scans/{scan_id}/export"): Permission.SCAN_EXPORT,
    ("GET", "/api/tasks/{task_id}"): Permission.TASK_READ,
    ("POST", "/api/tasks/{task_id}/decision"): Permission.TASK_DECIDE,
    # Contract v2, §4.3 and §4.4.
    ("POST", "/api/tasks/{task_id}/undo"): Permission.TASK_UNDO,
    ("GET", "/api/tasks/{task_id}/history"): Permission.TASK_HISTORY,
    ("POST", "/api/tasks/{task_id}/claim"): Permission.TASK_CLAIM,
    ("DELETE", "/api/tasks/{task_id}/claim"): Permission.TASK_CLAIM,
    ("POST", "/api/scans/{scan_id}/claims/next"): Permission.TASK_CLAIM,
    ("GET", "/api/scans/{scan_id}/presence"): Permission.SCAN_PRESENCE,
    # Not in the contract: the operator's scrape endpoint and the dashboard's pages.
    ("GET", "/metrics"): Open.ANYONE,
    ("GET", "/"): Open.ANYONE,
    ("GET", "/admin"): Open.ANYONE,
    ("GET", "/admin/scans/{scan_id}"): Open.ANYONE,
    ("GET", "/worker/scan/{scan_id}"): Open.ANYONE,
    ("GET", "/assets/{path}"): Open.ANYONE,
}

#: Every client event the Socket.IO gateway handles -> what it needs.
EVENT_NEEDS: Final[dict[str, Need]] = {
    "scan:join": Permission.SCAN_JOIN,
    "scan:leave": Open.SIGNED_IN,
    "task:submit": Permission.TASK_SUBMIT,
    "task:decide": Permission.TASK_DECIDE,
    "task:undo": Permission.TASK_UNDO,
    "task:claim": Permission.TASK_CLAIM,
    "task:release": Permission.TASK_CLAIM,
    "task:claim_next": Permission.TASK_CLAIM,
}


#: Handlers the gateway registers for itself (a packet it cannot read becomes such an event);
#: no client event of the contract starts with NUL, and one sent on purpose is refused.
INTERNAL_PREFIX: Final = "\x00"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: a role (None: no token), and for OWN-scoped needs whether it is the owner."""

    name: str
    role: Role | None
    owner: bool = True


ADMIN: Final = Caller("admin", Role.ADMIN)
WORKER: Final = Caller("worker", Role.WORKER)
ANONYMOUS: Final = Caller("anonymous", None)
OTHER_WORKER: Final = Caller("another-worker", Role.WORKER, owner=False)


def owned(path: str) -> bool:
    """Whether the route acts on one object with an owner (a task), where OWN scopes apply."""
    return "{task_id}" in path


def callers_for(need: Need, *, has_owner: bool) -> list[Caller]:
    """Admin, worker and anonymous; plus a non-owning worker where POLICY scopes to OWN."""
    callers = [ADMIN, WORKER, ANONYMOUS]
    if isinstance(need, Permission) and has_owner and Scope.OWN in POLICY[need].values():
        callers.append(OTHER_WORKER)
    return callers


def expected(need: Need, caller: Caller) -> str | None:
    """The refusal code POLICY implies for this caller, or None when it is allowed."""
    if need is Open.ANYONE:
        return None
    if caller.role is None:
        return "unauthorized"
    if need is Open.SIGNED_IN:
        return None
    scope = POLICY[need].get(caller.role)
    if scope is None or (scope is Scope.OWN and not caller.owner):
        return "forbidden"
    return None


def route_refusal(method: str, path: str, caller: Caller) -> str | None:
    """:func:`expected` for a route of :data:`ROUTE_NEEDS`: whether the caller owns counts
    only on a route to one owned object (see :func:`owned`)."""
    if not owned(path):
        caller = dataclasses.replace(caller, owner=True)
    return expected(ROUTE_NEEDS[(method, path)], caller)


def roles_allowed(need: Need) -> set[str]:
    """The contract's "who" a need amounts to, as a set of caller names."""
    if need is Open.ANYONE:
        return {"admin", "worker", "anonymous"}
    if need is Open.SIGNED_IN:
        return {"admin", "worker"}
    return {role.value for role in POLICY[need]}


_WHO: Final = {
    "anyone": {"admin", "worker", "anonymous"},
    "any user": {"admin", "worker"},
    "admin": {"admin"},
    "worker": {"worker"},
}


def _table(heading: str) -> list[list[str]]:
    """The rows of the contract's Markdown table whose header starts with ``heading``."""
    lines = CONTRACT.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def contract_routes() -> dict[tuple[str, str], set[str]]:
    """(method, path) -> who may call it, as the contract's routes table says."""
    routes = {}
    for cells in _table("method, path"):
        method, path = cells[0].split(" ", 1)
        routes[(method, re.sub(r"\{id\}", "{param}", path))] = _WHO[cells[1]]
    return routes


#: The routes v2's §4 names in its text rather than in the routes table, and their success.
V2_STATUSES: Final = {
    ("POST", "/api/tasks/{param}/undo"): 200,
    ("GET", "/api/tasks/{param}/history"): 200,
    ("POST", "/api/tasks/{param}/claim"): 200,
    ("DELETE", "/api/tasks/{param}/claim"): 204,
    ("POST", "/api/scans/{param}/claims/next"): 200,
    ("GET", "/api/scans/{param}/presence"): 200,
}


def contract_statuses() -> dict[tuple[str, str], int]:
    """(method, path) -> the status of a success, as the contract's routes table says (and
    §4's text, for :data:`V2_STATUSES`)."""
    statuses = dict(V2_STATUSES)
    for cells in _table("method, path"):
        method, path = cells[0].split(" ", 1)
        found = re.search(r"→ (\d{3})", "|".join(cells[2:]))  # the answer may hold a "|"
        assert found is not None, cells
        statuses[(method, re.sub(r"\{id\}", "{param}", path))] = int(found[1])
    return statuses


def contract_events() -> dict[str, set[str]]:
    """Client event -> who may emit it, as the contract's Socket.IO table says."""
    return {cells[0].strip("`"): _WHO[cells[1]] for cells in _table("client emits")}


def generic(path: str) -> str:
    """A path with every parameter named alike, to compare with the contract's `{id}`."""
    return re.sub(r"\{\w+\}", "{param}", path)


@functools.cache  # Sanic refuses a second app of one name in a process
def _built() -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    settings = Settings(secrets=Secrets("s" * 40, "invite-code-for-tests"), store_url="memory://")
    app = build_app(settings, name="security-rbac-matrix")
    routes = set()
    for route in app.sanic.router.routes:
        path = "/" + re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.path)
        routes |= {(method, path) for method in route.methods - {"HEAD"}}  # GET's twin
    handled = {
        name
        for name in app.sockets.sio.handlers["/"]
        if name not in ("connect", "disconnect", "*") and not name.startswith(INTERNAL_PREFIX)
    }
    return frozenset(routes), frozenset(handled)


def registered_routes() -> frozenset[tuple[str, str]]:
    """(method, path) of every route the server's Sanic app registers."""
    return _built()[0]


def registered_events() -> frozenset[str]:
    """Every client event the server's Socket.IO gateway has a handler for."""
    return _built()[1]
