// The analytics panel, live from `scan:stats`: counts, acceptance rate, submissions and
// decisions in the last minute, oldest pending age, time to empty, decision latency, a bar
// chart of submissions over the last 15 minutes, and the per-worker and per-reviewer tables.
// A worker's row is a toggle: it asks the page to show only that worker's tasks. The tables
// keep their rows by worker or admin id and change only what the new figures change
// (`scan:stats` comes up to twice a second); both show usernames whole, wrapped.
import "./analytics.css";
import { append, clear, h, icon, setText, shown, type Child } from "./dom";
import type { ReviewerStats, Stats, WorkerStats } from "./types";

const SVG = "http://www.w3.org/2000/svg";
export const MINUTES = 15;
const MINUTE_MS = 60_000;

type CountKey = "pending" | "validated" | "refused" | "total";
type FigureKey = "rate" | "spm" | "dpm" | "oldest" | "empty" | "p50" | "p95";

export interface AnalyticsOptions {
  /**
   * Called when the admin picks a worker in the Workers table (click, Enter or Space on
   * the row's name button): that worker's id, or null when the admin clears the pick by
   * choosing the same worker again. The panel shows the pick itself (`aria-pressed`).
   */
  onWorkerSelect?: (workerId: string | null) => void;
}

/**
 * Submissions per minute over the last `MINUTES` minutes, oldest first: bucket `i` counts
 * the times in the 60 s window that ends `MINUTES - 1 - i` minutes before `now`, so the last
 * bucket is "the last 60 s", the window the server's `submissions_last_minute` counts.
 *
 * @param times ISO 8601 creation times.
 * @param now The end of the last window, ms since the epoch.
 * @returns `MINUTES` counts.
 */
export function submissionsPerMinute(times: Iterable<string>, now = Date.now()): number[] {
  const counts = new Array<number>(MINUTES).fill(0);
  for (const time of times) {
    const age = now - Date.parse(time);
    if (!(age >= 0)) continue; // NaN, or a clock a little ahead of this one
    const ago = Math.floor(age / MINUTE_MS);
    if (ago < MINUTES) counts[MINUTES - 1 - ago]! += 1;
  }
  return counts;
}

function pct(value: number | null): string {
  return value === null ? "—" : `${Math.round(value * 1000) / 10}%`;
}

function seconds(value: number | null): string {
  if (value === null) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 90) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 5400) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

/**
 * A duration as people say it: "42 s", "4 min 05 s", "3 h 12 min", "2 d 4 h"; with
 * `minutes`, a minute or more is rounded to whole minutes ("4 min").
 */
