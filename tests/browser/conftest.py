"""Fixtures for the browser suite: the built dashboard, one real server, Chromium, accounts.

Every test here drives the real ``taskstream-server`` (``ServerProcess``, temp
SQLite store) with the system Chromium through Playwright. The suite skips only
when Chromium is not installed; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.support import TEST_INVITE_CODE, Account, ServerProcess, register_sync

from .support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ensure_web_build,
    new_scan,
    signed_in,
    submission,
    submit_many,
)

PASSWORD = "correct horse battery"
CSP_PROBLEM = re.compile(r"Content Security Policy|Refused to (execute|load|apply)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Accounts:
    """Registered once for the package (PBKDF2 makes each registration cost ~0.25 s)."""

    admin: Account
    admin2: Account
    workers: tuple[Account, ...]


@dataclass
class Watched:
    """A page and what its console said: CSP violations and script errors fail the test."""

    page: Page
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="package")
def web_build() -> None:
    """The dashboard's build, made with npm if it is missing or older than its sources."""
    ensure_web_build()


@pytest.fixture(scope="package")
def server(web_build: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server every browser test talks to, on a SQLite store of its own."""
    data: Path = tmp_path_factory.mktemp("browser-store")
    with ServerProcess(store_url=f"sqlite:///{data}/browser.db") as process:
        yield process


@pytest.fixture
def own_server(web_build: None, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of one test's own, which it may stop and restart (same port, file SQLite store)."""
    with ServerProcess(store_url=f"sqlite:///{tmp_path}/restart.db") as process:
        yield process


@pytest.fixture(scope="package")
def accounts(server: ServerProcess) -> Accounts:
    """Two admins and three workers."""
    url = server.base_url
    return Accounts(
        admin=register_sync(url, "ada-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE),
        admin2=register_sync(url, "bo-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE),
        workers=tuple(register_sync(url, name, PASSWORD) for name in ("wren", "kit", "sol")),
    )


#: The pending counts of ``pending_scans``.
PENDING_COUNTS = (1, 12, 40, 200, 1000)


@pytest.fixture(scope="package")
def pending_scans(server: ServerProcess, accounts: Accounts) -> dict[int, str]:
    """One scan per count of ``PENDING_COUNTS``, that many tasks pending, submitted by the
    three workers; read-only (a test that decides or submits makes its own scan)."""
    rng = random.Random(21)
    made: dict[int, str] = {}
    for count in PENDING_COUNTS:
        scan = new_scan(server.base_url, accounts.admin, f"{count:,} pending")
        contents = [submission(rng, i) for i in range(count)]
        submit_many(server.base_url, scan, accounts.workers, contents)
        made[count] = scan
    return made


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """The system Chromium, headless."""
    if not CHROMIUM.exists():  # pragma: no cover - CI installs it
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    instance = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield instance
    instance.close()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


OpenPage = Callable[..., Watched]


@pytest.fixture
def open_page(browser: Browser, server: ServerProcess) -> Iterator[OpenPage]:
    """Opens pages in fresh contexts (optionally signed in) and checks their consoles after."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    def opener(
        path: str,
        account: Account | None = None,
        *,
        width: int = 1280,
        height: int = 800,
        reduced_motion: bool = True,
        touch: bool = False,
        before: Callable[[Page], object] | None = None,
        bypass_csp: bool = False,
    ) -> Watched:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            reduced_motion="reduce" if reduced_motion else "no-preference",
            has_touch=touch,
            base_url=server.base_url,
            bypass_csp=bypass_csp,  # for injecting axe-core (test_a11y.py)
        )
        contexts.append(context)
        if account is not None:
            signed_in(context, account)
        page = context.new_page()
        page.set_default_timeout(15_000)
        item = Watched(page)
        watched.append(item)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and CSP_PROBLEM.search(message.text):
                item.problems.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: item.problems.append(f"page error: {error}"))
        if before is not None:
            before(page)
        page.goto(path)
        return item

    yield opener
    for context in contexts:
        context.close()
    problems = [p for item in watched for p in item.problems]
    assert not problems, f"the pages reported CSP violations or script errors: {problems}"


class OfflineReview(NamedTuple):
    """An admin's scan page whose server was stopped, and who is around it."""

    page: Page
    admin: Account  #: ada-admin, on the page
    other: Account  #: bo-admin, another admin
    worker: Account  #: wren, who submitted the tasks
    scan: str
    tasks: list[dict[str, Any]]  #: oldest first, all pending


def review_offline(
    server: ServerProcess, open_page: OpenPage, name: str, count: int
) -> OfflineReview:
    """Open the admin page of a new scan with ``count`` pending tasks, then stop ``server``
    (an ``own_server``) and wait for the page to say it is reconnecting."""
    url = server.base_url
    admin = register_sync(url, "ada-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    other = register_sync(url, "bo-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    worker = register_sync(url, "wren", PASSWORD)
    scan = new_scan(url, admin, name)
    contents = [f"{name} task {i}" for i in range(1, count + 1)]
    tasks = submit_many(url, scan, [worker], contents, threads=1)
    page = open_page(f"{url}/admin/scans/{scan}", admin).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", str(count))
    server.stop()
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    return OfflineReview(page, admin, other, worker, scan, tasks)
