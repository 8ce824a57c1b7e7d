"""TaskStream on aiohttp: the reference server's core, with no Sanic and no Socket.IO.

Most of the HTTP API of docs/contract.md, plus a scan's live events as Server-Sent Events
(docs/embedding.md). Every route is one call on the core; every rule lives in the core,
the HTTP ones (errors, bearer token, bodies, exports) in ``taskstream_core.wire``.

    python examples/aiohttp_app/app.py --port 8001 --store sqlite:///./aiohttp.db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

import taskstream_core as ts
from taskstream_core import Principal, TaskStream, wire
from taskstream_core.models import EventType

CORE = web.AppKey("core", TaskStream)
LIVE: web.AppKey[weakref.WeakSet[ts.ViewerSession]] = web.AppKey("live")
OPENAPI = wire.json_reply(wire.openapi_document())
log = logging.getLogger("taskstream.aiohttp")
Call = Callable[[TaskStream, Principal, Mapping[str, str], Mapping[str, Any]], Awaitable[Any]]


async def one(key: str, value: Awaitable[Any]) -> dict[str, Any]:
    """``{key: value}`` in JSON terms, for a value or a list of values of the core's models."""
    got = await value
    return {key: [item.to_dict() for item in got] if isinstance(got, list) else got.to_dict()}


async def next_claim(value: Awaitable[tuple[Any, Any]]) -> dict[str, Any]:
    """``claim_next``'s answer: ``{task, claim}``, both null when nothing is left."""
    task, claim = await value
    return {k: v and v.to_dict() for k, v in (("task", task), ("claim", claim))}


# (method, path, status, call) for a signed-in caller: the call gets the core, the caller
# (p), the path and query values (q) and the JSON body (b), and answers what to send.
# fmt: off
ROUTES: list[tuple[str, str, int, Call]] = [
    ("GET", "/api/auth/me", 200, lambda c, p, q, b: one("user", c.accounts.me(p))),
    ("POST", "/api/auth/logout", 204, lambda c, p, q, b: c.accounts.logout(p)),
    ("POST", "/api/scans", 201,
        lambda c, p, q, b: one("scan", c.create_scan(p, b.get("name"), b.get("description")))),
    ("GET", "/api/scans", 200, lambda c, p, q, b: one("scans", c.list_scans(p))),
    ("GET", "/api/scans/{sid}", 200, lambda c, p, q, b: one("scan", c.get_scan(p, q["sid"]))),
    ("POST", "/api/scans/{sid}/close", 200,
        lambda c, p, q, b: one("scan", c.close_scan(p, q["sid"]))),
    ("GET", "/api/scans/{sid}/tasks", 200, lambda c, p, q, b: c.list_tasks(
        p, q["sid"], status=q.get("status"), limit=q.get("limit"), cursor=q.get("cursor"))),
    ("GET", "/api/scans/{sid}/stats", 200, lambda c, p, q, b: c.stats(p, q["sid"])),
    ("GET", "/api/tasks/{tid}", 200, lambda c, p, q, b: one("task", c.get_task(p, q["tid"]))),
    ("POST", "/api/tasks/{tid}/decision", 200, lambda c, p, q, b: one(
        "task", c.decide_task(p, q["tid"], b.get("decision"), b.get("reason"),
                              override=b.get("override", False)))),
    ("POST", "/api/tasks/{tid}/undo", 200,
        lambda c, p, q, b: one("task", c.undo_task(p, q["tid"]))),
    ("GET", "/api/tasks/{tid}/history", 200, lambda c, p, q, b: c.task_history(p, q["tid"])),
    ("POST", "/api/tasks/{tid}/claim", 200,
        lambda c, p, q, b: one("claim", c.claim_task(p, q["tid"]))),
    ("DELETE", "/api/tasks/{tid}/claim", 204, lambda c, p, q, b: c.release_task(p, q["tid"])),
    ("POST", "/api/scans/{sid}/claims/next", 200, lambda c, p, q, b: next_claim(
        c.claim_next(p, q["sid"], b.get("after_task_id")))),
    ("GET", "/api/scans/{sid}/presence", 200, lambda c, p, q, b: c.presence(p, q["sid"])),
]
# fmt: on
BODIES = {("POST", "/api/scans"), ("POST", "/api/tasks/{tid}/decision")}  # the routes with one
OPTIONAL_BODY = ("POST", "/api/scans/{sid}/claims/next")  # {after_task_id?}, or no body


def send(reply: wire.Reply) -> web.Response:
    """``reply`` as aiohttp's response."""
    headers = {"Content-Type": reply.content_type, **reply.headers}
    return web.Response(status=reply.status, body=reply.body, headers=headers)


def answer(value: object, status: int = 200) -> web.Response:
    return send(wire.json_reply(value, status))


@web.middleware
async def contract_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal, the core's and aiohttp's own (404, 405, 413), in the contract's body."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return send(wire.status_reply(exc.status, exc.reason, exc.headers))
    except Exception as exc:  # the core's errors; any other is a bug: 500, logged
        reply = wire.error_reply(exc)
        if reply.status == 500:
            log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
        return send(reply)


async def body(rq: web.Request) -> Mapping[str, Any]:
    """The JSON object sent; a declared length over 64 KiB is refused unread."""
    wire.check_body_size(rq.content_length)
    return wire.decode_json_object(await rq.read())  # over 64 KiB when chunked: aiohttp's 413


