"""The worker's pages: the outbox across a server restart, decision notices, presence, the
open-scans list, closed and unknown scans, right-to-left text, touch targets and the glass."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.support import TEST_INVITE_CODE, Account, ServerProcess, call_sync, register_sync

from .conftest import PASSWORD, Accounts, OpenPage
from .support import (
    SMALL_TARGETS_JS,
    browser_marks,
    close_scan,
    contrast,
    css_colour,
    decide,
    new_scan,
    panel_extremes,
    submit_many,
    task_contents,
)

pytestmark = browser_marks()

WAITING = "Not sent — will be sent when the connection is back."
SENT = "Sent after the connection came back."
OUTBOX_KEYS_JS = "() => Object.keys(localStorage).filter(k => k.startsWith('taskstream.outbox.'))"

#: The tab goes to the background (headless Chromium keeps every tab visible and focused).
TO_BACKGROUND_JS = """
() => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
  document.hasFocus = () => false;
  document.dispatchEvent(new Event('visibilitychange'));
  window.dispatchEvent(new Event('blur'));
}
"""
#: ... and comes back to the front.
TO_FOREGROUND_JS = """
() => {
  delete document.visibilityState;
  delete document.hidden;
  delete document.hasFocus;
  document.dispatchEvent(new Event('visibilitychange'));
  window.dispatchEvent(new Event('focus'));
}
"""


def attempts_of(page: Page, text: str) -> int:
    """How many times the browser's tabs tried to send the outbox item holding ``text``."""
    script = """(text) => {
      const key = Object.keys(localStorage).find(k => k.startsWith('taskstream.outbox.'));
      const items = JSON.parse(localStorage.getItem(key)).items;
      return items.find(item => item.payload.content.includes(text)).attempts;
    }"""
    return int(page.evaluate(script, text))


def submit_in_page(page: Page, text: str) -> None:
    page.locator("#task-content").fill(text)
    page.get_by_role("button", name="Submit").click()


