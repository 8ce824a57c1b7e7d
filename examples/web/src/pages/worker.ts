// The worker's pages: the open scans, and a scan's submit form with the live list of own submissions.
import { connectionIndicator, topbar, type AppContext } from "../app";
import { ApiError } from "../api";
import { age, ago, clear, clock, h, icon, KINDS, randomKey, splitKind, statusBadge, type Kind } from "../dom";
import { explain } from "../messages";
import type { Ack, Scan, Task, WireError } from "../types";

const MAX_CONTENT = 5000;

export function renderWorkerHome(root: HTMLElement, ctx: AppContext): () => void {
  const indicator = connectionIndicator(ctx.live);
  const list = h("ul", { class: "scan-list" });
  const empty = h("p", { class: "muted empty-scans", text: "No open scans right now. Ask an admin for a scan link." });
  const page = h("div", { class: "shell" },
    topbar(ctx, [{ label: "Open scans" }], indicator.el),
    h("main", { class: "home home-single" },
      h("section", { class: "panel glass scans-panel" },
        h("div", { class: "panel-head" }, h("h1", { class: "panel-title", text: "Open scans" })),
        h("div", { class: "scroll" }, list, empty))));
  root.append(page);
  ctx.api<{ scans: Scan[] }>("GET", "/api/scans")
    .then(({ scans }) => {
      clear(list);
      empty.hidden = scans.length > 0;
      for (const scan of scans) {
        const href = `/worker/scan/${encodeURIComponent(scan.id)}`;
        list.append(h("li", { class: "scan-row" },
          h("div", { class: "scan-main" },
            h("a", { class: "scan-name", text: scan.name, title: scan.name, attrs: { href, "data-nav": "" } }),
            h("span", { class: "scan-meta muted", text: scan.description || `opened ${ago(scan.created_at)}` })),
          h("div", { class: "scan-actions" },
            h("a", { class: "btn btn-primary btn-sm", attrs: { href, "data-nav": "" } }, icon("send"), h("span", { class: "btn-text", text: "Contribute" })))));
      }
    })
    .catch((error: unknown) => ctx.toast(explain(error), "error"));
  return () => {
    indicator.dispose();
    page.remove();
  };
}

interface Entry {
  key: string; // task id, or the idempotency key while sending
  task: Task | null;
  content: string;
  state: "sending" | "failed" | "stored";
  error: string | null;
  el: HTMLElement | null;
  shownStatus: string | null;
}

