// The admin's scan view: the live grid, the validation workflow (with several
// reviewers: review.ts) and the analytics.
import { connectionIndicator, topbar, type AppContext } from "../app";
import { AnalyticsPanel, submissionsPerMinute } from "../analytics";
import { ApiError, download } from "../api";
import { mark } from "../diag";
import { charCount, h, icon, overLimit, setText, shown, splitKind } from "../dom";
import { loadDraft, saveDraft } from "../drafts";
import { TaskGrid, type GridItem } from "../grid";
import { confirmDialog } from "../confirm";
import { explain } from "../messages";
import { PreviewPane } from "../preview";
import { QueueView } from "../queueView";
import { ReviewFlow } from "../review";
import { queueSentence, showScanNotFound, tabTitle, waitingSentence, watchGrid } from "../toolbar";
import type { Scan, Stats, Task } from "../types";
import { copyButton, workerLink } from "./adminHome";

const QUICK_REASONS = ["Duplicate", "Out of scope", "Not enough detail", "Already known", "Not actionable"];
/** The contract's limit on a refusal reason (§2), in code points (an emoji is one). */
const MAX_REASON = 1000;

export function renderAdminScan(root: HTMLElement, ctx: AppContext, scanId: string): () => void {
  const tasks = new Map<string, Task>();
  const pending = new Map<string, Task>();
  const createdSeq = new Map<string, number>();
  let scan: Scan | null = null;

  const indicator = connectionIndicator(ctx.live);
  const analytics = new AnalyticsPanel(
    () => submissionsPerMinute(Array.from(tasks.values(), (task) => task.created_at)),
    { onWorkerSelect: (workerId) => showWorker(workerId) },
  );
  // The review flow: claims, deciding, undo, presence. `review.current()` is the reviewer's current task.
  const review = new ReviewFlow(ctx, scanId, { tasks, pending, upsert: (task) => upsert(task), changed: () => changed() });
  const local = review.extras;
  const grid = new TaskGrid(
    {
      items: () => items(),
      decide: (id, decision) => void review.decide(id, decision, null),
      refuse: (id) => void openRefuse(id),
      undo: () => review.undoLast(),
      held: () => review.inFlight(),
      focusMoved: (id) => review.moved(id),
      lost: (id, index) => void review.advance(id, index),
      rendered: () => refreshQueue(),
    },
    "New submissions appear here the moment workers send them.",
  );
  review.attach(grid);
  // [read] filter/search/paging over the queue, and the preview pane (queueView.ts, preview.ts).
  const queueView = new QueueView(() => {
    grid.relayout(); // a filter, a search or a page the reviewer asked for: re-pack now
    changed();
  }, (workerId) => analytics.selectWorker(workerId));
  const preview = new PreviewPane({
    task: (id) => tasks.get(id),
    busy: (id) => local.has(id),
    api: (method, path) => ctx.api(method, path),
    validate: (id) => void review.decide(id, "validated", null),
    refuse: (id) => void openRefuse(id),
    closed: () => grid.focusGrid(),
  });

  // -- header and toolbar ----------------------------------------------------------------------
  const title = h("h1", { class: "scan-title", text: "Loading scan…", attrs: { dir: "auto" } });
  const status = h("span", { class: "scan-status" });
  const queue = h("span", { class: "queue-info", attrs: { "aria-live": "polite" } });
  const queueWait = h("span", { class: "queue-wait", attrs: { "aria-live": "polite" } });
  queueWait.hidden = true;
  const linkInput = h("input", { class: "input link-input", attrs: { readonly: "", "aria-label": "Worker link" } });
  linkInput.value = workerLink(scanId);
  const closeBtn = h("button", { class: "btn btn-danger btn-sm", attrs: { type: "button", "aria-label": "Close scan" }, title: "Close scan" }, icon("lock"), h("span", { class: "btn-text", text: "Close scan" }));
  const exportCsv = h("button", { class: "btn btn-ghost btn-sm export-btn", attrs: { type: "button", "aria-label": "Export as CSV" }, title: "Export every task as CSV" }, icon("download"), h("span", { text: "CSV" }));
  const exportJson = h("button", { class: "btn btn-ghost btn-sm export-btn", attrs: { type: "button", "aria-label": "Export as JSON" }, title: "Export every task as JSON" }, icon("download"), h("span", { text: "JSON" }));
  const keys = h("p", { class: "keys muted", attrs: { "aria-label": "Keyboard shortcuts" } },
    icon("keyboard"),
    h("kbd", { text: "←↑↓→" }), " or ", h("kbd", { text: "J" }), h("kbd", { text: "K" }), " move · ",
    h("kbd", { text: "V" }), " validate · ", h("kbd", { text: "R" }), " refuse · ", h("kbd", { text: "Z" }), " undo · ",
    h("kbd", { text: "Space" }), " read · ", h("kbd", { text: "PgDn" }), h("kbd", { text: "PgUp" }), " page");
  const banner = h("p", { class: "banner", attrs: { role: "status" } });
  banner.hidden = true;

  const toolbar = h("div", { class: "toolbar glass" },
    h("div", { class: "toolbar-title" }, title, status),
    review.presence.el,
    queue,
    queueWait,
    h("div", { class: "toolbar-actions" },
      h("div", { class: "share" }, icon("link"), linkInput, copyButton(() => linkInput.value, linkInput)),
      exportCsv, exportJson, closeBtn));

  // -- refusal dialog ------------------------------------------------------------------------
  // No maxlength: it counts UTF-16 units (an emoji is two) and cuts silently. The limit
  // counts code points, as the server does; the counter and Refuse say when it is over.
  const reason = h("textarea", { class: "input reason-input", attrs: { id: "refuse-reason", rows: "3", placeholder: "Why? (optional — the worker sees it)" } });
  const reasonCounter = h("span", { class: "counter muted" });
  const reasonMessage = h("p", { class: "form-message", attrs: { role: "alert" } });
  /** The half-typed reason, kept for the tab (drafts.ts) so an ended session does not lose it. */
  const reasonKey = `${ctx.session.user.id}.${scanId}.reason`;
  const quote = h("blockquote", { class: "refuse-quote", attrs: { dir: "auto", tabindex: "0", "aria-label": "Task text" } });
  const picks = h("div", { class: "picks", attrs: { role: "group", "aria-label": "Quick reasons" } },
    ...QUICK_REASONS.map((text) => h("button", {
      class: "pick",
      attrs: { type: "button" },
      text,
      on: { click: () => { reason.value = text; reasonTyped(); reason.focus(); } },
    })));
  const confirmRefuse = h("button", { class: "btn btn-danger", attrs: { type: "submit" } }, icon("cross"), "Refuse");
  const cancelRefuse = h("button", { class: "btn btn-ghost", attrs: { type: "button" }, text: "Cancel" });
  const dialogForm = h("form", { class: "refuse-form", attrs: { method: "dialog" } },
    h("h2", { class: "dialog-title", text: "Refuse this task", attrs: { id: "refuse-title" } }),
    quote,
    picks,
    h("label", { class: "label", text: "Reason", attrs: { for: "refuse-reason" } }),
    reason,
    reasonMessage,
    h("div", { class: "reason-foot" }, h("p", { class: "hint", text: "Enter refuses · Shift+Enter new line · Esc cancels" }), reasonCounter),
    h("div", { class: "dialog-actions" }, cancelRefuse, confirmRefuse));
  const dialog = h("dialog", { class: "dialog glass", attrs: { "aria-labelledby": "refuse-title" } }, dialogForm);
  let refusing: string | null = null;
  let refusingOverride = false;

  async function openRefuse(id: string): Promise<void> {
    const task = pending.get(id);
    if (!task || local.has(id)) return;
    const { go, override } = await review.ask(id, "refused");
    if (!go || local.has(id)) return;
    refusing = id;
    refusingOverride = override;
    setText(quote, splitKind(task.content).text);
    quote.title = shown(task.content);
    const kept = loadDraft<{ task_id: string; reason: string }>(reasonKey);
    reason.value = kept?.task_id === id && typeof kept.reason === "string" ? kept.reason : "";
    setText(reasonMessage, "");
    showReasonCount();
    dialog.showModal();
    reason.focus();
  }
  function showReasonCount(): void {
    const count = charCount(reason.value.trim());
    setText(reasonCounter, `${count.toLocaleString("en-US")} / ${MAX_REASON.toLocaleString("en-US")}`);
    reasonCounter.dataset.over = String(count > MAX_REASON);
  }
  function reasonTyped(): void {
    showReasonCount();
    if (refusing) saveDraft(reasonKey, reason.value ? { task_id: refusing, reason: reason.value } : null);
  }
  reason.addEventListener("input", reasonTyped);
  dialogForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = refusing;
    const count = charCount(reason.value.trim());
    if (count > MAX_REASON) {
      setText(reasonMessage, overLimit(count, MAX_REASON));
      reason.focus();
      return;
    }
    saveDraft(reasonKey, null);
    dialog.close();
    if (id) void review.decide(id, "refused", reason.value.trim() || null, refusingOverride);
  });
  reason.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      dialogForm.requestSubmit();
    }
  });
  // Cancel and Esc drop the reason; the page going away (an ended session) keeps it.
  cancelRefuse.addEventListener("click", () => {
    saveDraft(reasonKey, null);
    dialog.close();
  });
  dialog.addEventListener("cancel", () => saveDraft(reasonKey, null));
  dialog.addEventListener("close", () => {
    // The event comes a while after close() (Chromium fires it with the next frame): by then
    // the dialog may be open again for the next task, whose refusal this must not forget.
    if (dialog.open) return;
    refusing = null;
    grid.focusGrid();
  });

  // -- page ---------------------------------------------------------------------------------
  const page = h("div", { class: "shell shell-scan" },
    topbar(ctx, [{ label: "Scans", href: "/admin" }, { label: "Scan" }], indicator.el),
    toolbar,
    h("main", { class: "scan-view" },
      h("section", { class: "grid-panel pane" }, banner, queueView.el, grid.el,
        h("div", { class: "grid-foot" }, keys,
          h("span", { class: "muted order-hint", text: "Oldest first · click a card or use the keyboard" }),
          review.undoBar.el)),
      analytics.el),
    dialog);
  root.append(page);
  // [read] the preview pane shares the analytics column; it and the pager follow every grid render.
  page.querySelector(".scan-view")?.append(preview.el);
  preview.bindGrid(grid.el);
  queueView.bindMoreTile(grid.el);
  let onScreen = 0; // tiles the grid placed in its last render
  let waiting = 0; // arrivals it holds back while the pointer rests on it
  const unwatchGrid = watchGrid(grid.el, (shown) => {
    onScreen = shown.shown;
    waiting = shown.waiting;
    queueView.rendered(shown);
    refreshQueue();
    preview.follow(shown.focused);
  });

  // -- model ----------------------------------------------------------------------------------
  /** The Workers table's pick (a worker's id, or null for everyone) filters the queue. */
  function showWorker(workerId: string | null): void {
    const named = workerId ? [...tasks.values()].find((task) => task.worker_id === workerId) : undefined;
    queueView.setWorker(workerId, named?.worker_username ?? "");
  }

  /** What the grid shows, in queue order: every pending task, and decided ones still showing a stamp. */
  function items(): GridItem[] {
    const out: GridItem[] = [];
    for (const task of pending.values()) {
      const extra = local.get(task.id);
      out.push({ task, state: extra?.state ?? "pending", note: extra?.note ?? null, claimedBy: review.claimedBy(task.id) });
    }
    for (const [id, extra] of local) {
      const task = tasks.get(id);
      if (task && task.status !== "pending") out.push({ task, state: extra.state, note: extra.note, claimedBy: null });
    }
    // Oldest first, as the server's queue: by creation time (a task's seq moves with every
    // change, so an undone task would otherwise sort last), then by the first seq seen.
    out.sort((a, b) => Date.parse(a.task.created_at) - Date.parse(b.task.created_at)
      || (createdSeq.get(a.task.id) ?? a.task.seq) - (createdSeq.get(b.task.id) ?? b.task.seq));
    return queueView.apply(out); // [read] filter and page
  }

  /** [read] The toolbar count and the tab title, from what the grid placed in its last render. */
  function refreshQueue(): void {
    setText(queue, queueSentence({ pending: pending.size, matching: queueView.matching, offset: queueView.offset, shown: onScreen }));
    // Arrivals held back under the resting pointer: said in a note that takes the toolbar's
    // free space (it never wraps the toolbar, which would resize the grid and end the hold).
    const note = waitingSentence(waiting);
    setText(queueWait, note);
    queueWait.title = shown(note);
    queueWait.hidden = note === "";
    if (scan) document.title = shown(tabTitle(scan.name, pending.size));
  }

  let due = false;
  function changed(): void {
    grid.invalidate();
    if (due) return;
    due = true;
    requestAnimationFrame(() => {
      due = false;
      refreshQueue();
      queueView.setTasks(pending.values()); // [read]
      preview.refresh(); // [read]
      analytics.redraw();
    });
  }

  function upsert(task: Task): void {
    const previous = tasks.get(task.id);
    if (previous && previous.seq > task.seq) return; // an older copy (an ack after its event)
    tasks.set(task.id, task);
    if (task.status === "pending") {
      pending.set(task.id, task);
      if (!createdSeq.has(task.id)) createdSeq.set(task.id, task.seq);
    } else {
      pending.delete(task.id);
    }
  }

  function showScan(value: Scan): void {
    scan = value;
    setText(title, value.name);
    title.title = shown(value.description || value.name);
    setText(status, value.status === "open" ? "Open" : "Closed");
    status.dataset.status = value.status;
    closeBtn.hidden = value.status !== "open";
    banner.hidden = value.status === "open";
    setText(banner, value.status === "open" ? "" : "This scan is closed: no new submissions. Pending tasks can still be decided.");
    const crumb = page.querySelector(".crumb-current");
    if (crumb) { setText(crumb, value.name); (crumb as HTMLElement).title = shown(value.name); }
    document.title = shown(tabTitle(value.name, pending.size));
  }

  // -- live -----------------------------------------------------------------------------------
  const unsubscribe = ctx.live.subscribe(scanId, {
    snapshot: (value, list, reset) => {
      showScan(value);
      tasks.clear();
      pending.clear();
      for (const task of list) upsert(task);
      if (reset) ctx.toast("Reloaded the scan after a long disconnection.", "info");
      mark("scan:snapshot-applied", { tasks: list.length });
      review.snapshot();
      changed();
    },
    scan: (value) => showScan(value),
    event: (event) => {
      if (event.type === "scan:updated") {
        showScan(event.scan);
      } else {
        const was = tasks.get(event.task.id);
        upsert(event.task);
        review.taskEvent(was, event.task);
      }
      changed();
    },
    claims: (list) => review.claims.reset(list),
    claimed: (taskId, claim) => review.claims.set(taskId, claim),
    presence: (value) => {
      review.directory.learnPresence(value);
      review.presence.update(value);
    },
    stats: (stats) => analytics.update(stats),
    failed: (error) => {
      if (error.code === "not_found") { // [read] an unknown scan link
        window.clearInterval(statsTimer);
        showScanNotFound(page, explain(error, "join"));
        return;
      }
      setText(title, "Scan unavailable");
      banner.hidden = false;
      setText(banner, explain(error, "join"));
    },
  });

  async function loadStats(): Promise<void> {
    try {
      analytics.update(await ctx.api<Stats>("GET", `/api/scans/${encodeURIComponent(scanId)}/stats`));
    } catch (error) {
      if (error instanceof ApiError && error.code === "unauthorized") ctx.expire();
    }
  }
  void loadStats();
  const statsTimer = window.setInterval(() => void loadStats(), 10_000);
  const chartTimer = window.setInterval(() => analytics.redraw(), 5_000);

  closeBtn.addEventListener("click", () => {
    if (!scan) return;
    void confirmDialog(`Close “${scan.name}”?`, "Workers will no longer be able to submit to it. Pending tasks can still be decided.", "Close scan")
      .then((ok) => ok ? ctx.api<{ scan: Scan }>("POST", `/api/scans/${encodeURIComponent(scanId)}/close`) : null)
      .then((answer) => { if (answer) showScan(answer.scan); })
      .catch((error: unknown) => ctx.toast(explain(error, "scan"), "error"));
  });
  const exporter = (format: "csv" | "json") => () => {
    download(`/api/scans/${encodeURIComponent(scanId)}/export?format=${format}`, ctx.session.token, `scan-${scanId}.${format}`)
      .catch((error: unknown) => ctx.toast(explain(error, "scan"), "error"));
  };
  exportCsv.addEventListener("click", exporter("csv"));
  exportJson.addEventListener("click", exporter("json"));

  const onKey = (event: KeyboardEvent) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    const target = event.target as HTMLElement | null;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable)) return;
    if (grid.handleKey(event) || queueView.handleKey(event) || preview.handleKey(event, grid.focused())) event.preventDefault(); // [read] page and preview keys
  };
  document.addEventListener("keydown", onKey);

  return () => {
    review.dispose();
    unsubscribe();
    grid.destroy();
    unwatchGrid(); // [read]
    indicator.dispose();
    document.removeEventListener("keydown", onKey);
    window.clearInterval(statsTimer);
    window.clearInterval(chartTimer);
    if (dialog.open) dialog.close();
    page.remove();
  };
}
