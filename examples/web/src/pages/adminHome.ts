// Admin home: every scan with live counts (and this admin's decisions not sent yet), create
// a scan, close one, share the worker link.
import { connectionIndicator, topbar, type AppContext } from "../app";
import { ApiError } from "../api";
import { ago, clear, h, icon, setText, shown } from "../dom";
import { confirmDialog } from "../confirm";
import { decisions } from "../decisions";
import { explain } from "../messages";
import type { Scan, Stats } from "../types";
import { UnsentNotes } from "../unsent";

const LIVE_SCANS = 12; // open scans watched live (the newest); the rest refresh by polling

export function workerLink(scanId: string): string {
  return `${location.origin}/worker/scan/${encodeURIComponent(scanId)}`;
}

export async function copyText(text: string, fallbackFrom: HTMLInputElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!fallbackFrom) return false;
    fallbackFrom.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

export function copyButton(text: () => string, input: HTMLInputElement | null, label = "Copy"): HTMLButtonElement {
  const caption = h("span", { class: "btn-text", text: label });
  const button = h("button", { class: "btn btn-ghost btn-sm copy-btn", attrs: { type: "button", "aria-label": `${label} worker link` } }, icon("copy"), caption);
  button.addEventListener("click", () => {
    void copyText(text(), input).then((ok) => {
      setText(caption, ok ? "Copied" : "Select & copy");
      button.dataset.copied = String(ok);
      window.setTimeout(() => {
        setText(caption, label);
        delete button.dataset.copied;
      }, 1600);
    });
  });
  return button;
}

interface Row {
  scan: Scan;
  el: HTMLElement;
  counts: { pending: HTMLElement; validated: HTMLElement; refused: HTMLElement };
  status: HTMLElement;
  close: HTMLButtonElement;
  unsubscribe: (() => void) | null;
}

