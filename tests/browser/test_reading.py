"""Reading the admin's queue: the preview pane (full text, worker, time, history) by
keyboard, mouse and touch; filters, search and paging beyond what fits; a toolbar count
that always says what is on screen; the refusal dialog's whole quote; right-to-left text,
the tab title and an unknown scan link."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support import ServerProcess, call_sync

from .conftest import Accounts, OpenPage
from .support import browser_marks, document_fits, new_scan, settle, shown_cards, submit_many

pytestmark = browser_marks()

KINDS = ("Observation", "Suggestion", "")
LONG_TEXT = (
    "Stacked boxes lean over the walkway between aisles 4 and 5 and block the view of"
    " oncoming forklifts; twice this week a picker stepped out without seeing one. "
) * 6 + "The last line ends here: cones at both ends until the stack is rebuilt."


def task_text(index: int) -> str:
    """Task ``index``'s content: a kind prefix for two of three, a unique #number."""
    kind = KINDS[index % 3]
    body = f"#{index} Label printer at packing station {index % 7} jams every few labels."
    return f"{kind}: {body}" if kind else body


def tail(content: str) -> str:
    """The content without its kind prefix, as the dashboard shows it next to the chip."""
    for kind in KINDS[:2]:
        if content.startswith(f"{kind}: "):
            return content[len(kind) + 2 :]
    return content


Seeded = tuple[str, list[dict[str, Any]]]


def seed(server: ServerProcess, accounts: Accounts, name: str, contents: list[str]) -> Seeded:
    """A scan with ``contents`` submitted in order, round-robin over the three workers."""
    scan = new_scan(server.base_url, accounts.admin, name)
    tasks = submit_many(server.base_url, scan, accounts.workers, contents, threads=1)
    return scan, tasks


def post(server: ServerProcess, accounts: Accounts, path: str, body: Any = None) -> Any:
    status, answer = call_sync(server.base_url, "POST", path, body or {}, accounts.admin.token)
    assert status == 200, answer
    return answer


@pytest.fixture(scope="module")
def forty(server: ServerProcess, accounts: Accounts) -> Seeded:
    """40 pending: the oldest has a long text, the second was refused with a reason and
    the refusal undone (so its history has three entries)."""
    contents = [f"Observation: {LONG_TEXT}"] + [task_text(i) for i in range(1, 40)]
    scan, tasks = seed(server, accounts, "Reading forty", contents)
    second = tasks[1]["id"]
    post(
        server,
        accounts,
        f"/api/tasks/{second}/decision",
        {"decision": "refused", "reason": "Duplicate of #12"},
    )
    post(server, accounts, f"/api/tasks/{second}/undo")
    return scan, tasks


@pytest.fixture(scope="module")
def many(server: ServerProcess, accounts: Accounts) -> Seeded:
    """212 pending, with one task far beyond what fits that says "zebra crossing"."""
    contents = [task_text(i) for i in range(212)]
    contents[150] = (
        "Suggestion: #150 Paint a zebra crossing where the forklift lane meets the exit."
    )
    return seed(server, accounts, "Reading two hundred", contents)


def queue_text(page: Page) -> str:
    return str(page.locator(".toolbar .queue-info").text_content())


def expect_preview(page: Page, task: dict[str, Any], history: list[str]) -> None:
    """The preview pane shows ``task`` in full and its history's actions in order."""
    pane = page.get_by_role("complementary", name="Task preview")
    expect(pane).to_be_visible()
    expect(pane.locator(".preview-text")).to_have_text(tail(task["content"]))
    expect(pane.locator(".preview-worker")).to_have_text(task["worker_username"])
    expect(pane.locator(".preview-time")).to_have_attribute("datetime", task["created_at"])
    expect(pane.locator(".history-entry .history-action")).to_have_text(history)
    assert document_fits(page), "the page scrolls with the preview open"


