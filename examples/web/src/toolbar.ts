// The admin scan page's toolbar parts: the queue count, the tab title, the grid watcher
// that keeps them true after every render, and the "Scan not found" view.
import { h, setText, shown } from "./dom";
import "./read.css";

/** What the grid placed in its last render, read from its `data-*` attributes. */
export interface GridShown {
  /** Items the grid was given (after the filter and the page offset). */
  given: number;
  /** Tiles placed on screen (the oldest of `given`). */
  shown: number;
  /** Items beyond what fits; the "+N more waiting" tile counts them. */
  hidden: number;
  /** The focused card's task id, or null. */
  focused: string | null;
  /** Arrivals held back while the pointer rests on the grid, that appear once it leaves. */
  waiting: number;
}

/** The numbers the queue count is made of. */
export interface QueueCounts {
  /** Pending tasks of the scan. */
  pending: number;
  /** Pending tasks the filter lets through, or null when no filter is set. */
  matching: number | null;
  /** Index (0-based) of the first task on screen in the filtered queue. */
  offset: number;
  /** Tasks on screen. */
  shown: number;
}

/**
 * The toolbar's queue sentence, e.g. "212 pending · showing 64–126".
 *
 * Args:
 *   counts: what the queue holds and what the grid shows right now.
 *
 * Returns:
 *   "Queue clear" when nothing is pending; otherwise the pending count, the number
 *   matching the filter when one is set, and which ones are on screen when not all are.
 */
export function queueSentence(counts: QueueCounts): string {
  const { pending, matching, offset, shown } = counts;
  if (pending === 0) return "Queue clear";
  const parts = [`${pending.toLocaleString("en-US")} pending`];
  const total = matching ?? pending;
  if (matching !== null) parts.push(matching === 0 ? "none match" : `${matching.toLocaleString("en-US")} match`);
  if (total > 0 && (offset > 0 || shown < total)) {
    parts.push(offset === 0 && matching === null
      ? `showing the oldest ${shown.toLocaleString("en-US")}`
      : `showing ${pageRange(offset, shown)}`);
  }
  return parts.join(" · ");
}

/**
 * The toolbar's note on arrivals the grid holds back while the pointer rests on it.
 *
 * Args:
 *   waiting: tasks a re-pack would show that are not on screen now.
 *
 * Returns:
 *   "39 more when the pointer leaves the grid", or "" when none wait.
 */
export function waitingSentence(waiting: number): string {
  return waiting > 0 ? `${waiting.toLocaleString("en-US")} more when the pointer leaves the grid` : "";
}

/**
 * A page's range in the queue, e.g. "41–80".
 *
 * Args:
 *   offset: 0-based index of the page's first task.
 *   shown: tasks on the page.
 *
 * Returns:
 *   The 1-based first and last positions joined by an en dash ("0" for an empty page).
 */
export function pageRange(offset: number, shown: number): string {
  if (shown <= 0) return "0";
  return `${(offset + 1).toLocaleString("en-US")}–${(offset + shown).toLocaleString("en-US")}`;
}

/**
 * The tab title of a scan page: the pending count first, so a glance at the tab says it.
 *
 * Args:
 *   name: the scan's name.
 *   pending: its pending tasks.
 *
 * Returns:
 *   "(12) Night shift · TaskStream", or without the count when nothing is pending.
 */
export function tabTitle(name: string, pending: number): string {
  return pending > 0 ? `(${pending.toLocaleString("en-US")}) ${name} · TaskStream` : `${name} · TaskStream`;
}

/**
 * Call `rendered` after every grid render (and focus move), with what the grid placed.
 *
 * The grid writes `data-pending`, `data-shown`, `data-hidden`, `data-focused` and `data-waiting` on its
 * element once per render; this observes those attributes, so whatever depends on the
 * layout (the queue count, the pager, the preview) is never a render behind.
 *
 * Args:
 *   grid: the grid's root element.
 *   rendered: called once per batch of attribute changes.
 *
 * Returns:
 *   A function that stops watching.
 */
export function watchGrid(grid: HTMLElement, rendered: (shown: GridShown) => void): () => void {
  const read = (): GridShown => ({
    given: Number(grid.dataset.pending ?? 0),
    shown: Number(grid.dataset.shown ?? 0),
    hidden: Number(grid.dataset.hidden ?? 0),
    focused: grid.dataset.focused || null,
    waiting: Number(grid.dataset.waiting ?? 0),
  });
  const observer = new MutationObserver(() => rendered(read()));
  observer.observe(grid, { attributes: true, attributeFilter: ["data-pending", "data-shown", "data-hidden", "data-focused", "data-waiting"] });
  return () => observer.disconnect();
}

/**
 * Turn a scan page whose scan does not exist into a "Scan not found" notice.
 *
 * The toolbar goes; the page's main area becomes a notice with a link back to the scan list.
 *
 * Args:
 *   page: the scan page's root element (holding `.toolbar` and `main`).
 *   text: the sentence that says why.
 */
export function showScanNotFound(page: HTMLElement, text: string): void {
  page.querySelector(".toolbar")?.remove();
  page.classList.remove("shell-scan");
  const crumb = page.querySelector<HTMLElement>(".crumb-current");
  if (crumb) { setText(crumb, "Not found"); crumb.title = shown("Not found"); }
  page.querySelector("main")?.replaceWith(h("main", { class: "home home-single" },
    h("section", { class: "panel glass notice-panel scan-missing", attrs: { role: "alert" } },
      h("h1", { class: "panel-title", text: "Scan not found" }),
      h("p", { class: "muted", text }),
      h("a", { class: "btn btn-primary", attrs: { href: "/admin", "data-nav": "" }, text: "← Back to scans" }))));
  document.title = shown("Scan not found · TaskStream");
}