export function renderAdminHome(root: HTMLElement, ctx: AppContext): () => void {
  const indicator = connectionIndicator(ctx.live);
  const list = h("ul", { class: "scan-list", attrs: { "aria-label": "Scans" } });
  const empty = h("p", { class: "muted empty-scans", text: "No scans yet. Create the first one to start receiving tasks." });
  const rows = new Map<string, Row>();
  // This admin's decisions that wait in the browser (sent by the scan's page once it is open).
  const unsent = new UnsentNotes(decisions(ctx));
  const name = h("input", { class: "input", attrs: { id: "scan-name", maxlength: "200", required: "", placeholder: "e.g. Night shift walk-through" } });
  const description = h("textarea", { class: "input", attrs: { id: "scan-desc", maxlength: "2000", rows: "3", placeholder: "What should workers look for? (optional)" } });
  const message = h("p", { class: "form-message", attrs: { role: "alert" } });
  const create = h("button", { class: "btn btn-primary", attrs: { type: "submit" } }, icon("plus"), "Create scan");
  const form = h("form", { class: "create-form", attrs: { novalidate: "" } },
    h("h2", { class: "panel-title", text: "New scan" }),
    h("div", { class: "field" }, h("label", { class: "label", text: "Name", attrs: { for: "scan-name" } }), name),
    h("div", { class: "field" }, h("label", { class: "label", text: "Description", attrs: { for: "scan-desc" } }), description),
    message,
    create);

  const page = h("div", { class: "shell" },
    topbar(ctx, [{ label: "Scans" }], indicator.el),
    h("main", { class: "home" },
      h("section", { class: "panel glass scans-panel" },
        h("div", { class: "panel-head" }, h("h1", { class: "panel-title", text: "Scans" }),
          h("span", { class: "muted", text: "Counts update live" })),
        h("div", { class: "scroll" }, list, empty)),
      h("section", { class: "panel glass create-panel" }, form)));
  root.append(page);

  function setCounts(row: Row, counts: { pending: number; validated: number; refused: number }): void {
    setText(row.counts.pending, String(counts.pending));
    setText(row.counts.validated, String(counts.validated));
    setText(row.counts.refused, String(counts.refused));
  }

  function render(scan: Scan): void {
    let row = rows.get(scan.id);
    if (!row) {
      const link = h("input", { class: "input link-input", attrs: { readonly: "", "aria-label": "Worker link" } });
      link.value = workerLink(scan.id);
      const close = h("button", { class: "btn btn-danger btn-sm", attrs: { type: "button" } }, icon("lock"), h("span", { class: "btn-text", text: "Close" }));
      const count = (cls: string, shape: Parameters<typeof icon>[0], label: string) => {
        const value = h("strong", { text: "0" });
        return { value, el: h("span", { class: `count count-${cls}`, title: label }, icon(shape), value, h("span", { class: "sr-only", text: ` ${label}` })) };
      };
      const p = count("pending", "pendingRing", "pending");
      const v = count("validated", "checkCircle", "validated");
      const r = count("refused", "crossSquare", "refused");
      const status = h("span", { class: "scan-status" });
      const title = h("a", { class: "scan-name", attrs: { href: `/admin/scans/${encodeURIComponent(scan.id)}`, "data-nav": "" } });
      const meta = h("span", { class: "scan-meta muted" });
      const el = h("li", { class: "scan-row", data: { scanId: scan.id } },
        h("div", { class: "scan-title-line" }, title, status),
        meta,
        h("div", { class: "scan-counts" }, p.el, v.el, r.el, unsent.note(scan.id)),
        h("div", { class: "scan-share" }, h("span", { class: "share-label", text: "Worker link" }), link, copyButton(() => link.value, link)),
        h("div", { class: "scan-actions" },
          h("a", { class: "btn btn-primary btn-sm", attrs: { href: `/admin/scans/${encodeURIComponent(scan.id)}`, "data-nav": "" } }, icon("eye"), h("span", { class: "btn-text", text: "Open" })),
          close));
      row = { scan, el, counts: { pending: p.value, validated: v.value, refused: r.value }, status, close, unsubscribe: null };
      const current = row;
      close.addEventListener("click", () => void closeScan(current));
      rows.set(scan.id, row);
    }
    row.scan = scan;
    const title = row.el.querySelector<HTMLAnchorElement>(".scan-name");
    if (title) { setText(title, scan.name); title.title = shown(scan.name); }
    const meta = row.el.querySelector<HTMLElement>(".scan-meta");
    if (meta) {
      setText(meta, `${scan.description ? scan.description + " · " : ""}created ${ago(scan.created_at)}`);
      meta.title = shown(scan.description);
    }
    setText(row.status, scan.status === "open" ? "Open" : "Closed");
    row.status.dataset.status = scan.status;
    row.close.hidden = scan.status !== "open";
    row.el.dataset.status = scan.status;
    setCounts(row, scan.counts);
  }

  function watch(row: Row): void {
    if (row.unsubscribe || row.scan.status !== "open") return;
    row.unsubscribe = ctx.live.subscribe(row.scan.id, {
      snapshot: (scan) => render(scan),
      scan: (scan) => render(scan),
      event: (event) => {
        if (event.type === "scan:updated") render(event.scan);
        else {
          // Counts move with task events; scan:stats (below) corrects them twice a second at most.
          const counts = { ...row.scan.counts };
          if (event.type === "task:created") counts.pending += 1;
          else if (event.task.status !== "pending") {
            counts.pending = Math.max(0, counts.pending - 1);
            counts[event.task.status] += 1;
          }
          row.scan = { ...row.scan, counts };
          setCounts(row, counts);
        }
      },
      stats: (stats: Stats) => {
        row.scan = { ...row.scan, counts: { pending: stats.pending, validated: stats.validated, refused: stats.refused } };
        setCounts(row, row.scan.counts);
      },
    });
  }

  async function closeScan(row: Row): Promise<void> {
    const ok = await confirmDialog(`Close “${row.scan.name}”?`, "Workers will no longer be able to submit to it. Pending tasks can still be decided.", "Close scan");
    if (!ok) return;
    try {
      const answer = await ctx.api<{ scan: Scan }>("POST", `/api/scans/${encodeURIComponent(row.scan.id)}/close`);
      render(answer.scan);
      ctx.toast(`“${answer.scan.name}” is closed.`, "success");
    } catch (error) {
      ctx.toast(explain(error, "scan"), "error");
    }
  }

  async function load(): Promise<void> {
    try {
      const answer = await ctx.api<{ scans: Scan[] }>("GET", "/api/scans");
      clear(list);
      for (const scan of answer.scans) {
        render(scan);
        list.append(rows.get(scan.id)!.el);
      }
      empty.hidden = answer.scans.length > 0;
      answer.scans.filter((s) => s.status === "open").slice(0, LIVE_SCANS).forEach((s) => watch(rows.get(s.id)!));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "unauthorized")) ctx.toast(explain(error), "error");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const scanName = name.value.trim();
    if (!scanName) {
      setText(message, "Give the scan a name (1–200 characters).");
      name.focus();
      return;
    }
    create.disabled = true;
    setText(message, "");
    ctx.api<{ scan: Scan }>("POST", "/api/scans", { name: scanName, description: description.value.trim() })
      .then((answer) => {
        render(answer.scan);
        list.prepend(rows.get(answer.scan.id)!.el);
        empty.hidden = true;
        watch(rows.get(answer.scan.id)!);
        name.value = "";
        description.value = "";
        ctx.toast(`Scan “${answer.scan.name}” created. Share its worker link.`, "success");
      })
      .catch((error: unknown) => {
        setText(message, explain(error, "scan"));
      })
      .finally(() => {
        create.disabled = false;
      });
  });

  void load();
  const poll = window.setInterval(() => void load(), 30_000);
  return () => {
    window.clearInterval(poll);
    for (const row of rows.values()) row.unsubscribe?.();
    unsent.dispose();
    indicator.dispose();
    page.remove();
  };
}
