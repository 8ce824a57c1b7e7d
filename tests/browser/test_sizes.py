"""The admin scan page at desktop, laptop and phone sizes, from 1 to 1,000 pending tasks: the
grid fits without any scrolling, overlap or clipped text (``check_geometry``), and so does the
analytics pane beside or under it (``check_analytics_geometry``)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import ServerProcess

from .conftest import PENDING_COUNTS, Accounts, OpenPage
from .support import browser_marks, check_analytics_geometry, check_geometry, pending_count

pytestmark = browser_marks()

#: Desktop, laptop and phone (portrait) windows.
SIZES = ((1920, 1080), (1366, 768), (390, 844))


@pytest.mark.parametrize("count", PENDING_COUNTS)
def test_scan_page_fits_every_size(
    count: int,
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """At each size, the grid shows the pending tasks (or the oldest and a count of the
    rest) without scrolling, overlap, clipped or illegible text, and the analytics pane's
    tiles, labels and tables neither overlap nor stick out nor scroll sideways."""
    scan = pending_scans[count]
    expected = pending_count(server.base_url, accounts.admin, scan)
    width, height = SIZES[0]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=width, height=height).page
    expect(page.locator(".analytics .stat-pending .stat-value")).to_have_text(f"{expected:,}")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        label = f"{count} pending, {width}x{height}"
        check_geometry(page, expected, label)
        check_analytics_geometry(page, label)


@pytest.mark.parametrize("count", [1, 12, 1000])
def test_card_buttons_are_32px_targets_on_a_phone(
    count: int,
    *,
    pending_scans: dict[int, str],
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
) -> None:
    """On a 390x844 phone every Validate and Refuse button of the grid is at least 32x32 px
    (they were 21x20 px on compact tiles), and the grid still fits."""
    scan = pending_scans[count]
    expected = pending_count(server.base_url, accounts.admin, scan)
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=390, height=844).page
    check_geometry(page, expected, f"{count} pending, 390x844")
    sizes = page.locator(".grid .card .act").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect()).map(r => [r.width, r.height])"
    )
    assert sizes, "the grid shows buttons"
    small = [s for s in sizes if s[0] < 32 or s[1] < 32]
    assert not small, f"{len(small)} of {len(sizes)} buttons under 32 px: {small[:4]}"
