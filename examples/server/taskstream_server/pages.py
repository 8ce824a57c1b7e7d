"""The web pages: the built dashboard when it is there, a plain notice until then.

The dashboard (``examples/web``) is a single-page app, so every page URL
answers the same ``index.html`` and the app routes on the client. Its
build lands in ``static/app/``, which the wheel and the sdist carry (see
``build_backend.py``); a source tree without it still answers each page,
with a self-contained notice that says how to build it and points at the API.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any, Final

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import NotFound
from sanic.response import raw

__all__ = ["PAGE_PATHS", "STATIC_DIR", "Pages"]

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

#: Every URL the dashboard routes on the client.
PAGE_PATHS: Final = ("/", "/admin", "/admin/scans/<scan_id>", "/worker/scan/<scan_id>")


class Pages:
    def __init__(self, static_dir: Path = STATIC_DIR) -> None:
        self.app_dir = static_dir / "app"
        self.fallback = static_dir / "fallback.html"

    def register_on(self, app: Sanic[Any, Any]) -> None:
        for index, path in enumerate(PAGE_PATHS):
            app.add_route(self.page, path, methods=["GET", "HEAD"], name=f"page_{index}")
        app.add_route(self.asset, "/assets/<path:path>", methods=["GET", "HEAD"], name="asset")

    async def page(self, request: Request, scan_id: str | None = None) -> HTTPResponse:
        built = self.app_dir / "index.html"
        source = built if built.is_file() else self.fallback
        return raw(
            source.read_bytes(),
            content_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def asset(self, request: Request, path: str) -> HTTPResponse:
        root = (self.app_dir / "assets").resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise NotFound("No such asset.")
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        return raw(
            target.read_bytes(),
            content_type=content_type,
            # Built asset names carry a content hash, so they never change.
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )
