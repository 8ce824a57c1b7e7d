// The worker's home: the open scans. Workers get no events about scans they have not
// joined, so the list is fetched again when the tab is looked at, after a reconnect,
// and every 30 s while visible.
import "../worker.css";
import { connectionIndicator, topbar, type AppContext } from "../app";
import { ApiError, NETWORK } from "../api";
import { ago, clear, h, icon } from "../dom";
import { explain } from "../messages";
import { keepSending } from "../submissions";
import { setTitle } from "../title";
import { UnsentNotes } from "../unsent";
import type { Scan } from "../types";

const HOME_REFRESH_MS = 30_000;

export function renderWorkerHome(root: HTMLElement, ctx: AppContext): () => void {
  const indicator = connectionIndicator(ctx.live);
  const sending = keepSending(ctx);
  const unsent = new UnsentNotes(sending.outbox);
  const list = h("ul", { class: "scan-list" });
  const empty = h("p", { class: "muted empty-scans", text: "No open scans right now. Ask an admin for a scan link." });
  const page = h("div", { class: "shell worker-shell" },
    topbar(ctx, [{ label: "Open scans" }], indicator.el),
    h("main", { class: "home home-single" },
      h("section", { class: "panel glass scans-panel" },
        h("div", { class: "panel-head" }, h("h1", { class: "panel-title", text: "Open scans" })),
        h("div", { class: "scroll" }, list, empty))));
  root.append(page);
  setTitle("Open scans");
  let disposed = false;
  let loading = false;
  let again = false; // a load was asked for while one was under way: its answer may be older

  function show(scans: Scan[]): void {
    clear(list);
    empty.hidden = scans.length > 0;
    for (const scan of scans) {
      const href = `/worker/scan/${encodeURIComponent(scan.id)}`;
      list.append(h("li", { class: "scan-row", data: { scanId: scan.id } },
        h("div", { class: "scan-main" },
          h("a", { class: "scan-name", text: scan.name, title: scan.name, attrs: { href, "data-nav": "", dir: "auto" } }),
          h("span", { class: "scan-meta muted", text: scan.description || `opened ${ago(scan.created_at)}`, attrs: { dir: "auto" } }),
          unsent.note(scan.id)),
        h("div", { class: "scan-actions" },
          h("a", { class: "btn btn-primary btn-sm", attrs: { href, "data-nav": "" } }, icon("send"), h("span", { class: "btn-text", text: "Contribute" })))));
    }
    setTitle(scans.length === 1 ? "1 open scan" : `${scans.length} open scans`);
  }

  /**
   * Workers get no events about scans they have not joined: the list is fetched again instead.
   * Asked for while a fetch is under way (whose answer may predate the reason for asking), it
   * fetches once more when that one ends.
   */
  function load(): void {
    if (disposed) return;
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    ctx.api<{ scans: Scan[] }>("GET", "/api/scans")
      .then(({ scans }) => {
        if (!disposed) show(scans);
      })
      .catch((error: unknown) => {
        if (!disposed && !(error instanceof ApiError && error.code === NETWORK)) ctx.toast(explain(error), "error");
      })
      .finally(() => {
        loading = false;
        if (again) {
          again = false;
          load();
        }
      });
  }

  const onVisible = (): void => {
    if (document.visibilityState === "visible") load();
  };
  window.addEventListener("focus", load);
  document.addEventListener("visibilitychange", onVisible);
  const offState = ctx.live.onState((state) => {
    if (state === "online") load();
  });
  const timer = window.setInterval(() => {
    if (document.visibilityState === "visible") load();
  }, HOME_REFRESH_MS);
  load();
  return () => {
    disposed = true;
    window.removeEventListener("focus", load);
    document.removeEventListener("visibilitychange", onVisible);
    window.clearInterval(timer);
    offState();
    sending.stop();
    unsent.dispose();
    indicator.dispose();
    page.remove();
  };
}
