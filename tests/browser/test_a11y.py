"""axe-core on every page of the dashboard at desktop, laptop and phone sizes: no serious or
critical violation. axe is injected into contexts that bypass the server's CSP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.support import Account, ServerProcess

from .conftest import Accounts, OpenPage
from .support import axe_serious, browser_marks, settle

pytestmark = browser_marks()

SIZES = ((1920, 1080), (1366, 768), (390, 844))


@dataclass(frozen=True, slots=True)
class Screen:
    """A page to check: where it is, who looks at it, and when it is ready."""

    path: Callable[[dict[int, str]], str]
    who: Callable[[Accounts], Account | None]
    ready: Callable[[Page], object]


def _grid(count: int) -> Callable[[Page], object]:
    def ready(page: Page) -> None:
        expect(page.locator(".grid")).to_have_attribute("data-pending", str(count))
        expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text(f"{count:,}")

    return ready


def _refusing(page: Page) -> None:
    _grid(12)(page)
    page.locator(".grid .card").first.locator(".act-refuse").click()
    expect(page.locator("dialog[open]")).to_be_visible()


SCREENS = {
    "sign-in": Screen(
        lambda scans: "/",
        lambda accounts: None,
        lambda page: expect(page.locator("input[type=password]").first).to_be_visible(),
    ),
    "admin-home": Screen(
        lambda scans: "/admin",
        lambda accounts: accounts.admin,
        lambda page: expect(page.locator(".scan-row").first).to_be_visible(),
    ),
    "admin-scan-12": Screen(
        lambda scans: f"/admin/scans/{scans[12]}", lambda accounts: accounts.admin, _grid(12)
    ),
    "admin-scan-1000": Screen(
        lambda scans: f"/admin/scans/{scans[1000]}", lambda accounts: accounts.admin, _grid(1000)
    ),
    "refuse-dialog": Screen(
        lambda scans: f"/admin/scans/{scans[12]}", lambda accounts: accounts.admin, _refusing
    ),
    "worker-home": Screen(
        lambda scans: "/",
        lambda accounts: accounts.workers[0],
        lambda page: expect(page.locator(".scan-row").first).to_be_visible(),
    ),
    "worker-scan": Screen(
        lambda scans: f"/worker/scan/{scans[12]}",
        lambda accounts: accounts.workers[0],
        lambda page: expect(page.locator(".mine-item").first).to_be_visible(),
    ),
}


@pytest.mark.parametrize("name", SCREENS)
def test_no_serious_axe_violations(
    name: str,
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """axe finds no serious or critical violation on the page at 1920x1080, 1366x768 and
    390x844 (the admin scan page with its analytics pane filled, and with the refusal
    dialog open)."""
    screen = SCREENS[name]
    width, height = SIZES[0]
    page = open_page(
        screen.path(pending_scans),
        screen.who(accounts),
        width=width,
        height=height,
        bypass_csp=True,
    ).page
    screen.ready(page)
    found: dict[str, list[dict[str, object]]] = {}
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        violations = axe_serious(page)
        if violations:
            found[f"{width}x{height}"] = violations
    assert not found, f"axe on {name}: {json.dumps(found, indent=1)}"
