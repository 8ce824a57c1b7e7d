// A scan's page for a worker: the submit form beside the live list of own submissions.
//
// Submissions go through the worker's outbox (submissions.ts): queued with their
// idempotency key, kept until the server stored them, sent again when the link
// comes back. Decisions on the worker's tasks arrive as `task:updated` and become
// notices (a toast, and a "(n)" badge in the tab title while the tab is in the
// background). Presence shows how many reviewers have the scan open.
import "../worker.css";
import { connectionIndicator, topbar, type AppContext } from "../app";
import { age, charCount, clear, clock, h, icon, KINDS, overLimit, randomKey, setText, shown, splitKind, statusBadge, type Kind } from "../dom";
import { loadDraft, saveDraft } from "../drafts";
import type { ConnectionState } from "../live";
import { explain } from "../messages";
import { keepSending } from "../submissions";
import { clearUnseen, noteUnseen, setTitle } from "../title";
import type { Presence, Scan, Task, WireError } from "../types";

/** The contract's limit on a task's content (§2), in code points, the "Observation: " prefix included. */
const MAX_CONTENT = 5000;

/** What is left of MAX_CONTENT for the worker's own text once the page adds the kind's prefix. */
function limitFor(kind: Kind): number {
  return MAX_CONTENT - charCount(`${kind}: `);
}

/** The worker's unsent text and kind on a scan, kept for the tab (drafts.ts). */
interface Draft {
  text: string;
  kind: Kind;
}

/** The start of a task's text for a notice: a few words, never more than ~48 characters. */
function firstWords(content: string): string {
  const text = splitKind(content).text.replace(/\s+/g, " ").trim();
  const words = text.split(" ").slice(0, 7).join(" ");
  const short = words.length > 48 ? `${words.slice(0, 47).trimEnd()}…` : words;
  return short.length < text.length && !short.endsWith("…") ? `${short}…` : short;
}

function reviewersText(presence: Presence): string {
  const n = presence.reviewers;
  return n === 0 ? "No reviewer online" : n === 1 ? "1 reviewer online" : `${n} reviewers online`;
}

/** Said instead of a count while the link is down: the count may be out of date. */
const PRESENCE_UNKNOWN = "Reviewers unknown while offline";

interface Entry {
  key: string; // task id, or the idempotency key until the server stored it
  task: Task | null;
  content: string;
  state: "sending" | "waiting" | "failed" | "stored";
  error: string | null;
  /** It was "not sent" for a while and then went out: say so. */
  sentLate: boolean;
  el: HTMLElement | null;
  shownStatus: string | null;
}

const WAITING_NOTE = "Not sent — will be sent when the connection is back.";
const SENT_NOTE = "Sent after the connection came back.";

