// The preview pane: the whole text of the focused task, who sent it and when, and its
// history, so an admin reads a task in full before deciding it.
//
// On wide screens the pane takes the analytics column while it is open; under 900 px it
// is a full-screen sheet with a close button. It follows the grid's focus, so J/K (or
// the arrows) walk the queue with the pane open, and V/R still decide.
import { ApiError } from "./api";
import { ago, clock, h, icon, setText, splitKind, statusBadge } from "./dom";
import type { HistoryEntry, Task, TaskHistory } from "./types";
import "./read.css";

/** What the pane reads from the page and asks of it. */
export interface PreviewHost {
  /** The task with this id as the page holds it now. */
  task(id: string): Task | undefined;
  /** Whether a decision on this task is in flight or shown (its buttons are off then). */
  busy(id: string): boolean;
  /** HTTP with the session's token. */
  api<T>(method: string, path: string): Promise<T>;
  validate(id: string): void;
  refuse(id: string): void;
  /** The pane closed: give the focus back to the grid. */
  closed(): void;
}

const ACTION: Record<HistoryEntry["action"], string> = {
  created: "Submitted",
  validated: "Validated",
  refused: "Refused",
  undone: "Undone",
};

const SHEET = window.matchMedia("(max-width: 900px)");

/** The preview pane of the admin scan page. */
export class PreviewPane {
  readonly el: HTMLElement;
  private readonly kind: HTMLElement;
  private readonly worker: HTMLElement;
  private readonly time: HTMLTimeElement;
  private readonly status: HTMLElement;
  private readonly text: HTMLElement;
  private readonly history: HTMLOListElement;
  private readonly historyNote: HTMLElement;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly validateBtn: HTMLButtonElement;
  private readonly refuseBtn: HTMLButtonElement;
  private readonly closeBtn: HTMLButtonElement;
  private taskId: string | null = null;
  private shownKey = "";
  private historyKey = "";
  private isOpen = false;

  /**
   * Args:
   *   host: the page's tasks, HTTP and decision actions.
   */
  constructor(private readonly host: PreviewHost) {
    this.kind = h("span", { class: "kind" });
    this.worker = h("strong", { class: "preview-worker", attrs: { dir: "auto" } });
    this.time = h("time", { class: "preview-time" });
    this.status = h("span", { class: "preview-status" });
    this.text = h("p", { class: "preview-text", attrs: { dir: "auto", tabindex: "0", "aria-label": "Task text" } });
    this.history = h("ol", { class: "preview-history" });
    this.historyNote = h("p", { class: "muted preview-history-note" });
    this.validateBtn = h("button", { class: "btn btn-sm preview-validate", attrs: { type: "button", "aria-label": "Validate (V)" } },
      icon("check"), h("span", { text: "Validate" }));
    this.refuseBtn = h("button", { class: "btn btn-danger btn-sm preview-refuse", attrs: { type: "button", "aria-label": "Refuse (R)" } },
      icon("cross"), h("span", { text: "Refuse" }));
    this.closeBtn = h("button", { class: "btn btn-ghost btn-sm preview-close", attrs: { type: "button", "aria-label": "Close preview" }, title: "Close preview (Esc)" },
      icon("cross"), h("span", { text: "Close" }));
    this.body = h("div", { class: "preview-body" },
      h("p", { class: "preview-meta" }, this.kind, h("span", { class: "muted", text: "from" }), this.worker, this.time, this.status),
      this.text,
      h("section", { class: "preview-log", attrs: { "aria-label": "History" } },
        h("h3", { class: "preview-subtitle", text: "History" }), this.history, this.historyNote),
      h("div", { class: "preview-actions" }, this.validateBtn, this.refuseBtn));
    this.empty = h("p", { class: "muted preview-empty", text: "Select a card to read it here." });
    this.el = h("aside", { class: "preview pane", attrs: { "aria-label": "Task preview", id: "task-preview" } },
      h("div", { class: "preview-head" }, h("h2", { class: "panel-title", text: "Task" }), this.closeBtn),
      this.body, this.empty);
    this.el.hidden = true;
    this.closeBtn.addEventListener("click", () => this.close());
    this.validateBtn.addEventListener("click", () => { if (this.taskId) this.host.validate(this.taskId); });
    this.refuseBtn.addEventListener("click", () => { if (this.taskId) this.host.refuse(this.taskId); });
  }

  /** Whether the pane is open. */
  get open(): boolean {
    return this.isOpen;
  }