export function duration(totalSeconds: number, minutes = false): string {
  let s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s} s`;
  if (minutes) s = Math.round(s / 60) * 60;
  if (s < 3600) return minutes ? `${s / 60} min` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** Time to empty the queue at the recent decision rate; "—" without a rate. */
export function timeToEmpty(pending: number, decisionsPerMinute: number): string {
  if (pending === 0) return "empty";
  if (decisionsPerMinute <= 0) return "—";
  return `≈ ${duration((pending / decisionsPerMinute) * 60, true)}`;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function num(value: number): string {
  return value.toLocaleString("en-US");
}

/** A username as text with line-break opportunities after its `.`, `_` and `-` (shown whole,
 * it wraps there first on a narrow pane). */
function breakable(name: string): Child[] {
  return name.split(/(?<=[._-])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

/** A table with a caption and short column heads (each with its full name as a title). */
function table(cls: string, caption: string, heads: [string, string][]): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h("tbody");
  const el = h("table", { class: `an-table ${cls}` },
    h("caption", { text: caption }),
    h("thead", null, h("tr", null, ...heads.map(([text, title]) =>
      h("th", { text, title, attrs: { scope: "col" } })))),
    body);
  return { table: el, body };
}

/** One row of a table kept by `KeyedRows`: its element, its name cell's text, its figure cells. */
interface TableRow {
  row: HTMLTableRowElement;
  /** The element the name is shown in (a worker's button, a reviewer's span). */
  name: HTMLElement;
  /** The name shown, so an unchanged one is left alone. */
  shown: string | null;
  cells: HTMLTableCellElement[];
}

/**
 * The rows of a table body kept in place by key (a worker's or an admin's id): new
 * figures add, update (only the cells whose text changed), move and remove rows, never
 * rebuild the body, so a row keeps its element, its focus and its selection.
 */
class KeyedRows<R extends TableRow> {
  readonly rows = new Map<string, R>();
  private readonly empty: HTMLTableRowElement;

  /**
   * @param body The table body the rows live in.
   * @param emptyText What the body says when there are no rows.
   * @param columns How many columns the table has (the empty row spans them).
   * @param make Makes the row of a key (its cells empty).
   */
  constructor(
    private readonly body: HTMLTableSectionElement,
    emptyText: string,
    columns: number,
    private readonly make: (key: string) => R,
  ) {
    this.empty = h("tr", null, h("td", { class: "an-empty", text: emptyText, attrs: { colspan: String(columns) } }));
  }

  /**
   * Show one row per entry, in the order given.
   *
   * @param entries Each row's key, name and figure texts (one per figure cell).
   */
  render(entries: readonly { key: string; name: string; figures: readonly string[] }[]): void {
    const focused = document.activeElement;
    const keep = new Set(entries.map((entry) => entry.key));
    for (const [key, row] of this.rows) {
      if (!keep.has(key)) {
        row.row.remove();
        this.rows.delete(key);
      }
    }
    if (!entries.length) {
      if (this.empty.parentNode !== this.body) this.body.append(this.empty);
      return;
    }
    this.empty.remove();
    entries.forEach((entry, index) => {
      let row = this.rows.get(entry.key);
      if (!row) {
        row = this.make(entry.key);
        this.rows.set(entry.key, row);
      }
      if (row.shown !== entry.name) {
        clear(row.name);
        append(row.name, ...breakable(entry.name));
        row.shown = entry.name;
      }
      row.cells.forEach((cell, i) => setText(cell, entry.figures[i] ?? ""));
      if (this.body.children[index] !== row.row) this.body.insertBefore(row.row, this.body.children[index] ?? null);
    });
    // Moving a row blurs a focused button inside it: give the focus back.
    if (focused instanceof HTMLElement && document.activeElement !== focused && this.body.contains(focused)) {
      focused.focus({ preventScroll: true });
    }
  }
}

interface WorkerRow extends TableRow {
  name: HTMLButtonElement;
}

export class AnalyticsPanel {
  readonly el: HTMLElement;
  private readonly counts = {} as Record<CountKey, HTMLElement>;
  private readonly figures = {} as Record<FigureKey, HTMLElement>;
  private readonly rateBar: HTMLElement;
  private readonly peak: HTMLElement;
  private readonly bars: SVGRectElement[] = [];
  private readonly chart: SVGSVGElement;
  private readonly workerRows: KeyedRows<WorkerRow>;
  private readonly reviewerRows: KeyedRows<TableRow>;
  private readonly onWorkerSelect: ((workerId: string | null) => void) | undefined;
  private readonly ticker: number;
  private selected: string | null = null;
  private latest: Stats | null = null;
  private attached = false;

  /**
   * @param history Submissions per minute, oldest first, the last one the last 60 s
   *   (`submissionsPerMinute` over the tasks the page holds).
   * @param options What the panel asks of the page (see `AnalyticsOptions`).
   */
  constructor(private readonly history: () => number[], options: AnalyticsOptions = {}) {
    this.onWorkerSelect = options.onWorkerSelect;
    const count = (key: CountKey, label: string, shape: Parameters<typeof icon>[0]) => {
      const value = h("strong", { class: "an-value stat-value", text: "—" });
      this.counts[key] = value;
      return h("div", { class: `an-tile stat stat-${key}` }, h("span", { class: "an-label stat-label" }, icon(shape), label), value);
    };
    const figure = (key: FigureKey, label: string, title: string, wide = false) => {
      const value = h("strong", { class: "an-value an-figure", text: "—" });
      this.figures[key] = value;
      return h("div", { class: `an-tile an-${key}${wide ? " an-wide" : ""}`, title },
        h("span", { class: "an-label", text: label }), value);
    };
    this.rateBar = h("span", { class: "rate-fill" });
    const rate = figure("rate", "Acceptance rate", "Validated ÷ decided", true);
    rate.append(h("span", { class: "rate-track", attrs: { "aria-hidden": "true" } }, this.rateBar));
    this.peak = h("span", { class: "an-peak", text: "peak 0/min" });
    this.chart = svg("svg", { viewBox: `0 0 ${MINUTES * 10} 40`, preserveAspectRatio: "none", class: "spark", role: "img" });
    for (let i = 0; i < MINUTES; i++) {
      const bar = svg("rect", { class: i === MINUTES - 1 ? "spark-bar spark-bar-now" : "spark-bar", x: String(i * 10 + 1.5), width: "7", y: "39", height: "1", rx: "1.5" });
      this.bars.push(bar);
      this.chart.append(bar);
    }
    const workers = table("worker-table", "Workers", [
      ["Worker", "Worker (choose one to show only their tasks)"], ["Sent", "Submitted"],
      ["OK", "Validated"], ["No", "Refused"], ["Rate", "Acceptance rate"]]);
    this.workerRows = new KeyedRows(workers.body, "No submissions yet", 5, (id) => this.workerRow(id));
    const reviewers = table("reviewer-table", "Reviewers", [
      ["Reviewer", "Reviewer"], ["Done", "Decisions that stand"], ["OK", "Validated"],
      ["No", "Refused"], ["Undo", "Decisions undone"], ["p50", "Median decision time"]]);
    this.reviewerRows = new KeyedRows(reviewers.body, "No decisions yet", 6, (id) => reviewerRow(id));
    this.el = h(
      "aside",
      // Focusable: when the pane scrolls, the keyboard scrolls it (axe scrollable-region-focusable).
      { class: "panel pane analytics", attrs: { "aria-label": "Analytics", tabindex: "0" } },
      h("h2", { class: "panel-title", text: "Analytics" }),
      h("div", { class: "an-tiles" },
        count("pending", "Pending", "pendingRing"),
        count("validated", "Validated", "checkCircle"),
        count("refused", "Refused", "crossSquare"),
        count("total", "Total", "bolt"),
        rate,
        figure("spm", "Submissions / min", "Submissions in the last 60 s"),
        figure("dpm", "Decisions / min", "Decisions in the last 60 s that still stand"),
        figure("oldest", "Oldest pending", "How long the oldest pending task has waited"),
        figure("empty", "Time to empty", "Pending ÷ decisions in the last minute"),
        figure("p50", "Decision p50", "Median time from submission to decision"),
        figure("p95", "Decision p95", "95th percentile of the time from submission to decision")),
      h("figure", { class: "an-chart" },
        h("figcaption", { class: "an-chart-head" }, h("span", { class: "an-label", text: "Submissions, 15 min" }), this.peak),
        this.chart,
        h("div", { class: "spark-axis", attrs: { "aria-hidden": "true" } }, h("span", { text: `−${MINUTES} min` }), h("span", { text: "now" }))),
      h("div", { class: "an-table-wrap" }, workers.table),
      h("div", { class: "an-table-wrap" }, reviewers.table),
    );
    workers.body.addEventListener("click", (event) => {
      const row = (event.target as Element).closest<HTMLTableRowElement>("tr[data-worker-id]");
      if (!row || (event.target as Element).closest("button")) return; // the button handles itself
      row.querySelector("button")?.click();
    });
    this.renderWorkers([]);
    this.renderReviewers([]);
    this.ticker = window.setInterval(() => this.tick(), 1000);
  }

  /** The worker the Workers table shows as chosen, or null. */
  get selectedWorker(): string | null {
    return this.selected;
  }

  /**
   * Show `workerId` as chosen (null: none) without calling `onWorkerSelect`: for the page,
   * when its grid filter changes some other way.
   */
  selectWorker(workerId: string | null): void {
    this.selected = workerId;
    for (const [id, { row, name: button }] of this.workerRows.rows) {
      const on = id === workerId;
      button.setAttribute("aria-pressed", String(on));
      row.classList.toggle("is-selected", on);
    }
  }

  /** New figures from `scan:stats` (or GET /api/scans/{id}/stats). */
  update(stats: Stats): void {
    this.latest = stats;
    setText(this.counts.pending, num(stats.pending));
    setText(this.counts.validated, num(stats.validated));
    setText(this.counts.refused, num(stats.refused));
    setText(this.counts.total, num(stats.total));
    setText(this.figures.rate, pct(stats.acceptance_rate));
    this.rateBar.style.width = `${Math.round((stats.acceptance_rate ?? 0) * 100)}%`;
    this.rateBar.parentElement!.dataset.decided = String(stats.acceptance_rate !== null);
    setText(this.figures.p50, seconds(stats.decision_seconds_p50));
    setText(this.figures.p95, seconds(stats.decision_seconds_p95));
    setText(this.figures.spm, num(stats.submissions_last_minute));
    setText(this.figures.dpm, num(stats.decisions_last_minute ?? 0));
    setText(this.figures.empty, timeToEmpty(stats.pending, stats.decisions_last_minute ?? 0));
    this.tick();
    this.redraw();
    this.renderWorkers(stats.workers);
    this.renderReviewers(stats.reviewers ?? []);
  }

  /**
   * Redraw the per-minute bars (also on a timer: minutes pass without events). The last bar
   * is the server's `submissions_last_minute` once known, the figure the panel shows, so the
   * peak is never below it.
   */
  redraw(): void {
    const counts = this.history().slice(-MINUTES);
    if (this.latest) counts[counts.length - 1] = this.latest.submissions_last_minute;
    const peak = Math.max(0, ...counts);
    setText(this.peak, `peak ${num(peak)}/min`);
    this.chart.setAttribute("aria-label", `Submissions per minute over the last ${MINUTES} minutes: peak ${peak}, last minute ${counts[counts.length - 1] ?? 0}`);
    counts.forEach((value, i) => {
      const height = value ? Math.max(2, (value / Math.max(1, peak)) * 38) : 1;
      const bar = this.bars[i];
      if (!bar) return;
      bar.setAttribute("y", (40 - height).toFixed(1));
      bar.setAttribute("height", height.toFixed(1));
    });
    if (!this.latest) setText(this.figures.spm, num(counts[counts.length - 1] ?? 0));
  }

  /** Every second: the oldest pending task's age; stops once the panel has left the page. */
  private tick(): void {
    if (this.el.isConnected) this.attached = true;
    else if (this.attached) {
      window.clearInterval(this.ticker);
      return;
    }
    const since = this.latest?.oldest_pending_at ?? null;
    setText(this.figures.oldest, since === null ? "—" : duration((Date.now() - Date.parse(since)) / 1000));
  }

  /** The Workers table: most submissions first, rows kept in place (`KeyedRows`). */
  private renderWorkers(workers: WorkerStats[]): void {
    const sorted = [...workers].sort((a, b) => b.submitted - a.submitted || a.username.localeCompare(b.username));
    this.workerRows.render(sorted.map((w) => {
      const decided = w.validated + w.refused;
      return {
        key: w.worker_id,
        name: w.username,
        figures: [num(w.submitted), num(w.validated), num(w.refused), decided ? pct(w.validated / decided) : "—"],
      };
    }));
    for (const w of sorted) {
      const button = this.workerRows.rows.get(w.worker_id)?.name;
      const title = `${w.username}: show only their tasks`;
      if (button && button.title !== title) button.title = shown(title);
    }
  }

  /** A new, empty row of the Workers table: its name is a toggle that picks the worker. */
  private workerRow(workerId: string): WorkerRow {
    const button = h("button", { class: "an-worker", attrs: { type: "button", "aria-pressed": String(this.selected === workerId) } });
    button.addEventListener("click", () => {
      const next = this.selected === workerId ? null : workerId;
      this.selectWorker(next);
      this.onWorkerSelect?.(next);
    });
    const cells = [h("td"), h("td"), h("td"), h("td")];
    const row = h("tr", { data: { workerId } }, h("th", { class: "an-name", attrs: { scope: "row" } }, button), ...cells);
    row.classList.toggle("is-selected", this.selected === workerId);
    return { row, name: button, shown: null, cells };
  }

  /** The Reviewers table: most decisions first, rows kept in place (`KeyedRows`). */
  private renderReviewers(reviewers: ReviewerStats[]): void {
    const sorted = [...reviewers].sort((a, b) => b.decided - a.decided || a.username.localeCompare(b.username));
    this.reviewerRows.render(sorted.map((r) => ({
      key: r.admin_id,
      name: r.username,
      figures: [num(r.decided), num(r.validated), num(r.refused), num(r.undone), seconds(r.decision_seconds_p50)],
    })));
  }
}

/** A new, empty row of the Reviewers table. */
function reviewerRow(adminId: string): TableRow {
  const name = h("span", { class: "an-name-text" });
  const cells = [h("td"), h("td"), h("td"), h("td"), h("td")];
  const row = h("tr", { data: { adminId } }, h("th", { class: "an-name", attrs: { scope: "row" } }, name), ...cells);
  return { row, name, shown: null, cells };
}
