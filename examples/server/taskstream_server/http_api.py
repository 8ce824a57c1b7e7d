"""The HTTP API of CONTRACT.md §2 as Sanic routes.

Each handler reads the request's shape (bearer token, JSON object, query
parameters), makes one call on the core, and turns the result into the
contract's answer. Every rule about values (lengths, types, who may do
what) lives in the core: a handler passes client values on as they came.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any, Final

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import json as json_response
from sanic.response import raw

import taskstream_core
from taskstream_core import (
    Internal,
    InvalidRequest,
    Principal,
    RateLimited,
    TaskStream,
    TaskStreamError,
    Unauthorized,
    export_csv,
    export_json,
)

from .observability import Metrics, current_request
from .openapi import openapi_document
from .payloads import decode_json_object
from .sockets import SocketGateway

__all__ = ["HttpApi", "error_response", "register_error_handler"]

log = logging.getLogger("taskstream.http")

_dumps: Final = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))

#: Contract codes for the statuses Sanic raises on its own (unknown route, ...).
_CODE_BY_STATUS: Final = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
}

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def _reply(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> HTTPResponse:
    return json_response(body, status=status, headers=dict(headers or {}), dumps=_dumps)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> HTTPResponse:
    """The contract's error body ``{"error": {"code", "message"}}`` with a status."""
    return _reply({"error": {"code": code, "message": message}}, status, headers)


def _from_sanic(exc: SanicException) -> HTTPResponse:
    """Sanic's own refusals (404 route, 405 method, ...) in the contract's shape.

    A 405 keeps its status and ``Allow`` header; its code is ``invalid_request``,
    the closest of the contract's codes to "this method is wrong here".
    """
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "invalid_request")
    message = str(exc) or "The request could not be handled."
    headers = {k: str(v) for k, v in (exc.headers or {}).items()}
    return error_response(status, code, message, headers)


async def _on_error(request: Request, exc: Exception) -> HTTPResponse:
    if isinstance(exc, TaskStreamError):
        if isinstance(exc, Internal):
            log.error("internal error: %s", exc.message, exc_info=exc)
        headers = {}
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return _reply(exc.to_dict(), exc.status, headers)
    if isinstance(exc, SanicException) and exc.status_code < 500:
        return _from_sanic(exc)
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return _reply(Internal().to_dict(), 500)


def register_error_handler(app: Sanic[Any, Any]) -> None:
    """Answer every exception, Sanic's own included, with the contract's error body."""
    app.error_handler.add(Exception, _on_error)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    return token.strip()


class HttpApi:
    """The contract's routes, bound to one core."""

    def __init__(
        self, core: TaskStream, sockets: SocketGateway, metrics: Metrics, store_scheme: str
    ) -> None:
        self.core = core
        self.sockets = sockets
        self.metrics = metrics
        self.store_scheme = store_scheme

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
            ("GET", "/metrics", self.metrics_text),
        ]

    def register_on(self, app: Sanic[Any, Any]) -> None:
        for method, path, handler in self.routes():
            app.add_route(handler, path, methods=[method], name=handler.__name__)

        @app.on_request
        async def note_route(request: Request) -> None:
            info = current_request()
            if info is not None and request.route is not None:
                info.route = "/" + request.route.path

    async def _principal(self, request: Request) -> Principal:
        return await self.core.accounts.authenticate(_bearer(request))

    # -- service -----------------------------------------------------------------------
    async def health(self, request: Request) -> HTTPResponse:
        return _reply(
            {"status": "ok", "version": taskstream_core.__version__, "store": self.store_scheme}
        )

    async def openapi(self, request: Request) -> HTTPResponse:
        return _reply(openapi_document())

    async def metrics_text(self, request: Request) -> HTTPResponse:
        body, content_type = self.metrics.render()
        return raw(body, content_type=content_type)

    # -- accounts ------------------------------------------------------------------------
    async def register(self, request: Request) -> HTTPResponse:
        body = decode_json_object(request.body)
        session = await self.core.accounts.register(
            body.get("username"), body.get("password"), body.get("role"), body.get("invite_code")
        )
        return _reply(session.to_dict(), 201)

    async def login(self, request: Request) -> HTTPResponse:
        body = decode_json_object(request.body)
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
        body = decode_json_object(request.body)
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
        wanted = request.args.get("format") or "json"
        if wanted not in ("csv", "json"):  # checked after the core's access check
            raise InvalidRequest("'format' must be 'csv' or 'json'.")
        disposition = {"Content-Disposition": f'attachment; filename="scan-{scan.id}.{wanted}"'}
        if wanted == "csv":
            text, content_type = export_csv(tasks), "text/csv; charset=utf-8"
        else:
            text, content_type = export_json(scan, tasks), "application/json"
        return raw(text.encode(), content_type=content_type, headers=disposition)

    # -- tasks -------------------------------------------------------------------------------
    async def submit_task(self, request: Request, scan_id: str) -> HTTPResponse:
        principal = await self._principal(request)
        body = decode_json_object(request.body)
        task, created = await self.core.submit_task(
            principal, scan_id, body.get("content"), body.get("idempotency_key")
        )
        outcome = "created" if created else "replayed"
        self.metrics.submissions.labels(transport="http", outcome=outcome).inc()
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
        body = decode_json_object(request.body)
        task = await self.core.decide_task(
            principal, task_id, body.get("decision"), body.get("reason")
        )
        self.metrics.decisions.labels(transport="http", decision=task.status.value).inc()
        return _reply({"task": task.to_dict()})
