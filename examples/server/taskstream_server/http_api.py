"""The contract's HTTP API as Sanic routes: each reads the request, makes one call on the core
and sends the result; every rule about values lives in the core (and ``taskstream_core.wire``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import raw

import taskstream_core
from taskstream_core import Principal, TaskStream, wire

from .observability import Metrics, current_request
from .sockets import SocketGateway

__all__ = ["HttpApi"]

log = logging.getLogger("taskstream.http")

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def _send(reply: wire.Reply) -> HTTPResponse:
    return raw(reply.body, reply.status, dict(reply.headers), reply.content_type)


def _reply(body: object, status: int = 200) -> HTTPResponse:
    return _send(wire.json_reply(body, status))


async def _on_error(request: Request, exc: Exception) -> HTTPResponse:
    if isinstance(exc, SanicException) and exc.status_code < 500:  # 404 route, 405 method...
        headers = {k: str(v) for k, v in (exc.headers or {}).items()}
        return _send(wire.status_reply(exc.status_code, str(exc), headers))
    reply = wire.error_reply(exc)
    if reply.status == 500:
        log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
    return _send(reply)


class HttpApi:
    """The contract's routes, bound to one core."""

    def __init__(self, core: TaskStream, sockets: SocketGateway, metrics: Metrics) -> None:
        self.core = core
        self.sockets = sockets
        self.metrics = metrics
        self.store_scheme = core.store.url.partition("://")[0].lower()
        self.openapi_reply = wire.json_reply(wire.openapi_document())

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, Sanic path, handler) for every route of the API."""
        return [
            ("GET", "/api/health", self.health),
            ("GET", "/api/openapi.json", self.openapi),
            ("POST", "/api/auth/register", self.register),
            ("POST", "/api/auth/login", self.login),
            ("GET", "/api/auth/me", self.me),
            ("POST", "/api/auth/logout", self.logout),
            ("POST", "/api/scans", self.create_scan),
            ("GET", "/api/scans", self.list_scans),
            ("GET", "/api/scans/<scan_id>", self.get_scan),
            ("POST", "/api/scans/<scan_id>/close", self.close_scan),
            ("POST", "/api/scans/<scan_id>/tasks", self.submit_task),
            ("GET", "/api/scans/<scan_id>/tasks", self.list_tasks),
            ("GET", "/api/scans/<scan_id>/stats", self.stats),
            ("GET", "/api/scans/<scan_id>/export", self.export),
            ("GET", "/api/tasks/<task_id>", self.get_task),
            ("POST", "/api/tasks/<task_id>/decision", self.decide_task),
            ("POST", "/api/tasks/<task_id>/undo", self.undo_task),
            ("POST", "/api/tasks/<task_id>/claim", self.claim_task),
            ("DELETE", "/api/tasks/<task_id>/claim", self.release_task),
            ("POST", "/api/scans/<scan_id>/claims/next", self.claim_next),
            ("GET", "/api/scans/<scan_id>/presence", self.presence),
            ("GET", "/api/tasks/<task_id>/history", self.task_history),
            ("GET", "/metrics", self.metrics_text),
        ]

    def register_on(self, app: Sanic[Any, Any]) -> None:
        """Add the routes to ``app``, and answer its every error in the contract's words."""
        app.error_handler.add(Exception, _on_error)
        for method, path, handler in self.routes():  # HEAD too where GET: Sanic drops the body
            methods = [method, "HEAD"] if method == "GET" else [method]
            app.add_route(handler, path, methods=methods, name=handler.__name__)

        @app.on_request
        async def note_route(request: Request) -> None:
            info = current_request()
            if info is not None and request.route is not None:
                info.route = "/" + request.route.path

    async def _principal(self, request: Request) -> Principal:
        token = wire.bearer_token(request.headers.get("authorization"))
        return await self.core.accounts.authenticate(token)

    # -- service -----------------------------------------------------------------------
    async def health(self, request: Request) -> HTTPResponse:
        return _reply(
            {"status": "ok", "version": taskstream_core.__version__, "store": self.store_scheme}
        )

    async def openapi(self, request: Request) -> HTTPResponse:
        return _send(self.openapi_reply)

    async def metrics_text(self, request: Request) -> HTTPResponse:
        body, content_type = self.metrics.render()
        return raw(body, content_type=content_type)

    # -- accounts ------------------------------------------------------------------------
    async def register(self, request: Request) -> HTTPResponse:
        body = wire.decode_json_object(request.body)
        session = await self.core.accounts.register(
            body.get("username"), body.get("password"), body.get("role"), body.get("invite_code")
        )
        return _reply(session.to_dict(), 201)

    async def login(self, request: Request) -> HTTPResponse:
        body = wire.decode_json_object(request.body)
        session = await self.core.accounts.login(body.get("username"), body.get("password"))
        return _reply(session.to_dict())

    async def me(self, request: Request) -> HTTPResponse:
        user = await self.core.accounts.me(await self._principal(request))
        return _reply({"user": user.to_dict()})

    async def logout(self, request: Request) -> HTTPResponse:
        principal = await self._principal(request)
        await self.core.accounts.logout(principal)
        await self.sockets.disconnect_token(principal.token_id)
        return HTTPResponse(status=204)

    # -- scans -----------------------------------------------------------------------------
    async def create_scan(self, request: Request) -> HTTPResponse:
        principal = await self._principal(request)
        body = wire.decode_json_object(request.body)
        scan = await self.core.create_scan(principal, body.get("name"), body.get("description"))
        return _reply({"scan": scan.to_dict()}, 201)

    async def list_scans(self, request: Request) -> HTTPResponse:
        scans = await self.core.list_scans(await self._principal(request))
        return _reply({"scans": [s.to_dict() for s in scans]})

    async def get_scan(self, request: Request, scan_id: str) -> HTTPResponse:
        scan = await self.core.get_scan(await self._principal(request), scan_id)
        return _reply({"scan": scan.to_dict()})

    async def close_scan(self, request: Request, scan_id: str) -> HTTPResponse:
        scan = await self.core.close_scan(await self._principal(request), scan_id)
        return _reply({"scan": scan.to_dict()})

    async def stats(self, request: Request, scan_id: str) -> HTTPResponse:
        stats = await self.core.stats(await self._principal(request), scan_id)
        return _reply(stats.to_dict())

    async def export(self, request: Request, scan_id: str) -> HTTPResponse:
        scan, tasks = await self.core.export(await self._principal(request), scan_id)
        return _send(wire.export_reply(scan, tasks, request.args.get("format")))

    # -- tasks -------------------------------------------------------------------------------
    async def submit_task(self, request: Request, scan_id: str) -> HTTPResponse:
        principal = await self._principal(request)
        body = wire.decode_json_object(request.body)
        task, created = await self.core.submit_task(
            principal, scan_id, body.get("content"), body.get("idempotency_key")
        )
        outcome = "created" if created else "replayed"
        self.metrics.count(self.metrics.submissions, "http", outcome)
        return _reply({"task": task.to_dict()}, 201 if created else 200)

    async def list_tasks(self, request: Request, scan_id: str) -> HTTPResponse:
        principal = await self._principal(request)
        page = await self.core.list_tasks(
            principal,
            scan_id,
            status=request.args.get("status"),
            limit=request.args.get("limit"),
            cursor=request.args.get("cursor"),
        )
        return _reply(page.to_dict())

    async def get_task(self, request: Request, task_id: str) -> HTTPResponse:
        task = await self.core.get_task(await self._principal(request), task_id)
        return _reply({"task": task.to_dict()})

    async def decide_task(self, request: Request, task_id: str) -> HTTPResponse:
        principal = await self._principal(request)
        body = wire.decode_json_object(request.body)
        task = await self.core.decide_task(
            principal,
            task_id,
            body.get("decision"),
            body.get("reason"),
            override=body.get("override", False),
        )
        self.metrics.count(self.metrics.decisions, "http", task.status.value)
        return _reply({"task": task.to_dict()})

    async def undo_task(self, request: Request, task_id: str) -> HTTPResponse:
        task = await self.core.undo_task(await self._principal(request), task_id)
        return _reply({"task": task.to_dict()})

    async def task_history(self, request: Request, task_id: str) -> HTTPResponse:
        history = await self.core.task_history(await self._principal(request), task_id)
        return _reply(history.to_dict())

    async def claim_task(self, request: Request, task_id: str) -> HTTPResponse:
        claim = await self.core.claim_task(await self._principal(request), task_id)
        return _reply({"claim": claim.to_dict()})

    async def release_task(self, request: Request, task_id: str) -> HTTPResponse:
        await self.core.release_task(await self._principal(request), task_id)
        return HTTPResponse(status=204)

    async def claim_next(self, request: Request, scan_id: str) -> HTTPResponse:
        principal = await self._principal(request)
        body = wire.decode_json_object(request.body) if request.body else {}
        task, claim = await self.core.claim_next(principal, scan_id, body.get("after_task_id"))
        return _reply(
            {
                "task": None if task is None else task.to_dict(),
                "claim": None if claim is None else claim.to_dict(),
            }
        )

    async def presence(self, request: Request, scan_id: str) -> HTTPResponse:
        presence = await self.core.presence(await self._principal(request), scan_id)
        return _reply(presence.to_dict())
