"""The pages once the dashboard is built into ``static/app``.

The packaged server has no build yet (``examples/web`` makes it), so this
runs the same ASGI app in-process with a fake build in a temporary folder.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sanic import Sanic

from taskstream_server import Secrets, Settings, build_app
from tests.support.asgi import InProcess


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[InProcess]:
    assets = tmp_path / "app" / "assets"
    assets.mkdir(parents=True)
    (tmp_path / "app" / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/main-1a2b.js"></script>'
    )
    (assets / "main-1a2b.js").write_text("console.log('dashboard')")
    (tmp_path / "secret.txt").write_text("outside the assets")
    settings = Settings(secrets=Secrets("p" * 40, "invite-code-for-tests"), store_url="memory://")
    app = build_app(settings, name=f"pages-built-{uuid.uuid4().hex[:8]}", static_dir=tmp_path)
    app.sanic.config.TOUCHUP = False  # Sanic rewrites its classes once per process, not per app
    runner = InProcess(app)
    await runner.start()
    yield runner
    await runner.stop()
    Sanic.unregister_app(app.sanic)


@pytest.mark.parametrize("path", ["/", "/admin", "/admin/scans/s1", "/worker/scan/s1"])
async def test_every_page_serves_the_built_index(built: InProcess, path: str) -> None:
    """Every dashboard URL answers the built `index.html` (the app routes on the client)."""
    status, headers, body = await built.get(path)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"/assets/main-1a2b.js" in body
    assert "script-src 'self'" in headers["content-security-policy"]


async def test_assets_are_served_with_their_type_and_long_caching(built: InProcess) -> None:
    """Built assets are served under `/assets/...` with their content type; their hashed names
    let them be cached for good."""
    status, headers, body = await built.get("/assets/main-1a2b.js")
    assert status == 200
    assert body == b"console.log('dashboard')"
    assert "javascript" in headers["content-type"]
    assert "immutable" in headers["cache-control"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/assets/../../secret.txt", "/assets/missing.js"])
async def test_assets_outside_or_missing_are_404(built: InProcess, path: str) -> None:
    """Nothing outside the build's assets folder is served; a missing file is a contract 404."""
    status, _, body = await built.get(path)
    assert status == 404
    assert b'"not_found"' in body
    assert b"outside the assets" not in body
