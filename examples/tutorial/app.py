"""A review app: sign-in and scans over HTTP (Starlette), live review over Socket.IO."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import taskstream_core as ts
from taskstream_core import ViewerSession, wire
from taskstream_core.errors import Internal, TaskStreamError

core = ts.TaskStream(
    store=ts.open_store(os.environ.get("REVIEW_STORE_URL", "sqlite:///./review.db")),
    # The signing key; without one, tokens last as long as the process.
    tokens=ts.TokenIssuer(os.environ.get("REVIEW_JWT_SECRET") or ts.generate_secret()),
    admin_invite_code=os.environ["REVIEW_INVITE_CODE"],  # what registering an admin takes
)
sio = socketio.AsyncServer(async_mode="asgi")
log = logging.getLogger("review")
Body = Mapping[str, Any]
Act = Callable[[ViewerSession, Body], Awaitable[Body]]  # a client event's work
VIEWERS: dict[str, ViewerSession] = {}  # one per connected socket, by sid
FORWARDERS: set[asyncio.Task[None]] = set()  # one task per socket


# --- HTTP: accounts and scans --------------------------------------------------------------
def send(reply: wire.Reply) -> Response:
    return Response(reply.body, reply.status, reply.headers, reply.content_type)


async def caller(request: Request) -> ts.Principal:
    """Who sends the request: its bearer token, checked (signature, expiry, logout)."""
    token = wire.bearer_token(request.headers.get("Authorization"))
    return await core.accounts.authenticate(token)


async def register(request: Request) -> Response:
    body = wire.decode_json_object(await request.body())
    fields = [body.get(name) for name in ("username", "password", "role", "invite_code")]
    return send(wire.json_reply((await core.accounts.register(*fields)).to_dict(), 201))


async def login(request: Request) -> Response:
    body = wire.decode_json_object(await request.body())
    session = await core.accounts.login(body.get("username"), body.get("password"))
    return send(wire.json_reply(session.to_dict()))


async def logout(request: Request) -> Response:
    principal = await caller(request)
    await core.accounts.logout(principal)  # the token is refused from now on...
    for sid, viewer in list(VIEWERS.items()):  # ...and the sockets it opened are closed
        if viewer.principal.token_id == principal.token_id:
            await sio.disconnect(sid)
    return Response(status_code=204)


async def create_scan(request: Request) -> Response:
    principal, body = await caller(request), wire.decode_json_object(await request.body())
    scan = await core.create_scan(principal, body.get("name"), body.get("description"))
    return send(wire.json_reply({"scan": scan.to_dict()}, 201))


# --- Socket.IO: one ViewerSession per socket -----------------------------------------------
async def connect(sid: str, environ: object, auth: object = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        principal = await core.accounts.authenticate(token)
    except TaskStreamError as exc:
        raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
    VIEWERS[sid] = viewer = ViewerSession(core, principal)
    FORWARDERS.add(task := asyncio.create_task(forward(sid, viewer)))
    task.add_done_callback(FORWARDERS.discard)


async def forward(sid: str, viewer: ViewerSession) -> None:
    """Send a socket its events from one task (so in seq order) while its token holds."""
    seconds_left = wire.token_seconds_left(viewer.principal, core.accounts.tokens.leeway)
    try:
        async with asyncio.timeout(seconds_left):
            async for event in viewer:
                await sio.emit(event.type.value, event.to_envelope(), to=sid)
    except (TimeoutError, ts.ViewerClosed):  # expired, or fell behind: the client reconnects
        await sio.disconnect(sid)


async def disconnect(sid: str, reason: object = None) -> None:
    VIEWERS.pop(sid).close()  # leaves its scans, which ends its forwarder


def acked(act: Act) -> Callable[[str, object], Awaitable[dict[str, Any]]]:
    """A client event's handler: its ack is ``{"ok": true, ...}`` or ``{"ok": false, "error"}``."""

    async def answer(sid: str, payload: object = None) -> dict[str, Any]:
        try:
            return {"ok": True, **await act(VIEWERS[sid], wire.client_object(payload))}
        except Exception as exc:  # a TaskStreamError says what is wrong; anything else is a bug
            error = exc if isinstance(exc, TaskStreamError) else Internal()
            if error is not exc:
                log.exception("internal error in %s", act.__name__)
            return {"ok": False, **error.to_dict()}

    return answer


async def join(viewer: ViewerSession, body: Body) -> Body:
    return (await viewer.join(body.get("scan_id"), body.get("since_seq"))).to_dict()


async def submit(viewer: ViewerSession, body: Body) -> Body:
    scan_id, content, key = body.get("scan_id"), body.get("content"), body.get("idempotency_key")
    task, _ = await core.submit_task(viewer.principal, scan_id, content, key)
    return {"task": task.to_dict()}


async def decide(viewer: ViewerSession, body: Body) -> Body:
    task_id, decision, reason = body.get("task_id"), body.get("decision"), body.get("reason")
    return {"task": (await core.decide_task(viewer.principal, task_id, decision, reason)).to_dict()}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with core:  # opens the store; on the way out, ends the live streams and closes it
        yield


sio.on("connect", connect)
sio.on("disconnect", disconnect)
for name, act in {"scan:join": join, "task:submit": submit, "task:decide": decide}.items():
    sio.on(name, acked(act))
routes = [
    Route("/api/auth/register", register, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/scans", create_scan, methods=["POST"]),
]
# Every error in the contract's body: a TaskStreamError says which; anything else, 500 (logged).
errors = dict.fromkeys([TaskStreamError, Exception], lambda rq, exc: send(wire.error_reply(exc)))
app = socketio.ASGIApp(sio, Starlette(routes=routes, exception_handlers=errors, lifespan=lifespan))