export function renderWorkerScan(root: HTMLElement, ctx: AppContext, scanId: string): () => void {
  const indicator = connectionIndicator(ctx.live);
  const sending = keepSending(ctx);
  const outbox = sending.outbox;
  const entries = new Map<string, Entry>();
  /** Outbox keys whose task already arrived live (before the send's answer) → that task's id. */
  const adopted = new Map<string, string>();
  let scan: Scan | null = null;
  const draftKey = `${ctx.session.user.id}.${scanId}`;
  const draft = loadDraft<Draft>(draftKey);
  let kind: Kind = draft && KINDS.includes(draft.kind) ? draft.kind : "Observation";
  let connection: ConnectionState = ctx.live.state;
  let disposed = false;

  const title = h("h1", { class: "scan-title", text: "Loading scan…", attrs: { dir: "auto" } });
  const description = h("p", { class: "scan-desc muted", attrs: { dir: "auto" } });
  const status = h("span", { class: "scan-status" });
  status.hidden = true;
  const presence = h("p", { class: "presence", attrs: { role: "status", "aria-live": "polite" } });
  presence.hidden = true;
  const kindButtons = KINDS.map((k) => h("button", {
    class: "seg seg-sm",
    attrs: { type: "button", "aria-pressed": String(k === kind), "data-kind": k },
    on: { click: () => { kind = k; syncKind(); keepDraft(); content.focus(); } },
  }, icon(k === "Observation" ? "eye" : "bolt"), h("strong", { text: k })));
  const content = h("textarea", {
    class: "input submit-input",
    attrs: {
      // No maxlength: it counts UTF-16 units (an emoji is two) and cuts silently. The limit
      // counts code points, as the server does; the counter and Submit say when it is over.
      id: "task-content", dir: "auto", rows: "7",
      placeholder: "What did you notice? Be specific: where, what, why it matters.",
    },
  });
  if (draft && typeof draft.text === "string") content.value = draft.text;
  const counter = h("span", { class: "counter muted" });
  const message = h("p", { class: "form-message", attrs: { role: "alert" } });
  const send = h("button", { class: "btn btn-primary", attrs: { type: "submit" } }, icon("send"), "Submit");
  const banner = h("p", { class: "banner", attrs: { role: "status", id: "scan-banner" } });
  banner.hidden = true;
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

  const formPanel = h("section", { class: "panel glass worker-form-panel" },
    h("div", { class: "scan-head" }, h("div", { class: "scan-title-line" }, title, status), description, presence),
    banner,
    form);
  const listPanel = h("section", { class: "panel glass worker-list-panel" },
    h("div", { class: "panel-head" },
      h("h2", { class: "panel-title", text: "My submissions" }),
      h("div", { class: "tallies" },
        h("span", { class: "count count-pending", title: "Pending" }, icon("pendingRing"), tallies.pending, h("span", { class: "sr-only", text: " pending" })),
        h("span", { class: "count count-validated", title: "Validated" }, icon("checkCircle"), tallies.validated, h("span", { class: "sr-only", text: " validated" })),
        h("span", { class: "count count-refused", title: "Refused" }, icon("crossSquare"), tallies.refused, h("span", { class: "sr-only", text: " refused" })))),
    h("div", { class: "scroll", attrs: { tabindex: "0", "aria-label": "My submissions" } }, list, emptyList));
  const main = h("main", { class: "worker-view" }, formPanel, listPanel);
  const page = h("div", { class: "shell worker-shell" },
    topbar(ctx, [{ label: "Open scans", href: "/" }, { label: "Scan" }], indicator.el),
    main);
  root.append(page);

  function syncKind(): void {
    for (const button of kindButtons) button.setAttribute("aria-pressed", String(button.dataset.kind === kind));
    updateCounter();
  }

  /** "12 / 4,987": the worker's text against what the kind's prefix leaves of the limit. */
  function updateCounter(): void {
    const limit = limitFor(kind);
    const count = charCount(content.value.trim()); // as Submit counts it
    setText(counter, `${count.toLocaleString("en-US")} / ${limit.toLocaleString("en-US")}`);
    counter.dataset.over = String(count > limit);
  }

  /** Keep what is typed (and its kind) for this tab, so an ended session does not lose it. */
  function keepDraft(): void {
    saveDraft(draftKey, content.value ? { text: content.value, kind } satisfies Draft : null);
  }

  function setCrumb(text: string): void {
    const crumb = page.querySelector<HTMLElement>(".crumb-current");
    if (crumb) {
      setText(crumb, text);
      crumb.title = shown(text);
    }
  }

  /** The tab title: the scan, whether it is closed, what is not sent yet, and a lost link. */
  function updateTitle(): void {
    if (!scan) return;
    const unsent = [...entries.values()].filter((e) => e.state === "waiting" || e.state === "failed").length;
    setTitle(
      scan.status === "open" ? scan.name : `${scan.name} (closed)`,
      unsent > 0 && `${unsent} not sent`,
      connection !== "online" && (connection === "offline" ? "Offline" : "Reconnecting"),
    );
  }

  function showScan(value: Scan): void {
    scan = value;
    setText(title, value.name);
    title.title = shown(value.name);
    setText(description, value.description);
    description.title = shown(value.description); // whole, where a small screen shows two lines
    description.hidden = !value.description;
    status.hidden = false;
    setText(status, value.status === "open" ? "Open" : "Closed");
    status.dataset.status = value.status;
    const closed = value.status !== "open";
    banner.hidden = !closed;
    setText(banner, closed
      ? "This scan is closed: it no longer takes submissions. What you typed stays in the box so you can copy it; decisions on what you sent still arrive here."
      : "");
    // Read-only rather than disabled: the text can still be selected and copied.
    content.readOnly = closed;
    if (closed) {
      content.setAttribute("aria-disabled", "true");
      content.setAttribute("aria-describedby", "scan-banner");
    } else {
      content.removeAttribute("aria-disabled");
      content.removeAttribute("aria-describedby");
    }
    send.disabled = closed;
    for (const button of kindButtons) button.disabled = closed;
    form.dataset.closed = String(closed);
    setCrumb(value.name);
    updateTitle();
  }

  function showNotFound(error: WireError): void {
    const missing = error.code === "not_found" || error.code === "invalid_request";
    const heading = missing ? "Scan not found" : "Scan unavailable";
    const text = missing
      ? "There is no scan at this link. Check the link you were given, or pick one of the open scans."
      : explain(error, "join");
    main.replaceChildren(h("section", { class: "panel glass notice-panel scan-missing" },
      h("h1", { class: "panel-title", text: heading }),
      h("p", { class: "muted", text }),
      h("a", { class: "btn btn-primary", text: "Open scans", attrs: { href: "/", "data-nav": "" } })));
    setCrumb(heading);
    setTitle(heading);
  }

  function sortKey(entry: Entry): string {
    return entry.task ? entry.task.created_at : "~"; // not stored yet: first (newest)
  }

  function badgeFor(entry: Entry): HTMLElement {
    if (entry.state === "stored" && entry.task) return statusBadge(entry.task.status);
    const label = entry.state === "sending" ? "Sending…" : "Not sent";
    const shape = entry.state === "failed" ? "crossSquare" : "pendingRing";
    return h("span", { class: `badge badge-${entry.state}`, data: { status: entry.state } }, icon(shape), label);
  }

  function renderEntry(entry: Entry): HTMLElement {
    const task = entry.task;
    const statusName = entry.state === "stored" && task ? task.status : entry.state;
    const shown = `${statusName}|${task?.reason ?? ""}|${entry.sentLate}|${entry.error ?? ""}`;
    if (entry.el && entry.shownStatus === shown) return entry.el;
    const { kind: k, text } = splitKind(task?.content ?? entry.content);
    const el = h("li", { class: "mine-item", data: { status: statusName, taskId: task?.id ?? "", key: entry.key } },
      h("div", { class: "mine-head" },
        badgeFor(entry),
        k ? h("span", { class: "kind", data: { kind: k }, text: k }) : null,
        task ? h("time", { class: "muted mine-time", text: age(task.created_at), title: clock(task.created_at), attrs: { datetime: task.created_at } }) : null),
      h("p", { class: "mine-content", text, attrs: { dir: "auto" } }));
    if (task?.status === "refused") {
      el.append(h("p", { class: "mine-reason" },
        h("span", { class: "reason-label", text: "Reason: " }),
        h("span", { class: "reason-text", text: task.reason ?? "No reason given.", attrs: { dir: "auto" } })));
    }
    if (entry.state === "waiting") {
      el.append(h("p", { class: "mine-note", data: { note: "waiting" }, text: WAITING_NOTE }));
    } else if (entry.state === "sending" && entry.sentLate) {
      el.append(h("p", { class: "mine-note", data: { note: "sending" }, text: "Sending now…" }));
    } else if (entry.state === "stored" && entry.sentLate) {
      el.append(h("p", { class: "mine-note", data: { note: "sent" } }, icon("check"), SENT_NOTE));
    } else if (entry.state === "failed") {
      const key = entry.key;
      const retry = h("button", { class: "btn btn-ghost btn-sm", attrs: { type: "button" }, text: "Retry", on: { click: () => outbox.retry(key) } });
      const discard = h("button", { class: "btn btn-ghost btn-sm", attrs: { type: "button" }, text: "Discard", on: { click: () => outbox.discard(key) } });
      el.append(h("p", { class: "mine-reason mine-failed" },
        h("span", { class: "reason-text", text: `Not sent: ${entry.error ?? ""}` }), " ", retry, discard));
    }
    if (entry.el && entry.shownStatus !== null) el.classList.add("flash");
    entry.el?.replaceWith(el);
    entry.el = el;
    entry.shownStatus = shown;
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
    setText(tallies.pending, String(counts.pending));
    setText(tallies.validated, String(counts.validated));
    setText(tallies.refused, String(counts.refused));
    updateTitle();
  }

  /** Put a stored task in the list; returns its status before, when the page already had it. */
  function upsert(task: Task, from: Entry | null = null): Task["status"] | null {
    const existing = entries.get(task.id);
    if (existing?.task && existing.task.seq > task.seq) return existing.task.status;
    if (!existing) {
      let source = from;
      if (!source) {
        // The live event may beat the answer to our own submission: adopt the matching one in flight.
        for (const [key, entry] of entries) {
          if (entry.state === "sending" && entry.content === task.content) {
            source = entry;
            adopted.set(key, task.id);
            break;
          }
        }
      }
      if (source) {
        entries.delete(source.key);
        entries.set(task.id, { ...source, key: task.id, task, state: "stored", error: null });
      } else {
        entries.set(task.id, { key: task.id, task, content: task.content, state: "stored", error: null, sentLate: false, el: null, shownStatus: null });
      }
      return null;
    }
    const before = existing.task?.status ?? null;
    existing.task = task;
    existing.state = "stored";
    return before;
  }

  /** Make the list's unsent entries match the outbox's items for this scan. */
  function syncOutbox(): void {
    const queued = outbox.list(scanId);
    const keys = new Set(queued.map((item) => item.key));
    for (const [key, entry] of entries) {
      if (entry.state === "stored" || keys.has(key)) continue;
      if (entry.state === "failed") {
        entries.delete(key); // discarded (here or in another tab)
        continue;
      }
      // Sent by another tab of this browser: its task arrives live (or already has). Until it
      // does, the entry shows as sending; `upsert` adopts it by content, keeping its note.
      const arrived = [...entries.values()].find((e) => e.state === "stored" && e.task?.content === entry.content && !e.sentLate);
      if (arrived) {
        arrived.sentLate = entry.sentLate;
        entries.delete(key);
      } else {
        entry.state = "sending";
      }
    }
    for (const key of adopted.keys()) if (!keys.has(key)) adopted.delete(key);
    for (const item of queued) {
      if (adopted.has(item.key)) continue;
      const entry = entries.get(item.key) ?? {
        key: item.key, task: null, content: item.payload.content, state: item.state, error: null, sentLate: false, el: null, shownStatus: null,
      };
      entry.state = item.state;
      entry.error = item.error;
      entry.sentLate = item.delayed;
      entries.set(item.key, entry);
    }
    renderList();
  }

  function notify(before: Task["status"], task: Task): void {
    if (before === task.status) return;
    const words = firstWords(task.content);
    if (task.status === "validated") ctx.toast(`Validated: ${words}`, "success");
    else if (task.status === "refused") ctx.toast(`Refused: ${words}${task.reason ? ` — ${task.reason}` : ""}`, "info");
    else ctx.toast(`Decision undone: ${words} is pending again`, "info");
    noteUnseen();
  }

  const offChange = outbox.onChange(() => {
    if (!disposed) syncOutbox();
  });
  const offSent = outbox.onSent((item, task) => {
    if (disposed || item.scope !== scanId) return;
    adopted.delete(item.key);
    const unsent = entries.get(item.key) ?? null;
    const listed = entries.get(task.id);
    if (listed) {
      // The task arrived live before this answer (and may have adopted the entry already).
      if (unsent && unsent !== listed) entries.delete(item.key);
      listed.sentLate ||= item.delayed;
      upsert(task);
    } else {
      if (unsent) unsent.sentLate = item.delayed;
      upsert(task, unsent);
    }
    if (item.delayed) ctx.toast(`Sent: ${firstWords(item.payload.content)}`, "success");
    renderList();
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (scan?.status === "closed") return;
    const text = content.value.trim();
    if (!text) {
      setText(message, "Write something first.");
      content.focus();
      return;
    }
    const count = charCount(text);
    if (count > limitFor(kind)) {
      setText(message, overLimit(count, limitFor(kind)));
      return;
    }
    setText(message, "");
    content.value = "";
    updateCounter();
    keepDraft();
    outbox.add(scanId, randomKey(), { content: `${kind}: ${text}` });
    content.focus();
  });
  content.addEventListener("input", () => {
    updateCounter();
    keepDraft();
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
      const late = new Set<string>();
      for (const [key, entry] of entries) {
        if (entry.state !== "stored") continue;
        if (entry.sentLate) late.add(key);
        entries.delete(key);
      }
      for (const task of tasks) upsert(task);
      for (const id of late) {
        const entry = entries.get(id);
        if (entry) entry.sentLate = true;
      }
      renderList();
    },
    scan: (value) => showScan(value),
    event: (event) => {
      if (event.type === "scan:updated") {
        showScan(event.scan);
        return;
      }
      const before = upsert(event.task);
      if (event.type === "task:updated" && before !== null) notify(before, event.task);
      renderList();
    },
    presence: (value) => {
      presence.hidden = false;
      setText(presence, reviewersText(value));
      presence.dataset.reviewers = String(value.reviewers);
    },
    failed: (error) => showNotFound(error),
  });
  const offState = ctx.live.onState((state) => {
    connection = state;
    if (state === "reconnecting" || state === "offline") {
      // No count is known while the link is down: the next join answer brings it back.
      presence.hidden = false;
      setText(presence, PRESENCE_UNKNOWN);
      presence.dataset.reviewers = "unknown";
    }
    updateTitle();
  });
  const ageTimer = window.setInterval(() => {
    for (const entry of entries.values()) {
      const time = entry.el?.querySelector("time");
      if (time && entry.task) setText(time, age(entry.task.created_at));
    }
  }, 15_000);
  syncKind();
  syncOutbox();
  content.focus();

  return () => {
    disposed = true;
    unsubscribe();
    offChange();
    offSent();
    offState();
    sending.stop();
    indicator.dispose();
    window.clearInterval(ageTimer);
    clearUnseen();
    page.remove();
  };
}
