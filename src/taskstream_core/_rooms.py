"""Sandboxing: which room an event goes to, and which rooms a viewer may join.

Every delivery path (live events, resume, snapshots) asks this module, so the
rule "a worker never receives another worker's task" is written once. Rooms
are plain strings so that any transport (python-socketio rooms, Redis
channels, a WebSocket hub) can use them as they are.
"""

from __future__ import annotations

from ._rbac import Permission, Scope, can, scope_of
from .models import EventType, Presence, Principal, ScanEvent, Task

__all__ = [
    "admin_room",
    "event_rooms",
    "may_see",
    "may_see_task",
    "presence_for",
    "scan_room",
    "viewer_rooms",
    "worker_room",
]


def scan_room(scan_id: str) -> str:
    """Name the room of every viewer of a scan: it receives the scan's own changes.

    The id's length comes before it in every room name, so no scan id, whatever
    it holds, names a room of another scan (``x:all-tasks`` would otherwise be
    the admins' room of ``x``).

    Args:
        scan_id: The scan.

    Returns:
        The room's name.
    """
    return f"scan:{len(scan_id)}:{scan_id}"


def admin_room(scan_id: str) -> str:
    """Name the room of a scan's viewers who may read every task of it.

    Args:
        scan_id: The scan.

    Returns:
        The room's name.
    """
    return f"{scan_room(scan_id)}:all-tasks"


def worker_room(scan_id: str, worker_id: str) -> str:
    """Name the room of one worker's view of a scan: its own tasks only.

    Args:
        scan_id: The scan.
        worker_id: The worker.

    Returns:
        The room's name.
    """
    return f"{scan_room(scan_id)}:worker:{worker_id}"


def viewer_rooms(scan_id: str, principal: Principal) -> frozenset[str]:
    """List the rooms a viewer joins with a scan, as the RBAC policy allows.

    Args:
        scan_id: The scan.
        principal: The viewer.

    Returns:
        The scan's room, and the admins' room or the viewer's own worker room.
    """
    rooms = {scan_room(scan_id)}
    scope = scope_of(principal, Permission.TASK_READ)
    if scope is Scope.ANY:
        rooms.add(admin_room(scan_id))
    elif scope is Scope.OWN:
        rooms.add(worker_room(scan_id, principal.user_id))
    return frozenset(rooms)


def _task_rooms(task: Task) -> frozenset[str]:
    return frozenset({admin_room(task.scan_id), worker_room(task.scan_id, task.worker_id)})


def event_rooms(event: ScanEvent) -> frozenset[str]:
    """List the rooms an event is delivered to.

    Args:
        event: The event.

    Returns:
        The admins' room for ``scan:stats`` and ``task:claimed``; the admins'
        and the task's worker's rooms for a task event; the scan's room otherwise.
    """
    if event.type in (EventType.SCAN_STATS, EventType.TASK_CLAIMED):
        return frozenset({admin_room(event.scan_id)})
    if event.task is not None:
        return _task_rooms(event.task)
    return frozenset({scan_room(event.scan_id)})


def may_see(principal: Principal, event: ScanEvent) -> bool:
    """Tell whether a viewer joined to the event's scan may receive the event.

    Args:
        principal: The viewer.
        event: The event.

    Returns:
        Whether one of the viewer's rooms is one of the event's.
    """
    return not viewer_rooms(event.scan_id, principal).isdisjoint(event_rooms(event))


def may_see_task(principal: Principal, task: Task) -> bool:
    """Tell whether a viewer may read a task: the rooms' rule, applied to one task.

    Args:
        principal: The viewer.
        task: The task.

    Returns:
        Whether the task's events would reach the viewer.
    """
    return not viewer_rooms(task.scan_id, principal).isdisjoint(_task_rooms(task))


def presence_for(principal: Principal, presence: Presence) -> Presence:
    """Shape a scan's presence for a viewer: who is present for admins, counts for workers.

    Args:
        principal: The viewer.
        presence: The detailed presence.

    Returns:
        ``presence`` when the viewer may see who is present, else its counts only.
    """
    return presence if can(principal, Permission.SCAN_PRESENCE) else presence.counts_only()
