// Filter, search and paging over the admin's queue: which pending tasks the grid is given.
//
// The grid shows the oldest tasks it is given that fit, and counts the rest on its
// "+N more waiting" tile. This model sits in front of it: it keeps the tasks that match
// the filter (worker, kind, text) and starts the list at the current page's offset, so
// "Next page" brings the tasks beyond the tile into view ("64–126 of 212").
import { h, KINDS, setText, splitKind, type Kind } from "./dom";
import { pageRange, type GridShown } from "./toolbar";
import type { Task } from "./types";
import "./read.css";

/** A kind to keep: one of KINDS, "none" for content without a kind prefix, "" for all. */
export type KindFilter = Kind | "none" | "";

/** Anything the grid is given: it carries a task. */
export interface QueueItem {
  task: Task;
}

/**
 * The filter bar and its model: search, worker and kind filters, and the pager.
 *
 * `apply()` runs on every grid render (from the page's `items()`); `rendered()` is told
 * what the grid then placed, to label the pager and enable its buttons.
 */
export class QueueView {
  readonly el: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly worker: HTMLSelectElement;
  private readonly kind: HTMLSelectElement;
  private readonly clearBtn: HTMLButtonElement;
  private readonly pager: HTMLElement;
  private readonly range: HTMLElement;
  private readonly prevBtn: HTMLButtonElement;
  private readonly nextBtn: HTMLButtonElement;
  private readonly noMatch: HTMLElement;
  private workerIds = "";
  private offsetValue = 0;
  /** The sizes of the pages before the current one (page sizes follow the viewport). */
  private readonly pages: number[] = [];
  private matched = 0;
  private matchedPending = 0;
  private shown = 0;
  private hidden = 0;

