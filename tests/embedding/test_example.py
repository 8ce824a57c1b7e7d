"""The aiohttp example as code: the routes it serves, and that it stands on the core alone.

What it answers over the wire is checked by tests/contract, whose ``server`` fixture runs
every contract test against the example too (``aiohttp-sqlite``), and its Server-Sent
Events by tests/contract/test_live_sse.py.
"""

from __future__ import annotations

import re
import runpy
import subprocess
import sys

from taskstream_core import wire
from tests.support import AIOHTTP_EXAMPLE, TEST_INVITE_CODE, TEST_JWT_SECRET


def test_the_example_serves_every_documented_route_and_no_other() -> None:
    """The example's /api/ routes are exactly the OpenAPI document's operations, plus the
    event stream the document leaves to the contract's live section."""
    build_app = runpy.run_path(str(AIOHTTP_EXAMPLE))["build_app"]
    app = build_app("memory://", TEST_JWT_SECRET, TEST_INVITE_CODE)
    served = {
        (re.sub(r"\{\w+\}", "{}", route.resource.canonical), route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {
        (re.sub(r"\{\w+\}", "{}", path), method)
        for path, operations in wire.openapi_document()["paths"].items()
        for method in operations
    }
    assert served == documented | {("/api/scans/{}/live", "get")}


def test_the_example_stands_on_the_core_alone() -> None:
    """The example imports nothing of the reference server: not taskstream_server, Sanic or
    python-socketio."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(sorted(m for m in ('taskstream_server', 'sanic', 'socketio') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe, str(AIOHTTP_EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert found.stdout.strip() == "[]", found.stderr