  /**
   * Open the pane on a task (or keep it open and switch to that task).
   *
   * Args:
   *   id: the task to show; null shows "Select a card".
   */
  show(id: string | null): void {
    this.taskId = id;
    if (!this.isOpen) {
      this.isOpen = true;
      this.el.hidden = false;
      this.el.parentElement?.classList.add("is-reading");
      // As a full-screen sheet the pane is all there is to see: the focus goes into it.
      if (SHEET.matches) this.closeBtn.focus({ preventScroll: true });
    }
    this.refresh();
  }

  /** Close the pane; the grid gets the focus back. */
  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.el.hidden = true;
    this.el.parentElement?.classList.remove("is-reading");
    this.host.closed();
  }

  /**
   * Follow the grid's focus while open.
   *
   * Args:
   *   id: the focused card's task id, or null when no card is focused.
   */
  follow(id: string | null): void {
    if (this.isOpen && id !== null && id !== this.taskId) {
      this.taskId = id;
      this.refresh();
    }
  }

  /** Redraw from the page's current copy of the task (call after tasks change). */
  refresh(): void {
    if (!this.isOpen) return;
    const task = this.taskId ? this.host.task(this.taskId) : undefined;
    this.body.hidden = !task;
    this.empty.hidden = Boolean(task);
    if (!task) return;
    const busy = this.host.busy(task.id);
    this.validateBtn.disabled = busy || task.status !== "pending";
    this.refuseBtn.disabled = busy || task.status !== "pending";
    const key = `${task.id}@${task.seq}`;
    if (key === this.shownKey) return;
    this.shownKey = key;
    const { kind, text } = splitKind(task.content);
    this.kind.hidden = kind === null;
    this.kind.dataset.kind = kind ?? "";
    setText(this.kind, kind ?? "");
    setText(this.worker, task.worker_username);
    this.time.dateTime = task.created_at;
    setText(this.time, `${ago(task.created_at)} · ${clock(task.created_at)}`);
    this.status.replaceChildren(statusBadge(task.status));
    setText(this.text, text);
    this.text.scrollTop = 0;
    void this.loadHistory(task, key);
  }

  private async loadHistory(task: Task, key: string): Promise<void> {
    if (key === this.historyKey) return;
    this.historyKey = key;
    this.history.replaceChildren();
    this.historyNote.hidden = false;
    setText(this.historyNote, "Loading history…");
    let answer: TaskHistory;
    try {
      answer = await this.host.api<TaskHistory>("GET", `/api/tasks/${encodeURIComponent(task.id)}/history`);
    } catch (error) {
      if (this.historyKey !== key) return;
      setText(this.historyNote, error instanceof ApiError && error.code === "not_found" ? "This task no longer exists." : "History unavailable right now.");
      this.historyKey = "";
      return;
    }
    if (this.historyKey !== key) return; // the pane moved on meanwhile
    this.historyNote.hidden = answer.entries.length > 0;
    setText(this.historyNote, "No history yet.");
    this.history.replaceChildren(...answer.entries.map((entry) => h("li", { class: "history-entry", data: { action: entry.action } },
      h("span", { class: "history-action", text: ACTION[entry.action] }),
      h("span", { class: "muted", text: " by " }),
      h("span", { class: "history-who", text: entry.by.username, attrs: { dir: "auto" } }),
      " ",
      h("time", { class: "muted history-at", text: ago(entry.at), title: clock(entry.at), attrs: { datetime: entry.at } }),
      entry.reason ? h("q", { class: "history-reason", text: entry.reason, attrs: { dir: "auto" } }) : null)));
  }

  /**
   * Keys: Space or Enter on the focused card opens or closes the pane, Esc closes it.
   *
   * Args:
   *   event: a keydown outside text fields and dialogs.
   *   focused: the focused card's task id, or null.
   *
   * Returns:
   *   True when the key was used.
   */
  handleKey(event: KeyboardEvent, focused: string | null): boolean {
    if (event.key === "Escape" && this.isOpen) {
      this.close();
      return true;
    }
    if (event.key !== " " && event.key !== "Enter") return false;
    const target = event.target as HTMLElement | null;
    const onCard = !target || target === document.body || target.classList.contains("card");
    if (!onCard || !focused) return false;
    if (this.isOpen && this.taskId === focused) this.close();
    else this.show(focused);
    return true;
  }

  /**
   * Open the pane on a card clicked or tapped anywhere but its buttons.
   *
   * Args:
   *   grid: the grid's root element.
   */
  bindGrid(grid: HTMLElement): void {
    grid.addEventListener("click", (event) => {
      const target = event.target as Element;
      if (target.closest("button")) return;
      const card = target.closest<HTMLElement>(".card");
      const id = card?.dataset.taskId;
      if (!id || card.classList.contains("leaving")) return;
      this.show(id);
    });
  }
}
