// "N not sent yet" on the scan rows of a home page: how many items of the signed-in
// user's outbox (outbox.ts) have not reached the server, per scan. The worker's home
// counts their submissions (submissions.ts), the admin's home their decisions
// (decisions.ts). The notes follow the outbox as it changes, in this tab or another.
import { h, setText } from "./dom";

/** What the notes read of an outbox: its items (each of a scan, its scope) and its changes. */
export interface UnsentSource {
  list(scope?: string): readonly { scope: string }[];
  onChange(listener: () => void): () => void;
}

/** The "N not sent yet" notes of a home page's scan rows, one per scan. */
export class UnsentNotes {
  private readonly notes = new Map<string, HTMLElement>();
  private readonly off: () => void;

  /**
   * Args:
   *   outbox: The signed-in user's outbox; every item not removed from it is counted
   *     (waiting, being sent, or refused by the server and kept for a retry).
   */
  constructor(private readonly outbox: UnsentSource) {
    this.off = outbox.onChange(() => this.refresh());
  }

  /**
   * The note of one scan's row, up to date: the same element on every call, so a row
   * built again keeps following the outbox.
   *
   * Args:
   *   scanId: The scan (the outbox items' scope).
   *
   * Returns:
   *   A `.unsent-note` element, hidden while nothing of the scan waits.
   */
  note(scanId: string): HTMLElement {
    let el = this.notes.get(scanId);
    if (!el) {
      el = h("span", { class: "unsent-note" });
      this.notes.set(scanId, el);
    }
    this.show(scanId, el);
    return el;
  }

  /** Stop following the outbox (the page is going away). */
  dispose(): void {
    this.off();
  }

  private refresh(): void {
    for (const [scanId, el] of this.notes) this.show(scanId, el);
  }

  private show(scanId: string, el: HTMLElement): void {
    const count = this.outbox.list(scanId).length;
    setText(el, count ? `${count.toLocaleString("en-US")} not sent yet` : "");
    el.hidden = count === 0;
  }
}
