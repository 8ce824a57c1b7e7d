"""schemathesis over the running server's /api/openapi.json: every documented operation, with
the bearer token of an admin or of a worker, in schemathesis's positive and negative modes,
checked for no server error and for answers (statuses, content types, bodies) that the
document itself describes.

The cases come from each operation's Hypothesis strategy (``APIOperation.as_strategy``)
rather than from ``@schema.parametrize()``: schemathesis's pytest integration sets a node
attribute pytest 9 no longer has. The operations are listed from the server's document
in-process, to name one test per operation; the cases are built from the document the
running server serves. Half the cases get the ids of a scan and a task that exist, so
they also reach success bodies and the rules behind a 404.

POST /api/auth/logout is left to the bearer-token target of ``test_http_urls``: run here it
would sign the module's own users out. Register and login hash a password (deliberately
slow: about a quarter of a second) on most cases schemathesis writes, so they run
:data:`PASSWORD_CASES` cases, at most 1,000 unless ``TASKSTREAM_FUZZ_PASSWORD_CASES`` asks
for more (10,000 of them take some 40 minutes per operation).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taskstream_core.wire import openapi_document

from .budget import CASES, FUZZ, counted
from .served import Site

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Cases per password-hashing operation (register, login).
PASSWORD_CASES = int(os.environ.get("TASKSTREAM_FUZZ_PASSWORD_CASES") or min(CASES, 1_000))
_HASHING = {("POST", "/api/auth/register"), ("POST", "/api/auth/login")}
OPERATIONS = [
    (method.upper(), path)
    for path, methods in openapi_document()["paths"].items()
    for method in methods
    if (method.upper(), path) != ("POST", "/api/auth/logout")
]


@pytest.fixture(scope="module")
def api_schema(site: Site) -> Any:
    return schemathesis.openapi.from_url(site.url("/api/openapi.json"))


def _real_ids(site: Site, path: str) -> dict[str, str]:
    """Ids of a scan and a task that exist, so that cases also reach the successful answers
    and the rules behind the 404 (a scan of its own for the close operation)."""
    ids = {}
    if "{scan_id}" in path:
        ids["scan_id"] = site.new_scan("to close") if path.endswith("/close") else site.open_scan
    if "{task_id}" in path:
        ids["task_id"] = site.new_task()
    return ids


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation(api_schema: Any, site: Site, method: str, path: str) -> None:
    operation = api_schema[path][method]
    real = _real_ids(site, path)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real),
    )
    budget = PASSWORD_CASES if (method, path) in _HASHING else CASES

    @settings(FUZZ, max_examples=budget)
    @given(case=cases, as_admin=st.booleans())
    def case(case: Any, as_admin: bool) -> None:
        counted(f"schemathesis {method} {path}")
        account = site.admin if as_admin else site.worker
        case.call_and_validate(
            headers={"Authorization": f"Bearer {account.token}"},
            checks=CHECKS,
            session=site.http,
            timeout=30,
        )

    case()