def test_preview_reads_the_whole_task_by_keyboard_mouse_and_touch(
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    forty: Seeded,
    artifacts: Path,
) -> None:
    """Space or Enter on the focused card, a click on a card, and a tap on a phone open a
    pane with the full text, the worker, the submitted time and the task's history; it
    follows the focus (J) and closes with Esc or its labelled Close button, and the page
    never scrolls."""
    scan, tasks = forty
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1920, height=1080).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "40")
    expect(grid).to_have_attribute("data-focused", tasks[0]["id"])
    # The card itself cannot hold the long text: it ends in an ellipsis.
    first = page.locator(f'.grid .card[data-task-id="{tasks[0]["id"]}"] .content')
    assert first.evaluate("el => el.scrollHeight > el.clientHeight + 1")
    pane = page.get_by_role("complementary", name="Task preview")
    expect(pane).to_be_hidden()

    page.keyboard.press("Space")
    expect_preview(page, tasks[0], ["Submitted"])
    page.screenshot(path=str(artifacts / "preview-1920x1080.png"))
    page.keyboard.press("j")
    # The second oldest keeps its place in the queue though its refusal was undone.
    expect(grid).to_have_attribute("data-focused", tasks[1]["id"])
    undone = ["Submitted", "Refused", "Undone"]
    expect_preview(page, tasks[1], undone)
    # The task whose refusal was undone shows all three steps and the reason.
    page.locator(f'.grid .card[data-task-id="{tasks[1]["id"]}"] .content').click()
    expect_preview(page, tasks[1], undone)
    expect(pane.locator(".history-reason")).to_have_text("Duplicate of #12")
    page.keyboard.press("Escape")
    expect(pane).to_be_hidden()

    # The mouse: a click on a card's text opens it; the Close button has a name.
    page.locator(f'.grid .card[data-task-id="{tasks[7]["id"]}"] .content').click()
    expect_preview(page, tasks[7], ["Submitted"])
    expect(grid).to_have_attribute("data-focused", tasks[7]["id"])
    pane.get_by_role("button", name="Close preview").click()
    expect(pane).to_be_hidden()

    # A laptop: Enter opens and closes it too.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.keyboard.press("Enter")
    expect_preview(page, tasks[7], ["Submitted"])
    page.keyboard.press("Enter")
    expect(pane).to_be_hidden()


def test_preview_is_a_sheet_on_a_phone(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts, artifacts: Path
) -> None:
    """On a 390×844 phone a tap on a card opens the preview as a full-screen sheet with
    the full text; Validate in it decides the task and shows the next one, and a Close
    button brings the grid back; nothing scrolls."""
    scan, tasks = seed(server, accounts, "Reading on a phone", [task_text(i) for i in range(12)])
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=390, height=844, touch=True).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "12")
    page.locator(f'.grid .card[data-task-id="{tasks[4]["id"]}"] .content').tap()
    expect_preview(page, tasks[4], ["Submitted"])
    box = page.get_by_role("complementary", name="Task preview").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}, box
    page.screenshot(path=str(artifacts / "preview-phone.png"))
    # Deciding from the sheet moves it on to the next task in the queue.
    pane = page.get_by_role("complementary", name="Task preview")
    pane.get_by_role("button", name="Validate (V)").tap()
    expect(page.locator(".grid")).to_have_attribute("data-pending", "11")
    expect_preview(page, tasks[5], ["Submitted"])
    page.get_by_role("button", name="Close preview").tap()
    expect(pane).to_be_hidden()
    assert document_fits(page)