  /**
   * Args:
   *   changed: called when the filter or the page changes (the page re-renders the grid).
   */
  /**
   * Args:
   *   changed: called when the filter or the page changes (the page renders again).
   *   workerChosen: called when the worker filter changes here (a pick in the select, or
   *     Clear filters), with the worker's id or null for everyone.
   */
  constructor(
    private readonly changed: () => void,
    private readonly workerChosen: (workerId: string | null) => void = () => undefined,
  ) {
    this.search = h("input", {
      class: "input qv-search",
      attrs: { type: "search", "aria-label": "Search tasks", placeholder: "Search tasks  /", autocomplete: "off", spellcheck: "false" },
    });
    this.worker = h("select", { class: "input qv-select", attrs: { "aria-label": "Filter by worker" } },
      h("option", { text: "All workers", attrs: { value: "" } }));
    this.kind = h("select", { class: "input qv-select", attrs: { "aria-label": "Filter by kind" } },
      h("option", { text: "All kinds", attrs: { value: "" } }),
      ...KINDS.map((kind) => h("option", { text: kind, attrs: { value: kind } })),
      h("option", { text: "No kind", attrs: { value: "none" } }));
    this.clearBtn = h("button", { class: "btn btn-ghost btn-sm qv-clear", attrs: { type: "button" }, text: "Clear filters" });
    this.clearBtn.hidden = true;
    this.noMatch = h("span", { class: "qv-none", attrs: { role: "status" }, text: "No pending task matches." });
    this.noMatch.hidden = true;
    this.prevBtn = h("button", {
      class: "btn btn-ghost btn-sm qv-prev",
      attrs: { type: "button", "aria-label": "Previous page" },
      title: "Previous page (Page Up)",
    }, "‹ ", h("span", { class: "qv-btn-text", text: "Previous" }));
    this.nextBtn = h("button", {
      class: "btn btn-ghost btn-sm qv-next",
      attrs: { type: "button", "aria-label": "Next page" },
      title: "Next page (Page Down)",
    }, h("span", { class: "qv-btn-text", text: "Next page" }), " ›");
    this.range = h("span", { class: "qv-range", attrs: { "aria-live": "polite" } });
    this.pager = h("nav", { class: "qv-pager", attrs: { "aria-label": "Queue pages" } }, this.prevBtn, this.range, this.nextBtn);
    this.pager.hidden = true;
    this.el = h("div", { class: "queue-bar" },
      h("div", { class: "qv-filters", attrs: { role: "search", "aria-label": "Filter the queue" } },
        this.search, this.worker, this.kind, this.clearBtn, this.noMatch),
      this.pager);

    this.search.addEventListener("input", () => this.filterChanged());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.search.value) {
        event.preventDefault();
        event.stopPropagation();
        this.search.value = "";
        this.filterChanged();
      }
    });
    this.worker.addEventListener("change", () => {
      this.workerChosen(this.worker.value || null);
      this.filterChanged();
    });
    this.kind.addEventListener("change", () => this.filterChanged());
    this.clearBtn.addEventListener("click", () => this.clear());
    this.prevBtn.addEventListener("click", () => this.previousPage());
    this.nextBtn.addEventListener("click", () => this.nextPage());
  }

  /** True when a search, worker or kind filter is set. */
  get active(): boolean {
    return this.query().length > 0 || this.worker.value !== "" || this.kind.value !== "";
  }

  /** 0-based index, in the filtered queue, of the first task the grid is given. */
  get offset(): number {
    return this.offsetValue;
  }

  /** Pending tasks that pass the filter (as of the last `apply()`), or null with no filter. */
  get matching(): number | null {
    return this.active ? this.matchedPending : null;
  }

  private query(): string[] {
    return this.search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  }

  /**
   * Whether a task passes the filter.
   *
   * Args:
   *   task: the task.
   *
   * Returns:
   *   True when it is from the chosen worker, of the chosen kind, and every search word
   *   occurs in its content or its worker's username (ignoring case).
   */
  matches(task: Task): boolean {
    if (this.worker.value && task.worker_id !== this.worker.value) return false;
    const kind = this.kind.value as KindFilter;
    if (kind) {
      const own = splitKind(task.content).kind;
      if (kind === "none" ? own !== null : own !== kind) return false;
    }
    const words = this.query();
    if (!words.length) return true;
    const haystack = `${task.content}\n${task.worker_username}`.toLowerCase();
    return words.every((word) => haystack.includes(word));
  }

  /**
   * The items the grid gets: those passing the filter, from the current page on.
   *
   * Args:
   *   items: the whole queue, oldest first.
   *
   * Returns:
   *   The matching items from the page's offset (a page whose tasks have all been decided
   *   falls back to the last page that still has some).
   */
  apply<T extends QueueItem>(items: T[]): T[] {
    const kept = this.active ? items.filter((item) => this.matches(item.task)) : items;
    this.matched = kept.length;
    this.matchedPending = kept.reduce((n, item) => n + (item.task.status === "pending" ? 1 : 0), 0);
    while (this.offsetValue > 0 && this.offsetValue >= kept.length) {
      this.offsetValue = Math.max(0, this.offsetValue - (this.pages.pop() ?? this.offsetValue));
    }
    return this.offsetValue > 0 ? kept.slice(this.offsetValue) : kept;
  }

  /**
   * Offer every worker with a pending task in the worker filter (the chosen one stays).
   *
   * Args:
   *   tasks: the pending tasks.
   */
  setTasks(tasks: Iterable<Task>): void {
    const names = new Map<string, string>();
    for (const task of tasks) names.set(task.worker_id, task.worker_username);
    const chosen = this.worker.value;
    const chosenLabel = this.worker.selectedOptions[0]?.textContent ?? "";
    if (chosen && !names.has(chosen)) names.set(chosen, chosenLabel);
    const sorted = [...names].sort((a, b) => a[1].localeCompare(b[1]));
    const ids = sorted.map(([id]) => id).join(",");
    if (ids === this.workerIds) return;
    this.workerIds = ids;
    this.worker.replaceChildren(
      h("option", { text: "All workers", attrs: { value: "" } }),
      ...sorted.map(([id, name]) => h("option", { text: name, attrs: { value: id } })),
    );
    this.worker.value = chosen;
  }

  /**
   * Label the pager after a grid render.
   *
   * Args:
   *   grid: what the grid placed of the items it was given.
   */
  rendered(grid: GridShown): void {
    this.shown = grid.shown;
    this.hidden = grid.hidden;
    const paged = this.offsetValue > 0 || grid.hidden > 0;
    this.pager.hidden = !paged;
    if (paged) {
      setText(this.range, `${pageRange(this.offsetValue, grid.shown)} of ${this.matched.toLocaleString("en-US")}`);
      this.prevBtn.disabled = this.offsetValue === 0;
      this.nextBtn.disabled = grid.hidden === 0 || grid.shown === 0;
    }
    const none = this.active && this.matched === 0;
    this.noMatch.hidden = !none;
    this.el.parentElement?.classList.toggle("no-match", none);
    this.clearBtn.hidden = !this.active;
  }

  /** Show the tasks after the ones on screen (a no-op when every one is shown). */
  nextPage(): void {
    if (this.hidden <= 0 || this.shown <= 0) return;
    this.pages.push(this.shown);
    this.offsetValue += this.shown;
    this.changed();
  }

  /** Show the page before this one (a no-op on the first page). */
  previousPage(): void {
    if (this.offsetValue === 0) return;
    this.offsetValue = Math.max(0, this.offsetValue - (this.pages.pop() ?? this.shown));
    this.changed();
  }

  /** Drop every filter and go back to the first page. */
  clear(): void {
    this.search.value = "";
    const hadWorker = this.worker.value !== "";
    this.worker.value = "";
    this.kind.value = "";
    if (hadWorker) this.workerChosen(null);
    this.filterChanged();
  }

  /**
   * Show only one worker's tasks (or everyone's), as a pick elsewhere asked (the Workers
   * table); the select follows.
   *
   * Args:
   *   workerId: the worker's id, or null for every worker.
   *   username: the worker's name, for the select's option when the worker has none yet.
   */
  setWorker(workerId: string | null, username = ""): void {
    const id = workerId ?? "";
    if (id && ![...this.worker.options].some((option) => option.value === id)) {
      this.worker.append(h("option", { text: username || id, attrs: { value: id } }));
      this.workerIds = "";
    }
    if (this.worker.value === id) return;
    this.worker.value = id;
    this.filterChanged();
  }

  private filterChanged(): void {
    this.offsetValue = 0;
    this.pages.length = 0;
    this.changed();
  }

  /**
   * Page keys: Page Down / Page Up turn the page, "/" goes to the search box.
   *
   * Args:
   *   event: a keydown outside text fields and dialogs.
   *
   * Returns:
   *   True when the key was used.
   */
  handleKey(event: KeyboardEvent): boolean {
    switch (event.key) {
      case "PageDown":
        this.nextPage();
        return true;
      case "PageUp":
        this.previousPage();
        return true;
      case "/":
        this.search.focus();
        return true;
      default:
        return false;
    }
  }

  /**
   * Make the grid's "+N more waiting" tile turn the page when clicked or tapped.
   *
   * Args:
   *   grid: the grid's root element.
   */
  bindMoreTile(grid: HTMLElement): void {
    grid.addEventListener("click", (event) => {
      if ((event.target as Element).closest(".more-tile")) this.nextPage();
    });
  }
}