export function renderWorkerScan(root: HTMLElement, ctx: AppContext, scanId: string): () => void {
  const indicator = connectionIndicator(ctx.live);
  const entries = new Map<string, Entry>();
  let scan: Scan | null = null;
  let kind: Kind = "Observation";
  let disposed = false;

  const title = h("h1", { class: "scan-title", text: "Loading scan…" });
  const description = h("p", { class: "scan-desc muted" });
  const status = h("span", { class: "scan-status" });
  const kindButtons = KINDS.map((k) => h("button", {
    class: "seg seg-sm",
    attrs: { type: "button", "aria-pressed": String(k === kind), "data-kind": k },
    on: { click: () => { kind = k; syncKind(); content.focus(); } },
  }, icon(k === "Observation" ? "eye" : "bolt"), h("strong", { text: k })));
  const content = h("textarea", {
    class: "input submit-input",
    attrs: { id: "task-content", maxlength: String(MAX_CONTENT), rows: "7", placeholder: "What did you notice? Be specific: where, what, why it matters." },
  });
  const counter = h("span", { class: "counter muted", text: `0 / ${MAX_CONTENT}` });
  const message = h("p", { class: "form-message", attrs: { role: "alert" } });
  const send = h("button", { class: "btn btn-primary", attrs: { type: "submit" } }, icon("send"), "Submit");
  const form = h("form", { class: "submit-form", attrs: { novalidate: "" } },
    h("div", { class: "segmented segmented-sm", attrs: { role: "group", "aria-label": "Kind" } }, ...kindButtons),
    h("label", { class: "label", text: "Your submission", attrs: { for: "task-content" } }),
    content,
    h("div", { class: "submit-row" }, counter, h("span", { class: "hint", text: "Ctrl+Enter sends" }), send),
    message);
  const list = h("ol", { class: "mine", attrs: { "aria-label": "My submissions", "aria-live": "polite" } });
  const emptyList = h("p", { class: "muted empty-mine", text: "Nothing submitted yet. Your submissions and their review status appear here, live." });
  const tallies = {
    pending: h("strong", { text: "0" }),
    validated: h("strong", { text: "0" }),
    refused: h("strong", { text: "0" }),
  };
  const banner = h("p", { class: "banner", attrs: { role: "status" } });
  banner.hidden = true;

  const page = h("div", { class: "shell" },
    topbar(ctx, [{ label: "Open scans", href: "/" }, { label: "Scan" }], indicator.el),
    h("main", { class: "worker-view" },
      h("section", { class: "panel glass worker-form-panel" },
        h("div", { class: "scan-head" }, h("div", { class: "scan-title-line" }, title, status), description),
        banner,
        form),
      h("section", { class: "panel glass worker-list-panel" },
        h("div", { class: "panel-head" },
          h("h2", { class: "panel-title", text: "My submissions" }),
          h("div", { class: "tallies" },
            h("span", { class: "count count-pending", title: "Pending" }, icon("pendingRing"), tallies.pending, h("span", { class: "sr-only", text: " pending" })),
            h("span", { class: "count count-validated", title: "Validated" }, icon("checkCircle"), tallies.validated, h("span", { class: "sr-only", text: " validated" })),
            h("span", { class: "count count-refused", title: "Refused" }, icon("crossSquare"), tallies.refused, h("span", { class: "sr-only", text: " refused" })))),
        h("div", { class: "scroll", attrs: { tabindex: "0", "aria-label": "My submissions" } }, list, emptyList))));
  root.append(page);

  function syncKind(): void {
    for (const button of kindButtons) button.setAttribute("aria-pressed", String(button.dataset.kind === kind));
  }

  function showScan(value: Scan): void {
    scan = value;
    title.textContent = value.name;
    title.title = value.name;
    description.textContent = value.description;
    description.hidden = !value.description;
    status.textContent = value.status === "open" ? "Open" : "Closed";
    status.dataset.status = value.status;
    const closed = value.status !== "open";
    banner.hidden = !closed;
    banner.textContent = closed ? "This scan is closed: it no longer takes submissions. Decisions on what you sent still arrive here." : "";
    content.disabled = closed;
    send.disabled = closed;
    const crumb = page.querySelector(".crumb-current");
    if (crumb) { crumb.textContent = value.name; (crumb as HTMLElement).title = value.name; }
    document.title = `${value.name} · TaskStream`;
  }

  function sortKey(entry: Entry): string {
    return entry.task ? entry.task.created_at : "~"; // sending ones first (newest)
  }

  function renderEntry(entry: Entry): HTMLElement {
    const task = entry.task;
    const statusName = entry.state === "stored" && task ? task.status : entry.state;
    if (entry.el && entry.shownStatus === statusName + (task?.reason ?? "")) return entry.el;
    const { kind: k, text } = splitKind(task?.content ?? entry.content);
    const badge = entry.state === "stored" && task
      ? statusBadge(task.status)
      : h("span", { class: `badge badge-${entry.state}` }, icon(entry.state === "failed" ? "crossSquare" : "pendingRing"), entry.state === "failed" ? "Not sent" : "Sending…");
    const el = h("li", { class: "mine-item", data: { status: statusName, taskId: task?.id ?? "" } },
      h("div", { class: "mine-head" },
        badge,
        k ? h("span", { class: "kind", data: { kind: k }, text: k }) : null,
        task ? h("time", { class: "muted mine-time", text: age(task.created_at), title: clock(task.created_at), attrs: { datetime: task.created_at } }) : null),
      h("p", { class: "mine-content", text }));
    if (task?.status === "refused") {
      el.append(h("p", { class: "mine-reason" },
        h("span", { class: "reason-label", text: "Reason: " }),
        h("span", { class: "reason-text", text: task.reason ?? "No reason given." })));
    }
    if (entry.state === "failed") {
      const retry = h("button", { class: "btn btn-ghost btn-sm", attrs: { type: "button" }, text: "Retry" });
      retry.addEventListener("click", () => void submit(entry.key, entry.content));
      el.append(h("p", { class: "mine-reason" }, h("span", { class: "reason-text", text: entry.error ?? "" }), " ", retry));
    }
    if (entry.el && entry.shownStatus !== null) el.classList.add("flash");
    entry.el?.replaceWith(el);
    entry.el = el;
    entry.shownStatus = statusName + (task?.reason ?? "");
    return el;
  }

  function renderList(): void {
    const ordered = [...entries.values()].sort((a, b) => sortKey(b).localeCompare(sortKey(a)) || ((b.task?.seq ?? 0) - (a.task?.seq ?? 0)));
    const counts = { pending: 0, validated: 0, refused: 0 };
    let previous: Element | null = null;
    for (const entry of ordered) {
      if (entry.task && entry.state === "stored") counts[entry.task.status] += 1;
      const el = renderEntry(entry);
      const expected: Element | null = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== el) {
        if (previous) previous.after(el);
        else list.prepend(el);
      }
      previous = el;
    }
    while (previous && previous.nextElementSibling) previous.nextElementSibling.remove();
    if (!previous) clear(list);
    emptyList.hidden = entries.size > 0;
    tallies.pending.textContent = String(counts.pending);
    tallies.validated.textContent = String(counts.validated);
    tallies.refused.textContent = String(counts.refused);
  }

  function upsert(task: Task): void {
    const existing = entries.get(task.id);
    if (existing?.task && existing.task.seq > task.seq) return;
    if (!existing) {
      // The live event may beat the ack of our own submission: adopt the matching one in flight.
      for (const [key, entry] of entries) {
        if (entry.state !== "stored" && entry.content === task.content) {
          entries.delete(key);
          entries.set(task.id, { ...entry, key: task.id, task, state: "stored", error: null });
          return;
        }
      }
      entries.set(task.id, { key: task.id, task, content: task.content, state: "stored", error: null, el: null, shownStatus: null });
      return;
    }
    existing.task = task;
    existing.state = "stored";
  }

  async function submit(key: string, text: string): Promise<void> {
    const entry: Entry = entries.get(key) ?? { key, task: null, content: text, state: "sending", error: null, el: null, shownStatus: null };
    entry.state = "sending";
    entry.error = null;
    entries.set(key, entry);
    renderList();
    let ack: Ack<{ task: Task }>;
    if (ctx.live.socket.connected) ack = await ctx.live.submit(scanId, text, key);
    else ack = { ok: false, error: { code: "timeout", message: "offline" } };
    if (!ack.ok && ack.error.code === "timeout") {
      // The idempotency key makes a retry over HTTP safe: the server keeps the first task.
      try {
        const answer = await ctx.api<{ task: Task }>("POST", `/api/scans/${encodeURIComponent(scanId)}/tasks`, { content: text, idempotency_key: key });
        ack = { ok: true, task: answer.task };
      } catch (error) {
        const e: WireError = error instanceof ApiError ? { code: error.code, message: error.message } : { code: "internal", message: String(error) };
        ack = { ok: false, error: e };
      }
    }
    if (disposed) return;
    if (ack.ok) {
      if (entries.get(key) === entry) entries.delete(key);
      upsert(ack.task);
    } else if (entries.get(key) === entry) {
      entry.state = "failed";
      entry.error = explain(ack.error, "submit");
      if (ack.error.code === "unauthorized") ctx.expire();
      if (ack.error.code === "scan_closed" && scan) showScan({ ...scan, status: "closed" });
    }
    renderList();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = content.value.trim();
    if (!text) {
      message.textContent = "Write something first.";
      content.focus();
      return;
    }
    const full = `${kind}: ${text}`;
    if (full.length > MAX_CONTENT) {
      message.textContent = `That is ${full.length - MAX_CONTENT} characters over the limit of ${MAX_CONTENT}.`;
      return;
    }
    message.textContent = "";
    content.value = "";
    counter.textContent = `0 / ${MAX_CONTENT}`;
    void submit(randomKey(), full);
    content.focus();
  });
  content.addEventListener("input", () => {
    counter.textContent = `${content.value.length} / ${MAX_CONTENT}`;
  });
  content.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const unsubscribe = ctx.live.subscribe(scanId, {
    snapshot: (value, tasks) => {
      showScan(value);
      for (const [key, entry] of entries) if (entry.state === "stored") entries.delete(key);
      for (const task of tasks) upsert(task);
      renderList();
    },
    scan: (value) => showScan(value),
    event: (event) => {
      if (event.type === "scan:updated") showScan(event.scan);
      else {
        upsert(event.task);
        renderList();
      }
    },
    failed: (error) => {
      title.textContent = "Scan unavailable";
      banner.hidden = false;
      banner.textContent = explain(error, "join");
      content.disabled = true;
      send.disabled = true;
    },
  });
  const ageTimer = window.setInterval(() => {
    for (const entry of entries.values()) {
      const time = entry.el?.querySelector("time");
      if (time && entry.task) time.textContent = age(entry.task.created_at);
    }
  }, 15_000);
  content.focus();

  return () => {
    disposed = true;
    unsubscribe();
    indicator.dispose();
    window.clearInterval(ageTimer);
    page.remove();
  };
}