def test_filters_search_and_pages_reach_every_waiting_task(
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    many: Seeded,
    artifacts: Path,
) -> None:
    """Past what fits, Next page / Previous (buttons, Page Down / Page Up, the "+N more"
    tile) walk the whole queue with "41–80 of 212"; the worker and kind filters and the
    search find tasks far beyond the first page; the toolbar says the same."""
    scan, tasks = many
    ids = [t["id"] for t in tasks]
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1366, height=768).page
    grid = page.locator(".grid")
    expect(grid).to_have_attribute("data-pending", "212")
    first = shown_cards(page)
    n = len(first)
    assert 0 < n < 212
    assert first == ids[:n]
    pager = page.get_by_role("navigation", name="Queue pages")
    expect(pager.locator(".qv-range")).to_have_text(f"1–{n} of 212")
    expect(pager.get_by_role("button", name="Previous page")).to_be_disabled()
    assert queue_text(page) == f"212 pending · showing the oldest {n}"

    pager.get_by_role("button", name="Next page").click()
    expect(pager.locator(".qv-range")).to_have_text(f"{n + 1}–{2 * n} of 212")
    assert shown_cards(page) == ids[n : 2 * n]
    assert queue_text(page) == f"212 pending · showing {n + 1}–{2 * n}"
    page.screenshot(path=str(artifacts / "queue-page-2.png"))
    page.keyboard.press("PageDown")
    expect(pager.locator(".qv-range")).to_have_text(f"{2 * n + 1}–{3 * n} of 212")
    page.locator(".more-tile").click()
    expect(pager.locator(".qv-range")).to_have_text(re.compile(rf"^{3 * n + 1}–\d+ of 212$"))
    page.keyboard.press("PageUp")
    pager.get_by_role("button", name="Previous page").click()
    page.keyboard.press("PageUp")
    expect(pager.locator(".qv-range")).to_have_text(f"1–{n} of 212")
    assert shown_cards(page) == ids[:n]

    # Filters: worker, then kind; the toolbar counts the matches.
    worker = accounts.workers[1]
    page.get_by_role("combobox", name="Filter by worker").select_option(label=worker.username)
    mine = [t["id"] for t in tasks if t["worker_username"] == worker.username]
    shown = shown_cards(page)
    assert shown
    assert shown == mine[: len(shown)]
    assert queue_text(page).startswith(f"212 pending · {len(mine)} match")
    page.get_by_role("combobox", name="Filter by kind").select_option("Suggestion")
    both = [
        t["id"]
        for t in tasks
        if t["worker_username"] == worker.username and t["content"].startswith("Suggestion: ")
    ]
    assert shown_cards(page) == both[: len(shown_cards(page))]
    expect(page.locator(".grid .card .kind").first).to_have_attribute("data-kind", "Suggestion")
    page.get_by_role("button", name="Clear filters").click()
    expect(grid).to_have_attribute("data-pending", "212")

    # Search, from the keyboard: "/" goes to the box.
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search tasks")
    expect(search).to_be_focused()
    page.keyboard.type("ZEBRA")
    expect(grid).to_have_attribute("data-pending", "1")
    assert shown_cards(page) == [ids[150]]
    assert queue_text(page) == "212 pending · 1 match"
    search.fill("no such words")
    expect(grid).to_have_attribute("data-pending", "0")
    expect(page.locator(".queue-bar .qv-none")).to_have_text("No pending task matches.")
    assert queue_text(page) == "212 pending · none match"
    page.keyboard.press("Escape")
    expect(search).to_have_value("")
    expect(grid).to_have_attribute("data-pending", "212")
    assert document_fits(page)


SIZES = ((390, 844), (1920, 1080), (1366, 768), (390, 844), (1280, 800), (820, 1180))