def worker_page_of_own_server(
    server: ServerProcess, open_page: OpenPage, admin_name: str, worker_name: str, scan_name: str
) -> tuple[Account, Account, str, Page]:
    """An admin's new scan on ``server``, and a new worker's page of it, online: the admin,
    the worker, the scan's id and the page."""
    url = server.base_url
    admin = register_sync(url, admin_name, PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
    worker = register_sync(url, worker_name, PASSWORD)
    scan = new_scan(url, admin, scan_name)
    page = open_page(f"{url}/worker/scan/{scan}", worker).page
    expect(page.locator(".conn")).to_have_attribute("data-state", "online")
    return admin, worker, scan, page


def submit_offline(server: ServerProcess, page: Page, text: str) -> Locator:
    """Stop ``server``, submit ``text`` on ``page`` once it knows, and wait until the item says
    it will be sent later; the item."""
    server.stop()
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    submit_in_page(page, text)
    item = page.locator(".mine-item", has_text=text)
    expect(item.locator(".mine-note")).to_have_text(WAITING)
    return item


def test_unsent_submissions_wait_in_the_outbox_and_go_out_after_restarts(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """A submission made while the server is down says it will be sent, survives closing the
    tab, and reaches the server exactly once when the server is back (and so do two made on
    a page that stays open, each then saying it was sent late: the second one did not). While
    the link is down the reviewers' count is said to be unknown, not the last one seen."""
    server = own_server
    url = server.base_url
    admin, worker, scan, page = worker_page_of_own_server(
        server, open_page, "olga-admin", "pia", "Outbox"
    )

    item = submit_offline(server, page, "Written while the server was down")
    expect(item.locator(".badge")).to_have_text("Not sent")
    expect(page).to_have_title(re.compile(r"^Outbox · 1 not sent · Reconnecting · TaskStream$"))
    assert len(page.evaluate(OUTBOX_KEYS_JS)) == 1

    # The tab is closed while the server is down: the submission stays in the browser.
    context = page.context
    page.close()
    server.start()
    page = context.new_page()
    page.goto(f"{url}/worker/scan/{scan}")
    item = page.locator(".mine-item", has_text="Written while the server was down")
    expect(item.locator(".badge")).to_have_text("Pending", timeout=15_000)
    expect(item.locator(".mine-note")).to_have_text(SENT)
    expect(page.locator(".mine-item")).to_have_count(1)
    assert task_contents(url, scan, worker) == ["Observation: Written while the server was down"]
    assert page.evaluate(OUTBOX_KEYS_JS) == []

    # A page that stays open: the link drops, the submission waits, the link comes back.
    # A second tab of the same browser shares the outbox: both send it, the key keeps it one.
    other = context.new_page()
    other.goto(f"{url}/worker/scan/{scan}")
    expect(other.locator(".mine-item")).to_have_count(1)
    admin_page = open_page(f"{url}/admin/scans/{scan}", admin).page
    presence = page.locator(".presence")
    expect(presence).to_have_text("1 reviewer online")
    server.stop()
    expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
    expect(presence).to_have_text("Reviewers unknown while offline")
    expect(presence).to_have_attribute("data-reviewers", "unknown")
    admin_page.close()
    submit_in_page(page, "Second, while the link is down")
    item = page.locator(".mine-item", has_text="Second, while the link is down")
    expect(item.locator(".mine-note")).to_have_text(WAITING)
    submit_in_page(page, "Third, while the link is down")
    third = page.locator(".mine-item", has_text="Third, while the link is down")
    expect(third.locator(".mine-note")).to_have_text(WAITING)
    other_item = other.locator(".mine-item", has_text="Second, while the link is down")
    expect(other_item.locator(".mine-note")).to_have_text(WAITING)
    page.wait_for_timeout(2_500)  # a retry or two against the stopped server change nothing
    expect(item.locator(".mine-note")).to_have_text(WAITING)
    # ... and a retry or two it is, in both tabs together: each tab backs off (2 s, 4 s...);
    # neither retries at every storage write of the other's failed attempt.
    assert 1 <= attempts_of(page, "Second, while the link is down") <= 6
    server.start()
    expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=20_000)
    expect(item.locator(".badge")).to_have_text("Pending", timeout=15_000)
    expect(item.locator(".mine-note")).to_have_text(SENT)
    expect(third.locator(".badge")).to_have_text("Pending")
    expect(third.locator(".mine-note")).to_have_text(SENT)
    expect(presence).to_have_text("No reviewer online")
    expect(page).to_have_title("Outbox · TaskStream")
    expect(page.locator(".mine-item")).to_have_count(3)
    expect(other_item.locator(".badge")).to_have_text("Pending")
    expect(other_item.locator(".mine-note")).to_have_text(SENT)
    expect(other.locator(".mine-item")).to_have_count(3)
    assert sorted(task_contents(url, scan, worker)) == [
        "Observation: Second, while the link is down",
        "Observation: Third, while the link is down",
        "Observation: Written while the server was down",
    ]
    assert page.evaluate(OUTBOX_KEYS_JS) == []


#: What another tab writes when it has not yet seen this tab's latest item: the outbox as it
#: was, without it (tabs see each other's localStorage writes late).
STALE_WRITE_JS = """
(text) => {
  const key = Object.keys(localStorage).find(k => k.startsWith('taskstream.outbox.'));
  const held = JSON.parse(localStorage.getItem(key));
  held.items = held.items.filter(item => !item.payload.content.includes(text));
  localStorage.setItem(key, JSON.stringify(held));
}
"""


def test_a_stale_write_from_another_tab_loses_no_submission(
    own_server: ServerProcess, open_page: OpenPage
) -> None:
    """Another tab that writes the shared outbox before it has seen this tab's newest item
    leaves it out; this tab keeps the item, waiting, writes it back, and sends it once."""
    server = own_server
    url = server.base_url
    _, worker, scan, page = worker_page_of_own_server(server, open_page, "ugo", "vera", "Stale")
    other = page.context.new_page()
    other.goto(f"{url}/worker/scan/{scan}")
    expect(other.locator(".conn")).to_have_attribute("data-state", "online")

    item = submit_offline(server, page, "Kept through a stale write")
    expect(other.locator(".mine-item")).to_have_count(1)

    other.evaluate(STALE_WRITE_JS, "Kept through a stale write")
    expect(other.locator(".mine-item")).to_have_count(1)  # written back by the first tab
    expect(item.locator(".mine-note")).to_have_text(WAITING)
    page.wait_for_timeout(500)  # the storage event has come and gone
    expect(item.locator(".mine-note")).to_have_text(WAITING)

    server.start()
    expect(item.locator(".badge")).to_have_text("Pending", timeout=15_000)
    expect(other.locator(".mine-item .badge")).to_have_text("Pending", timeout=15_000)
    assert task_contents(url, scan, worker) == ["Observation: Kept through a stale write"]
    assert page.evaluate(OUTBOX_KEYS_JS) == []


def test_decisions_and_undo_reach_the_worker_as_notices(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Validating, refusing and undoing a worker's task shows a toast on the worker's page;
    while the tab is in the background the title counts them, and looking clears the count."""
    url = server.base_url
    worker = accounts.workers[0]
    scan = new_scan(url, accounts.admin, "Notices")
    page = open_page(f"/worker/scan/{scan}", worker).page
    expect(page).to_have_title("Notices · TaskStream")
    tasks = submit_many(
        url,
        scan,
        [worker],
        [
            "Observation: The loading dock door sticks when it is cold outside",
            "Suggestion: Label the spare fuse box",
        ],
        threads=1,
    )
    expect(page.locator(".mine-item")).to_have_count(2)

    page.evaluate(TO_BACKGROUND_JS)
    decide(url, accounts.admin, tasks[0]["id"], "validated")
    decide(url, accounts.admin, tasks[1]["id"], "refused", "Already reported")
    toasts = page.locator(".toast")
    validated = "Validated: The loading dock door sticks when it…"
    expect(toasts.filter(has_text=validated)).to_have_count(1)
    refused = "Refused: Label the spare fuse box — Already reported"
    expect(toasts.filter(has_text=refused)).to_have_count(1)
    expect(page).to_have_title("(2) Notices · TaskStream")
    page.evaluate(TO_FOREGROUND_JS)
    expect(page).to_have_title("Notices · TaskStream")

    # In the foreground a notice is a toast only; an undo puts the task back to pending.
    status, body = call_sync(
        url, "POST", f"/api/tasks/{tasks[1]['id']}/undo", None, accounts.admin.token
    )
    assert status == 200, body
    expect(
        toasts.filter(has_text="Decision undone: Label the spare fuse box is pending again")
    ).to_have_count(1)
    fuse = page.locator(".mine-item", has_text="Label the spare fuse box")
    expect(fuse.locator(".badge")).to_have_text("Pending")
    expect(page).to_have_title("Notices · TaskStream")


def test_open_scans_list_refreshes_when_the_tab_is_looked_at(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """A scan created, then closed, after the worker's list loaded shows up, then leaves, when
    the tab gets the focus or becomes visible again, without a reload."""
    url = server.base_url
    page = open_page("/", accounts.workers[1]).page
    expect(page).to_have_title(re.compile(r"^\d+ open scans? · TaskStream$"))
    scan = new_scan(url, accounts.admin, "Fresh on the worker home")
    row = page.locator(".scan-row", has_text="Fresh on the worker home")
    expect(row).to_have_count(0)
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    expect(row).to_have_count(1)
    close_scan(url, accounts.admin, scan)
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    expect(row).to_have_count(0)


#: The page's fetches of the scans list answer 1.5 s late (the server's answer is as of the
#: request): a load is still under way while the test changes what it would read.
SLOW_SCAN_LIST_JS = """
() => {
  const plain = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const answer = await plain(input, init);
    if (String(input).endsWith('/api/scans')) await new Promise((r) => setTimeout(r, 1500));
    return answer;
  };
}
"""


def test_a_refresh_asked_for_during_a_load_is_not_lost(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """The tab gets the focus while the list is being fetched, after a scan was created: the
    answer under way predates the scan, so the list is fetched once more when it arrives."""
    url = server.base_url
    page = open_page("/", accounts.workers[1]).page
    expect(page).to_have_title(re.compile(r"^\d+ open scans? · TaskStream$"))
    page.evaluate(SLOW_SCAN_LIST_JS)
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")  # a load, answered late
    new_scan(url, accounts.admin, "Created during a load")
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")  # while it is under way
    # Two late answers (the one under way, then the one fetched again) fit well within it.
    expect(page.locator(".scan-row", has_text="Created during a load")).to_have_count(
        1, timeout=15_000
    )


def test_worker_sees_how_many_reviewers_are_online(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """The worker's page counts the admins who have the scan open, live, from the join answer
    and from scan:presence."""
    scan = new_scan(server.base_url, accounts.admin, "Presence")
    worker = open_page(f"/worker/scan/{scan}", accounts.workers[2]).page
    presence = worker.locator(".presence")
    expect(presence).to_have_text("No reviewer online")
    open_page(f"/admin/scans/{scan}", accounts.admin)
    expect(presence).to_have_text("1 reviewer online")
    second = open_page(f"/admin/scans/{scan}", accounts.admin2).page
    expect(presence).to_have_text("2 reviewers online")
    worker.reload()
    expect(presence).to_have_text("2 reviewers online")
    second.close()
    expect(presence).to_have_text("1 reviewer online", timeout=10_000)


def test_unknown_and_closed_scans_and_right_to_left_text(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """An unknown scan link says "Scan not found" (no form, no empty pill); a closed scan keeps
    the typed text read-only with a note; right-to-left text runs right to left."""
    url = server.base_url
    worker = accounts.workers[0]
    page = open_page("/worker/scan/no-such-scan", worker).page
    expect(page.locator("main h1")).to_have_text("Scan not found")
    expect(page.locator("#task-content")).to_have_count(0)
    expect(page.locator(".scan-status")).to_have_count(0)
    expect(page).to_have_title("Scan not found · TaskStream")

    scan = new_scan(url, accounts.admin, "Right to left")
    submit_many(url, scan, [worker], ["Observation: הדלת במחסן נתקעת כשקר בחוץ"])
    page.goto(f"/worker/scan/{scan}")
    text = page.locator(".mine-content")
    expect(text).to_have_attribute("dir", "auto")
    assert text.evaluate("el => getComputedStyle(el).direction") == "rtl"
    box = page.locator("#task-content")
    expect(box).to_have_attribute("dir", "auto")
    box.fill("الباب عالق")
    assert box.evaluate("el => getComputedStyle(el).direction") == "rtl"
    box.fill("Half-written when the scan closes")
    close_scan(url, accounts.admin, scan)
    expect(page.locator(".scan-status")).to_have_text("Closed")
    expect(box).to_have_attribute("readonly", "")
    expect(box).to_have_attribute("aria-disabled", "true")
    expect(box).to_have_value("Half-written when the scan closes")
    expect(page.get_by_role("button", name="Submit")).to_be_disabled()
    expect(page.locator("#scan-banner")).to_contain_text("closed")
    expect(box).to_have_attribute("aria-describedby", "scan-banner")
    expect(page).to_have_title("Right to left (closed) · TaskStream")


def test_touch_targets_and_glass_contrast(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """Every button and link of the sign-in and worker pages is at least 32 × 32 px; the
    frosted panels show the backdrop through (their background varies) while every text
    colour keeps 4.5:1 against the lightest and darkest point of the panel."""
    signin = open_page("/").page
    assert signin.evaluate(SMALL_TARGETS_JS) == []
    signin.get_by_role("tab", name="Create account").click()
    signin.locator("[data-role=admin]").click()
    assert signin.evaluate(SMALL_TARGETS_JS) == []

    url = server.base_url
    worker = accounts.workers[1]
    scan = new_scan(url, accounts.admin, "Targets and glass")
    tasks = submit_many(url, scan, [worker], ["Observation: Targets", "Suggestion: Glass"])
    decide(url, accounts.admin, tasks[0]["id"], "refused", "Too vague")
    home = open_page("/", worker).page
    expect(home.locator(".scan-row").first).to_be_visible()
    assert home.evaluate(SMALL_TARGETS_JS) == []
    page = open_page(f"/worker/scan/{scan}", worker).page
    expect(page.locator(".mine-item")).to_have_count(2)
    expect(page.locator(".presence")).to_be_visible()
    assert page.evaluate(SMALL_TARGETS_JS) == []
    page.screenshot(path=str(artifacts / "worker-page-glass.png"))

    texts = {
        name: css_colour(page, f"--{name}")
        for name in ("text", "muted", "faint", "accent", "ok-text", "no-text", "wait-text")
    }
    for selector in (".worker-form-panel", ".worker-list-panel", ".topbar"):
        darkest, lightest = panel_extremes(page, selector)
        # The backdrop's colour fields show through the glass: its background is not flat
        # (lightest vs darkest point about 1.4-1.5:1; on the near-black backdrop before: 1.16-1.22).
        assert contrast(darkest, lightest) >= 1.3, (selector, darkest, lightest)
        for name, colour in texts.items():
            worst = min(contrast(colour, lightest), contrast(colour, darkest))
            print(f"{selector} {name} {colour}: {worst:.2f}:1 (panel {darkest}..{lightest})")
            assert worst >= 4.5, (selector, name, colour, darkest, lightest, worst)
    darkest, lightest = panel_extremes(signin, ".auth-card")
    for name, colour in texts.items():
        worst = min(contrast(colour, lightest), contrast(colour, darkest))
        print(f".auth-card {name} {colour}: {worst:.2f}:1 (panel {darkest}..{lightest})")
        assert worst >= 4.5, (".auth-card", name, colour, darkest, lightest, worst)


#: What sticks out sideways on the worker page: the document, the "My submissions" list, each
#: of its items and their parts, and the toasts (against the window's edges).
SIDEWAYS_JS = """
() => {
  const name = el => el.className + ' "' + el.textContent.trim().slice(0, 30) + '"';
  const over = el => el.scrollWidth > el.clientWidth + 1;
  const list = document.querySelector('.mine');
  const listBox = list.getBoundingClientRect();
  const parts = [...list.querySelectorAll('.mine-item, .mine-item *')];
  const outside = parts.filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.left < listBox.left - 0.5 || r.right > listBox.right + 0.5);
  });
  const toasts = [...document.querySelectorAll('.toast')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.left < -0.5 || r.right > innerWidth + 0.5 || over(el);
  });
  const de = document.documentElement;
  return {
    page: de.scrollWidth > innerWidth ? [de.scrollWidth, innerWidth] : null,
    list: over(list) ? [list.scrollWidth, list.clientWidth] : null,
    overflowing: [list, ...parts].filter(over).map(name),
    outside: outside.map(name),
    toasts: toasts.map(name),
    shown: document.querySelectorAll('.toast').length,
  };
}
"""


#: The worker page's layout on a small screen: the boxes of the top bar, the form and the "My
#: submissions" panel and its scroll box; which of them cross another or leave the window; what
#: sticks out of its panel sideways (a kind button did, 23 px at 320x568); the breadcrumb's parts
#: drawn past its box (its text ran under the "Live" pill); the form's controls cut by its panel.
LAYOUT_JS = """
() => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, height: r.height};
  };
  const name = el => (el.className.baseVal ?? el.className) + ' "'
    + el.textContent.trim().slice(0, 20) + '"';
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const cross = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.top >= b.top - 0.5
    && a.right <= b.right + 0.5 && a.bottom <= b.bottom + 0.5;
  const sideways = (a, b) => a.left < b.left - 0.5 || a.right > b.right + 0.5;
  const win = {left: 0, top: 0, right: innerWidth, bottom: innerHeight};
  const parts = {
    topbar: document.querySelector('.topbar'),
    form: document.querySelector('.worker-form-panel'),
    list: document.querySelector('.worker-list-panel'),
  };
  const boxes = Object.fromEntries(Object.entries(parts).map(([k, el]) => [k, box(el)]));
  const scroll = document.querySelector('.worker-list-panel .scroll');
  const names = Object.keys(parts);
  const crossing = [];
  names.forEach((a, i) => names.slice(i + 1).forEach(b => {
    if (cross(boxes[a], boxes[b])) crossing.push(`${a} x ${b}`);
  }));
  const crumbs = document.querySelector('.crumbs');
  const end = document.querySelector('.topbar-end');
  const controls = [...parts.form.querySelectorAll('.seg, textarea, button[type=submit]')];
  return {
    boxes, scroll: box(scroll),
    scrollInside: inside(box(scroll), boxes.list) && inside(box(scroll), win),
    offscreen: names.filter(k => !inside(boxes[k], win)),
    crossing,
    sticking: Object.values(parts).flatMap(panel => [...panel.querySelectorAll('*')]
      .filter(el => shown(el) && sideways(box(el), box(panel))).map(name)),
    crumbs: [...crumbs.querySelectorAll('*')]
      .filter(el => shown(el) && (sideways(box(el), box(crumbs)) || cross(box(el), box(end))))
      .map(name),
    cutControls: controls.filter(el => !inside(box(el), boxes.form)).map(name),
    headOverForm: cross(box(parts.list.querySelector('.panel-head')), boxes.form),
  };
}
"""


def test_a_long_unbroken_reason_wraps_on_the_worker_page(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """A refusal reason of 1,000 characters without a space (or a long URL) wraps: "My
    submissions" never scrolls sideways nor cuts another item at its right edge, and the
    toast that announces the refusal stays on a phone's screen. On small phones, upright or
    on their side (320x568, 360x640, 568x320), the list keeps a real height on screen (it was
    0 px tall, below the window or under the form), nothing crosses the form, and nothing
    sticks out of its panel or the breadcrumb."""
    url = server.base_url
    worker = accounts.workers[2]
    scan = new_scan(
        url,
        accounts.admin,
        "Long reasons",
        "Walk the loading docks and the mezzanine; note anything loose, blocked or unlabelled.",
    )
    tasks = submit_many(
        url,
        scan,
        [worker],
        [
            "Observation: The mezzanine rail is loose",
            "Suggestion: A second label printer at packing station B",
            "Observation: " + "N" * 400,
        ],
        threads=1,
    )
    page = open_page(f"/worker/scan/{scan}", worker, width=390, height=844).page
    expect(page.locator(".mine-item")).to_have_count(3)
    long_url = "https://example.com/" + "/".join(f"segment{i:03d}" for i in range(80))
    decide(url, accounts.admin, tasks[0]["id"], "refused", "R" * 1000)
    expect(page.locator(".toast", has_text="RRRR")).to_have_count(1)
    decide(url, accounts.admin, tasks[1]["id"], "refused", long_url)
    expect(page.locator(".mine-reason .reason-text", has_text=long_url)).to_have_count(1)
    expect(page.locator(".mine-reason .reason-text", has_text="R" * 1000)).to_have_count(1)
    for width, height in ((390, 844), (1280, 800), (320, 568), (360, 640), (568, 320)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        found = page.evaluate(SIDEWAYS_JS)
        where = f"{width}x{height}: {found}"
        assert found["page"] is None, f"the page scrolls sideways at {where}"
        assert found["list"] is None, f"My submissions scrolls sideways at {where}"
        assert found["overflowing"] == [], f"text runs past its box at {where}"
        assert found["outside"] == [], f"an item sticks out of the list at {where}"
        layout = page.evaluate(LAYOUT_JS)
        where = f"{width}x{height}: {layout}"
        # About two items' height at least (a short item is about 75 px), inside the window.
        assert layout["scroll"]["height"] >= 140, f"My submissions is too short at {where}"
        assert layout["scrollInside"], f"My submissions is not all on screen at {where}"
        assert layout["offscreen"] == [], f"part of the page is off-screen at {where}"
        assert layout["crossing"] == [], f"the page's parts overlap at {where}"
        assert not layout["headOverForm"], f"'My submissions' is drawn over the form at {where}"
        assert layout["sticking"] == [], f"something sticks out of its panel at {where}"
        assert layout["crumbs"] == [], f"the breadcrumb runs past its box at {where}"
        assert layout["cutControls"] == [], f"a form control is cut at {where}"
        if width == 390:
            assert found["shown"] > 0, "the refusal's toast is gone before it was measured"
            assert found["toasts"] == [], f"a toast runs off-screen at {where}"


def test_the_limit_counts_characters_as_the_server_does(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Content is 1-5,000 characters counted in code points, the "Observation: " or
    "Suggestion: " prefix the page adds included: the counter shows what is left for the
    worker's own text (4,987 or 4,988), the box takes 4,987 emoji (it cut them at 2,500), the
    limit goes through and one more is refused with the counter's numbers."""
    url = server.base_url
    worker = accounts.workers[0]
    scan = new_scan(url, accounts.admin, "Limits")
    page = open_page(f"/worker/scan/{scan}", worker).page
    box = page.locator("#task-content")
    counter = page.locator(".submit-row .counter")
    alert = page.locator(".submit-form .form-message")
    expect(counter).to_have_text("0 / 4,987")
    cases = [
        ("Observation", "x", 4987, "x" * 4988),
        ("Observation", "🎉", 4987, "🎉" * 4990),
        ("Suggestion", "y", 4988, "y" * 4989),
        ("Suggestion", "🙂", 4988, "🙂" * 4989),
    ]
    for sent, (kind, char, limit, over) in enumerate(cases, start=1):
        page.get_by_role("button", name=kind).click()
        excess = len(over) - limit  # code points: Python counts as the server does
        box.fill(over)
        assert box.input_value() == over, "the box cut the text"
        expect(counter).to_have_text(f"{len(over):,} / {limit:,}")
        expect(counter).to_have_attribute("data-over", "true")
        page.get_by_role("button", name="Submit").click()
        plural = "" if excess == 1 else "s"
        expect(alert).to_have_text(
            f"That is {excess} character{plural} over the limit of {limit:,}."
        )
        expect(box).to_have_value(over)
        box.fill(char * limit)
        expect(counter).to_have_text(f"{limit:,} / {limit:,}")
        expect(counter).to_have_attribute("data-over", "false")
        page.get_by_role("button", name="Submit").click()
        expect(page.locator(".mine-item .badge", has_text="Pending")).to_have_count(sent)
        expect(alert).to_have_text("")
        expect(box).to_have_value("")
    contents = task_contents(url, scan, worker)
    assert sorted(contents) == sorted(f"{kind}: {char * limit}" for kind, char, limit, _ in cases)
    assert {len(content) for content in contents} == {5000}


