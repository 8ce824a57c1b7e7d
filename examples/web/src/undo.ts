// "Validated · Undo": after each of this admin's decisions, for the undo window (CONTRACT.md §4.3).
import { h, setText } from "./dom";
import type { Decision } from "./types";

/**
 * How long the dashboard offers Undo. The server's window is its `--undo-seconds`
 * (default 10), which the contract does not publish: an Undo the server refuses
 * as too late says so.
 */
export const UNDO_SECONDS = 10;

interface Undoable {
  taskId: string;
  decision: Decision;
  until: number;
}

/**
 * The bar shows the decision, Undo and the seconds left, ticking; a screen reader hears
 * once, from a live region outside the bar (always rendered, so it is heard when the bar
 * appears), what was decided and that Z undoes it. The region is emptied once nothing
 * is left to undo; the countdown is in no live region.
 */
export class UndoBar {
  /** What the page places: the live region and the bar. */
  readonly el: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly said: HTMLElement;
  private readonly text: HTMLElement;
  private readonly left: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly stack: Undoable[] = [];
  private timer = 0;

  /** Args: undo, takes a decision back; resolves true when the server did. */
  constructor(private readonly undo: (taskId: string) => Promise<boolean>) {
    this.text = h("span", { class: "undo-text" });
    this.left = h("span", { class: "undo-left muted", attrs: { "aria-hidden": "true" } });
    this.button = h("button", { class: "btn undo-btn", attrs: { type: "button", "aria-keyshortcuts": "Z" }, title: "Undo (Z)", text: "Undo" });
    this.button.addEventListener("click", () => void this.undoLast());
    this.bar = h("div", { class: "undo-bar" }, this.text, " · ", this.button, " ", this.left);
    this.bar.hidden = true;
    this.said = h("span", { class: "sr-only undo-said", attrs: { role: "status", "aria-live": "polite" } });
    this.el = h("div", { class: "undo" }, this.said, this.bar);
  }

  /** Offer Undo for a decision just made on `taskId`. */
  push(taskId: string, decision: Decision): void {
    const at = this.stack.findIndex((item) => item.taskId === taskId);
    if (at >= 0) this.stack.splice(at, 1);
    this.stack.push({ taskId, decision, until: Date.now() + UNDO_SECONDS * 1000 });
    // A new text node each time: a second decision alike is heard too.
    this.said.textContent = `${decision === "validated" ? "Validated" : "Refused"}. Press Z to undo.`;
    this.tick();
  }

  /** Forget `taskId` (it was undone, or it is no longer this admin's decision). */
  drop(taskId: string): void {
    const at = this.stack.findIndex((item) => item.taskId === taskId);
    if (at >= 0) this.stack.splice(at, 1);
    this.tick();
  }

  /** Undo the latest decision still in its window; false when there is none. */
  async undoLast(): Promise<boolean> {
    this.prune();
    const last = this.stack.pop();
    this.tick();
    if (!last) return false;
    return this.undo(last.taskId);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
  }

  private prune(): void {
    const now = Date.now();
    while (this.stack.length && this.stack[0]!.until <= now) this.stack.shift();
  }

  /** Show the latest decision and the seconds left, once a second until none is undoable. */
  private tick(): void {
    window.clearTimeout(this.timer);
    this.prune();
    const last = this.stack[this.stack.length - 1];
    this.bar.hidden = !last;
    if (!last) {
      setText(this.said, "");
      return;
    }
    this.bar.dataset.decision = last.decision;
    this.bar.dataset.taskId = last.taskId;
    setText(this.text, last.decision === "validated" ? "Validated" : "Refused");
    const seconds = Math.max(1, Math.ceil((last.until - Date.now()) / 1000));
    setText(this.left, `(Z) · ${seconds} s`);
    this.timer = window.setTimeout(() => this.tick(), Math.min(1000, Math.max(50, last.until - Date.now())));
  }
}