async def caller(rq: web.Request) -> Principal:
    token = wire.bearer_token(rq.headers.get("Authorization"))
    return await rq.app[CORE].accounts.authenticate(token)


def signed_in(status: int, call: Call, with_body: bool, optional: bool = False) -> Handler:
    async def handle(rq: web.Request) -> web.StreamResponse:
        read = with_body or (optional and rq.body_exists)
        who, b = await caller(rq), await body(rq) if read else {}
        got = await call(rq.app[CORE], who, {**rq.query, **rq.match_info}, b)
        if got is None:
            return web.Response(status=status)
        return answer(got if isinstance(got, dict) else got.to_dict(), status)

    return handle


async def health(rq: web.Request) -> web.Response:
    store = rq.app[CORE].store.url.partition("://")[0]
    return answer({"status": "ok", "version": ts.__version__, "store": store})


async def openapi(rq: web.Request) -> web.Response:
    return send(OPENAPI)


async def register(rq: web.Request) -> web.Response:
    b = await body(rq)
    fields = (b.get(k) for k in ("username", "password", "role", "invite_code"))
    return answer((await rq.app[CORE].accounts.register(*fields)).to_dict(), 201)


async def login(rq: web.Request) -> web.Response:
    b = await body(rq)
    session = await rq.app[CORE].accounts.login(b.get("username"), b.get("password"))
    return answer(session.to_dict())


async def submit(rq: web.Request) -> web.Response:
    who, b, sid = await caller(rq), await body(rq), rq.match_info["sid"]
    task, new = await rq.app[CORE].submit_task(who, sid, b.get("content"), b.get("idempotency_key"))
    return answer({"task": task.to_dict()}, 201 if new else 200)


async def export(rq: web.Request) -> web.Response:
    scan, tasks = await rq.app[CORE].export(await caller(rq), rq.match_info["sid"])
    return send(wire.export_reply(scan, tasks, rq.query.get("format")))


async def live(rq: web.Request) -> web.StreamResponse:
    """A scan's events as Server-Sent Events: first ``join`` (the snapshot, or what came
    after ``since_seq`` / ``Last-Event-ID``), then one event per change, ``id`` = its seq.
    The stream ends when its token expires, at shutdown, or when it falls behind."""
    since = wire.seq_from_text(rq.query.get("since_seq") or rq.headers.get("Last-Event-ID"))
    core, who = rq.app[CORE], await caller(rq)
    with ts.ViewerSession(core, who) as viewer:
        rq.app[LIVE].add(viewer)  # closed at shutdown, which ends the stream
        joined = await viewer.join(rq.match_info["sid"], since)  # errors: a JSON answer
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await stream.prepare(rq)
        await stream.write(sse("join", joined.to_dict(), joined.seq))
        # lagged or expired: the client reconnects (with Last-Event-ID, and a fresh token)
        with contextlib.suppress(ts.ViewerClosed, ConnectionError, TimeoutError):
            async with asyncio.timeout(wire.token_seconds_left(who, core.accounts.tokens.leeway)):
                async for event in viewer:
                    unlogged = event.type is EventType.SCAN_STATS or event.type.is_notice
                    seq = None if unlogged else event.seq
                    await stream.write(sse(event.type.value, event.to_envelope(), seq))
    return stream


def sse(kind: str, data: object, seq: int | None) -> bytes:
    head = f"event: {kind}\n" + (f"id: {seq}\n" if seq is not None else "")
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def build_app(
    store_url: str, jwt_secret: str, invite_code: str, undo_seconds: float = 10.0
) -> web.Application:
    store, tokens = ts.open_store(store_url), ts.TokenIssuer(jwt_secret)
    core = TaskStream(store, tokens, invite_code, undo_seconds=undo_seconds)
    app = web.Application(middlewares=[contract_errors], client_max_size=wire.MAX_BODY_BYTES)
    app[CORE] = core
    app[LIVE] = weakref.WeakSet()
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/scans/{sid}/tasks", submit)
    app.router.add_get("/api/scans/{sid}/export", export)
    app.router.add_get("/api/scans/{sid}/live", live)
    for method, path, status, call in ROUTES:
        route = (method, path)
        handler = signed_in(status, call, route in BODIES, route == OPTIONAL_BODY)
        app.router.add_route(method, path, handler)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with core:  # opens the store and the broker; on shutdown, closes them
            yield

    async def end_streams(app: web.Application) -> None:
        streams = app[LIVE]
        for viewer in list(streams):
            viewer.close()

    app.cleanup_ctx.append(lifespan)
    app.on_shutdown.append(end_streams)
    return app


def main() -> None:
    env, parser = os.environ, argparse.ArgumentParser(description="TaskStream on aiohttp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--store", default=env.get("TASKSTREAM_STORE_URL") or "memory://")
    undo = float(env.get("TASKSTREAM_UNDO_SECONDS") or 10)
    parser.add_argument("--undo-seconds", type=float, default=undo, help="0: no undo")
    args = parser.parse_args()
    invite = env.get("TASKSTREAM_ADMIN_INVITE_CODE") or secrets.token_urlsafe(18)
    if "TASKSTREAM_ADMIN_INVITE_CODE" not in env:
        print(f"admin invite code (this run only): {invite}", flush=True)
    secret = env.get("TASKSTREAM_JWT_SECRET") or ts.generate_secret()  # else: one run's tokens
    app = build_app(args.store, secret, invite, args.undo_seconds)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