def test_toolbar_count_and_title_match_what_is_shown_at_every_size(
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    forty: Seeded,
    artifacts: Path,
) -> None:
    """After every resize the toolbar says exactly how many cards are on screen, the tab
    title leads with the pending count, and on a phone the worker link, Copy and a named
    Close stay in the toolbar."""
    scan, _ = forty
    page = open_page(
        f"/admin/scans/{scan}", accounts.admin, width=SIZES[0][0], height=SIZES[0][1]
    ).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "40")
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        cards = len(shown_cards(page))
        expected = "40 pending" if cards == 40 else f"40 pending · showing the oldest {cards}"
        assert queue_text(page) == expected, f"{width}x{height}: {cards} cards on screen"
        assert document_fits(page), f"the page scrolls at {width}x{height}"
        toolbar = page.locator(".toolbar")
        expect(toolbar.get_by_role("textbox", name="Worker link")).to_be_visible()
        expect(toolbar.get_by_role("button", name="Copy worker link")).to_be_visible()
        close = toolbar.get_by_role("button", name="Close scan")
        expect(close).to_be_visible()
        expect(close).to_have_text("Close scan")
        if (width, height) == (390, 844):
            page.screenshot(path=str(artifacts / "toolbar-phone.png"))
    expect(page).to_have_title("(40) Reading forty · TaskStream")


def test_refuse_dialog_quotes_the_whole_text(
    open_page: OpenPage,
    server: ServerProcess,
    accounts: Accounts,
    forty: Seeded,
) -> None:
    """The refusal dialog quotes a long task in full: the quote scrolls within the dialog
    down to the last line instead of cutting the text mid-line."""
    scan, tasks = forty
    page = open_page(f"/admin/scans/{scan}", accounts.admin, width=1366, height=768).page
    expect(page.locator(".grid")).to_have_attribute("data-focused", tasks[0]["id"])
    page.keyboard.press("r")
    quote = page.locator("dialog .refuse-quote")
    expect(quote).to_have_text(LONG_TEXT)
    reach = quote.evaluate(
        """el => { el.scrollTop = el.scrollHeight;
                   return { style: getComputedStyle(el).overflowY,
                            clipped: el.scrollHeight > el.clientHeight + 1,
                            end: el.scrollTop + el.clientHeight >= el.scrollHeight - 1 }; }"""
    )
    assert not reach["clipped"] or reach["style"] in ("auto", "scroll"), reach
    assert reach["end"], reach
    assert document_fits(page)
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_be_hidden()


def test_rtl_text_tab_title_and_an_unknown_scan(
    open_page: OpenPage, server: ServerProcess, accounts: Accounts
) -> None:
    """Right-to-left task text is laid out right to left (dir="auto"), the tab title
    follows the pending count, and an unknown scan link says "Scan not found" with a way
    back instead of an empty page."""
    hebrew = "Observation: שלט היציאה מהבהב ליד מעבר 7 כבר שבוע"
    scan, tasks = seed(
        server, accounts, "Mixed scripts", [hebrew, "Suggestion: Add a mirror at dock 3."]
    )
    page = open_page(f"/admin/scans/{scan}", accounts.admin).page
    expect(page.locator(".grid")).to_have_attribute("data-pending", "2")
    direction = "el => getComputedStyle(el).direction"
    rtl = page.locator(f'.grid .card[data-task-id="{tasks[0]["id"]}"] .content')
    ltr = page.locator(f'.grid .card[data-task-id="{tasks[1]["id"]}"] .content')
    assert rtl.evaluate(direction) == "rtl"
    assert ltr.evaluate(direction) == "ltr"
    page.keyboard.press("Space")
    assert page.locator(".preview-text").evaluate(direction) == "rtl"
    page.keyboard.press("Escape")
    expect(page).to_have_title("(2) Mixed scripts · TaskStream")
    page.keyboard.press("v")
    expect(page).to_have_title("(1) Mixed scripts · TaskStream")

    missing = open_page("/admin/scans/no-such-scan", accounts.admin).page
    expect(missing.get_by_role("heading", name="Scan not found")).to_be_visible()
    expect(missing).to_have_title("Scan not found · TaskStream")
    expect(missing.locator(".scan-status")).to_have_count(0)
    missing.get_by_role("link", name="Back to scans").click()
    expect(missing).to_have_url(re.compile(r"/admin$"))
    expect(missing.get_by_role("heading", name="Scans")).to_be_visible()