def test_a_draft_survives_an_ended_session(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """The session ends (its token logged out elsewhere) while the worker types: after signing
    in again the text and the kind are back in the form; once submitted, a reload shows an
    empty box."""
    url = server.base_url
    worker = accounts.workers[1]
    scan = new_scan(url, accounts.admin, "Drafts")
    status, body = call_sync(
        url, "POST", "/api/auth/login", {"username": worker.username, "password": PASSWORD}
    )
    assert status == 200, body
    session = Account(worker.username, PASSWORD, body["token"], body["user"])
    page = open_page(f"/worker/scan/{scan}", session).page
    expect(page.locator(".conn")).to_have_attribute("data-state", "online")
    page.get_by_role("button", name="Suggestion").click()
    draft = "Half a thought about the\nloading dock 🚪"
    page.locator("#task-content").fill(draft)
    status, _ = call_sync(url, "POST", "/api/auth/logout", token=body["token"])
    assert status == 204
    expect(page.locator(".auth-card")).to_contain_text("Your session has ended")
    page.get_by_label("Username").fill(worker.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    box = page.locator("#task-content")
    expect(box).to_have_value(draft)
    expect(page.get_by_role("button", name="Suggestion")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".submit-row .counter")).to_have_text(f"{len(draft.strip())} / 4,988")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".mine-item")).to_have_count(1)
    page.reload()
    expect(page.locator(".mine-item")).to_have_count(1)
    expect(box).to_have_value("")
    expect(page.get_by_role("button", name="Observation")).to_have_attribute("aria-pressed", "true")
    assert task_contents(url, scan, worker) == [f"Suggestion: {draft}"]


def test_a_username_over_32_characters_is_refused_not_cut(
    open_page: OpenPage, server: ServerProcess
) -> None:
    """The sign-up box takes a 33-character name whole and refuses it with the username rule's
    message (it was cut to 32 and that account was created)."""
    page = open_page("/").page
    page.get_by_role("tab", name="Create account").click()
    name = "a_33_character_username_for_test1"
    assert len(name) == 33
    page.get_by_label("Username").fill(name)
    expect(page.get_by_label("Username")).to_have_value(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create worker account").click()
    expect(page.locator(".auth-form .form-message")).to_have_text(
        "Usernames are 3–32 characters: letters, digits, _ . or -."
    )
    expect(page.locator(".auth-card")).to_be_visible()
    # No account under the cut name either.
    status, _ = call_sync(
        server.base_url, "POST", "/api/auth/login", {"username": name[:32], "password": PASSWORD}
    )
    assert status == 401
