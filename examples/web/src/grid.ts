// The live grid of pending task cards: keyed DOM, one layout per animation frame.
//
// Nothing here reads layout from the DOM: the grid's size comes from a
// ResizeObserver, every card's position and size is computed (layout.ts) and
// written once per frame, so a burst of arrivals costs one style/layout pass.
//
// Never the wrong task: while the pointer is over the grid or the page says a
// decision is in flight (`held()`), every card keeps its place; a card that
// leaves fades out where it was and its cell stays empty, arrivals take cells
// after the last one used. The grid re-packs once the pointer leaves and nothing
// is in flight. Arrivals that find no free cell wait (`data-waiting` counts those a
// re-pack would show, for the toolbar). A decision made from the keyboard lifts the
// pointer's hold until the pointer moves again: the reviewer is working with the keys,
// so the holes it leaves are filled (a click on a card that moved under the resting
// pointer less than CLICK_GUARD_MS ago does nothing). The keys act on the card that
// holds the focus, and the focus
// never jumps to another card under a keypress: when the focused card leaves,
// the page is told (`lost`) and picks the next one itself.
import { paintAvatar } from "./avatar";
import { mark, measure } from "./diag";
import { age, clock, h, icon, setText, shown, splitKind } from "./dom";
import { computeLayout, type Layout } from "./layout";
import type { Decision, Task } from "./types";

export type CardState = "pending" | "validating" | "refusing" | "conflict" | "queued";

export interface GridItem {
  task: Task;
  state: CardState;
  /** Shown over the card for a decision in flight or lost to another admin. */
  note: string | null;
  /** The username of another admin who holds the task (CONTRACT.md §4.2), or null. */
  claimedBy: string | null;
}

export interface GridCallbacks {
  /** The cards, in queue order (oldest first). */
  items(): GridItem[];
  decide(taskId: string, decision: Decision): void;
  refuse(taskId: string): void;
  /** Z: take back this admin's last decision. */
  undo(): void;
  /** True while a decision is in flight: the cards keep their places. */
  held(): boolean;
  /** The focus moved to `taskId` by the user's doing (keys, click, Tab). */
  focusMoved(taskId: string): void;
  /** The focused card left the grid (`index`: its place in the queue); the page picks the next. */
  lost(taskId: string, index: number): void;
  /** After each render (the data-* attributes hold what was placed). */
  rendered?(): void;
}

interface Card {
  el: HTMLElement;
  who: HTMLElement;
  kind: HTMLElement;
  age: HTMLTimeElement;
  content: HTMLElement;
  note: HTMLElement;
  noteText: HTMLElement;
  claim: HTMLElement;
  claimText: HTMLElement;
  claimedBy: string | null;
  validate: HTMLButtonElement;
  refuse: HTMLButtonElement;
  task: Task | null;
  state: CardState | null;
  noteValue: string | null;
  x: number;
  y: number;
}

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
/** A click this soon after the cards moved under a resting pointer does nothing (ms). */
const CLICK_GUARD_MS = 500;

export class TaskGrid {
  readonly el: HTMLElement;
  private readonly layer: HTMLElement;
  private readonly more: HTMLElement;
  private readonly moreCount: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly cards = new Map<string, Card>();
  private readonly observer: ResizeObserver;
  private width = 0;
  private height = 0;
  private frame = 0;
  private actionable: string[] = [];
  /** Placed cards in queue order (actionable or not). */
  private order: string[] = [];
  private focusedId: string | null = null;
  /** The focused card's place in the queue (where the next one is looked for when it leaves). */
  private focusIndex = 0;
  /** A card the page asked to focus before it was placed. */
  private wanted: string | null = null;
  /** Cell index of each placed card, kept while the positions hold. */
  private slots = new Map<string, number>();
  private nextSlot = 0;
  private laidOutFor = "";
  private pointerInside = false;
  /** Where the pointer last was over the grid (a move to the same place is no move). */
  private pointerX = NaN;
  private pointerY = NaN;
  /**
   * A decision was made from the keyboard since the pointer last moved: the pointer
   * rests where it is without being used, so it holds no card in place.
   */
  private keyed = false;
  /** When a re-pack last moved cards under the resting pointer (performance.now()). */
  private movedAt = -Infinity;
  /** Set by `relayout()`: the next render re-packs whatever holds. */
  private repack = false;
  layout: Layout | null = null;
  private ageTimer: number;
  private destroyed = false;

  constructor(private readonly callbacks: GridCallbacks, emptyText: string) {
    this.layer = h("div", { class: "grid-layer" });
    this.moreCount = h("strong", { class: "more-count" });
    this.more = h(
      "div",
      { class: "more-tile", attrs: { role: "status" } },
      h("span", { class: "more-line fit" }, this.moreCount, h("span", { class: "more-label", text: " more waiting" })),
    );
    this.layer.append(this.more);
    this.empty = h(
      "div",
      { class: "grid-empty" },
      icon("checkCircle", "icon empty-icon"),
      h("p", { class: "empty-title", text: "Queue clear" }),
      h("p", { class: "empty-text", text: emptyText }),
    );
    this.el = h(
      "section",
      { class: "grid", attrs: { "aria-label": "Pending tasks", "aria-live": "off" }, data: { pending: "0" } },
      this.layer,
      this.empty,
    );
    this.el.addEventListener("click", (event) => this.onClick(event));
    // Positions hold while the pointer is over the grid; they re-pack once it leaves.
    // A decision from the keyboard lifts that hold until the pointer really moves (a
    // move event to the same place, as a browser sends after the cards moved, is none).
    this.el.addEventListener("pointerenter", (event) => this.pointerAt(event, true));
    this.el.addEventListener("pointermove", (event) => this.pointerAt(event, false));
    this.el.addEventListener("pointerdown", () => { this.keyed = false; });
    this.el.addEventListener("pointerleave", () => {
      this.pointerInside = false;
      this.keyed = false;
      this.invalidate();
    });
    // Tab into a card's button makes that card the focused one: one focus, keys act on it.
    this.el.addEventListener("focusin", (event) => {
      const cardEl = (event.target as Element).closest<HTMLElement>(".card");
      const id = cardEl?.dataset.taskId;
      if (id && id !== this.focusedId && this.cards.has(id) && !cardEl.classList.contains("leaving")) this.setFocus(id, false, true);
    });
    this.observer = new ResizeObserver((entries) => {
      const box = entries[entries.length - 1]?.contentRect;
      if (!box) return;
      const w = Math.floor(box.width);
      const hgt = Math.floor(box.height);
      if (w !== this.width || hgt !== this.height) {
        this.width = w;
        this.height = hgt;
        this.invalidate();
      }
    });
    this.observer.observe(this.el);
    this.ageTimer = window.setInterval(() => this.refreshAges(), 15_000);
  }

  /**
   * Re-pack on the next render even while positions would hold: the queue itself changed
   * at the reviewer's request (a filter, a search, another page), not under the pointer.
   */
  relayout(): void {
    this.repack = true;
    this.invalidate();
  }

  /** The pointer entered (`entered`) or moved over the grid. */
  private pointerAt(event: PointerEvent, entered: boolean): void {
    this.pointerInside = true;
    if (entered || event.clientX !== this.pointerX || event.clientY !== this.pointerY) {
      this.keyed = false;
      this.movedAt = -Infinity; // the pointer moved since: what it clicks is what it aimed at
    }
    this.pointerX = event.clientX;
    this.pointerY = event.clientY;
  }

  /** A touch screen (a coarse pointer, or a phone-sized window): buttons get 32 px. */
  private touch(): boolean {
    return window.matchMedia("(pointer: coarse)").matches || window.innerWidth <= 600;
  }

  /** Schedule a render on the next frame (many calls, one render). */
  invalidate(): void {
    if (this.frame || this.destroyed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  destroy(): void {
    this.destroyed = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.observer.disconnect();
    clearInterval(this.ageTimer);
  }

  private render(): void {
    const started = performance.now();
    const items = this.callbacks.items();
    const size = `${this.width}x${this.height}`;
    const pointerHold = this.pointerInside && !this.keyed;
    const hold = !this.repack && (pointerHold || this.callbacks.held()) && this.layout !== null
      && this.laidOutFor === size && this.slots.size > 0;
    this.repack = false;
    let layout: Layout;
    const placed: { item: GridItem; slot: number }[] = [];
    let waiting = 0;
    if (hold) {
      // Every placed card keeps its cell; arrivals take the cells after the last one used.
      layout = this.layout!;
      const capacity = layout.hidden > 0 ? layout.shown : layout.cols * layout.rows;
      const slots = new Map<string, number>();
      for (const item of items) {
        let slot = this.slots.get(item.task.id);
        if (slot === undefined) {
          if (this.nextSlot >= capacity) continue;
          slot = this.nextSlot++;
        }
        slots.set(item.task.id, slot);
        placed.push({ item, slot });
      }
      this.slots = slots;
      if (pointerHold && placed.length < items.length) {
        // What a re-pack would show more: those wait for the pointer to leave.
        const fresh = computeLayout(items.length, this.width, this.height, this.touch());
        waiting = Math.max(0, Math.min(items.length, fresh.shown) - placed.length);
      }
    } else {
      layout = computeLayout(items.length, this.width, this.height, this.touch());
      this.layout = layout;
      this.laidOutFor = size;
      this.slots = new Map();
      items.slice(0, layout.shown).forEach((item, slot) => {
        this.slots.set(item.task.id, slot);
        placed.push({ item, slot });
      });
      this.nextSlot = placed.length;
    }
    const hidden = items.length - placed.length;
    const style = this.el.style;
    style.setProperty("--f", `${layout.font}px`);
    style.setProperty("--cw", `${layout.cardWidth}px`);
    style.setProperty("--ch", `${layout.cardHeight}px`);
    style.setProperty("--lines", String(layout.lines));
    this.el.classList.toggle("touch", this.touch());
    this.el.classList.toggle("mode-compact", layout.mode === "compact");
    this.el.classList.toggle("mode-card", layout.mode === "card");
    this.el.classList.toggle("no-labels", !layout.labels);
    this.el.classList.toggle("narrow", layout.narrow);
    this.el.classList.toggle("is-empty", items.length === 0);
    // Up to ~90 tiles glide to their new places; past that they jump (one layer each is too many).
    this.el.classList.toggle("calm", layout.shown > 90);

    const keep = new Set<string>();
    const animate = !reducedMotion.matches;
    const fresh: Card[] = [];
    let moved = false;
    const stride = layout.cardWidth + layout.gap;
    const strideY = layout.cardHeight + layout.gap;
    for (const { item, slot: index } of placed) {
      const id = item.task.id;
      keep.add(id);
      let card = this.cards.get(id);
      if (!card) {
        card = this.createCard(item.task);
        this.cards.set(id, card);
        fresh.push(card);
      }
      this.updateCard(card, item);
      const x = layout.offsetX + (index % layout.cols) * stride;
      const y = layout.offsetY + Math.floor(index / layout.cols) * strideY;
      if (x !== card.x || y !== card.y) {
        if (!Number.isNaN(card.x)) moved = true;
        card.x = x;
        card.y = y;
        card.el.style.translate = `${x}px ${y}px`;
      }
    }
    for (const [id, card] of this.cards) {
      if (keep.has(id)) continue;
      this.cards.delete(id);
      // It fades out where it is (decided here or elsewhere); its cell is not reused until a re-pack.
      if (animate && layout.mode === "card") {
        card.el.classList.add("leaving");
        card.el.setAttribute("aria-hidden", "true");
        card.el.animate([{ opacity: 1, scale: 1 }, { opacity: 0, scale: 0.9 }], { duration: 180, easing: "ease-in" })
          .finished.then(() => card.el.remove(), () => card.el.remove());
      } else {
        card.el.remove();
      }
    }
    if (moved && !hold && this.pointerInside) this.movedAt = performance.now();
    if (fresh.length) {
      const fragment = document.createDocumentFragment();
      for (const card of fresh) fragment.appendChild(card.el);
      this.layer.appendChild(fragment);
      if (animate && fresh.length <= 60) {
        for (const card of fresh) {
          card.el.animate([{ opacity: 0, scale: 0.94 }, { opacity: 1, scale: 1 }], { duration: 220, easing: "ease-out" });
        }
      }
    }
    // The "more" tile takes the last cell when not everything fits.
    if (layout.hidden > 0 && hidden > 0) {
      const index = layout.shown;
      const x = layout.offsetX + (index % layout.cols) * stride;
      const y = layout.offsetY + Math.floor(index / layout.cols) * strideY;
      this.more.style.translate = `${x}px ${y}px`;
      setText(this.moreCount, `+${hidden.toLocaleString("en-US")}`);
      this.more.title = `${hidden} more pending tasks wait; the oldest are shown first.`;
      this.more.hidden = false;
    } else {
      this.more.hidden = true;
    }
    this.order = placed.map(({ item }) => item.task.id);
    this.actionable = placed.filter(({ item }) => item.state === "pending").map(({ item }) => item.task.id);
    this.syncFocus();
    const data = this.el.dataset;
    data.pending = String(items.length);
    data.shown = String(placed.length);
    data.hidden = String(hidden);
    data.held = hold ? "true" : "false";
    data.waiting = String(waiting);
    data.mode = layout.mode;
    data.cols = String(layout.cols);
    data.rows = String(layout.rows);
    const ended = performance.now();
    const detail = { items: items.length, shown: placed.length };
    measure("grid:render", started, ended, detail);
    this.callbacks.rendered?.();
    // The next frame's callback runs once this frame's style, layout and paint are done.
    requestAnimationFrame(() => mark("grid:frame", detail));
  }

  private static template: HTMLElement | null = null;

  /** One card built with the DOM helpers, cloned for every task (much cheaper than building). */
  private static cardTemplate(): HTMLElement {
    if (!TaskGrid.template) {
      const note = h("div", { class: "card-note", attrs: { role: "status" } }, h("span", { class: "note-text fit" }));
      note.hidden = true;
      const claim = h("p", { class: "card-claim" }, icon("eye", "icon claim-icon"), h("span", { class: "claim-text fit" }));
      claim.hidden = true;
      TaskGrid.template = h(
        "article",
        { class: "card", attrs: { tabindex: "-1", role: "group" } },
        h("div", { class: "card-head" },
          h("span", { class: "avatar tile-avatar", attrs: { "aria-hidden": "true" } }),
          h("span", { class: "who fit", attrs: { dir: "auto" } }),
          h("span", { class: "kind" }),
          h("time", { class: "age" })),
        h("p", { class: "content fit", attrs: { dir: "auto" } }),
        h("div", { class: "card-actions" },
          h("button", { class: "act act-validate", attrs: { type: "button", "aria-label": "Validate (V)", "data-action": "validate" }, title: "Validate (V)" },
            icon("check"), h("span", { class: "label", text: "Validate" })),
          h("button", { class: "act act-refuse", attrs: { type: "button", "aria-label": "Refuse (R)", "data-action": "refuse" }, title: "Refuse (R)" },
            icon("cross"), h("span", { class: "label", text: "Refuse" }))),
        claim,
        note,
      );
    }
    return TaskGrid.template;
  }

  private createCard(task: Task): Card {
    const el = TaskGrid.cardTemplate().cloneNode(true) as HTMLElement;
    el.dataset.taskId = task.id;
    const [head, content, actions, claim, note] = Array.from(el.children) as HTMLElement[];
    const [avatar, who, kind, ageEl] = Array.from(head!.children) as HTMLElement[];
    const [validate, refuse] = Array.from(actions!.children) as HTMLButtonElement[];
    paintAvatar(avatar!, task.worker_username);
    return {
      el, who: who!, kind: kind!, age: ageEl as HTMLTimeElement, content: content!, note: note!,
      noteText: note!.firstElementChild as HTMLElement, claim: claim!, claimText: claim!.lastElementChild as HTMLElement,
      claimedBy: null, validate: validate!, refuse: refuse!,
      task: null, state: null, noteValue: null, x: NaN, y: NaN,
    };
  }

  private updateCard(card: Card, item: GridItem): void {
    const { task, state, note, claimedBy } = item;
    if (card.claimedBy !== claimedBy) {
      card.claimedBy = claimedBy;
      card.claim.hidden = claimedBy === null;
      const text = claimedBy === null ? "" : `${claimedBy} is reviewing`;
      setText(card.claimText, text);
      card.claimText.title = shown(text);
      if (claimedBy === null) delete card.el.dataset.claimedBy;
      else card.el.dataset.claimedBy = claimedBy;
    }
    if (card.task !== task) {
      const previous = card.task;
      card.task = task;
      if (!previous || previous.content !== task.content) {
        const { kind, text } = splitKind(task.content);
        setText(card.content, text);
        card.content.title = shown(task.content);
        setText(card.kind, "");
        if (kind) {
          card.kind.append(
            h("span", { class: "kind-long", text: kind }),
            h("span", { class: "kind-short", text: kind.slice(0, 3) }),
          );
          card.kind.title = shown(kind);
        }
        card.kind.hidden = kind === null;
        card.kind.dataset.kind = kind ?? "";
      }
      if (!previous || previous.worker_username !== task.worker_username) {
        setText(card.who, task.worker_username);
        card.who.title = shown(`Submitted by ${task.worker_username}`);
        card.el.setAttribute("aria-label", `Task from ${task.worker_username}`);
      }
      card.age.dateTime = task.created_at;
      card.age.title = shown(clock(task.created_at));
      setText(card.age, age(task.created_at));
    }
    if (card.state !== state || card.noteValue !== note) {
      card.state = state;
      card.noteValue = note;
      card.el.dataset.state = state;
      const busy = state !== "pending";
      card.validate.disabled = busy;
      card.refuse.disabled = busy;
      card.note.hidden = note === null;
      setText(card.noteText, note ?? "");
      card.noteText.title = shown(note ?? "");
    }
  }

  private refreshAges(): void {
    const now = Date.now();
    for (const card of this.cards.values()) {
      if (card.task) setText(card.age, age(card.task.created_at, now));
    }
  }

  // -- focus and keyboard --------------------------------------------------------------------
  private syncFocus(): void {
    if (this.focusedId && !this.cards.has(this.focusedId)) {
      // The focused card left: never slide the focus onto whichever card took its place
      // (a key pressed now would act on a task the reviewer has not looked at).
      const lost = this.focusedId;
      this.focusedId = null;
      this.paintFocus();
      this.callbacks.lost(lost, this.focusIndex);
      return;
    }
    if (this.wanted && this.cards.has(this.wanted)) {
      const id = this.wanted;
      this.wanted = null;
      this.setFocus(id, this.focusInGrid(), false);
      return;
    }
    this.paintFocus();
  }

  /**
   * Whether the keys belong to the grid: the keyboard focus is in it, nowhere in
   * particular, or on a control clicked with the mouse. A control reached with the
   * keyboard elsewhere (its focus ring showing) keeps them: one focus, one target.
   */
  private focusInGrid(): boolean {
    const active = document.activeElement;
    if (!active || active === document.body || this.el.contains(active)) return true;
    return !active.matches(":focus-visible");
  }

  private paintFocus(): void {
    for (const [id, card] of this.cards) {
      const focused = id === this.focusedId;
      if (card.el.classList.contains("is-focused") !== focused) card.el.classList.toggle("is-focused", focused);
      const tabindex = focused ? "0" : "-1";
      if (card.el.getAttribute("tabindex") !== tabindex) card.el.setAttribute("tabindex", tabindex);
    }
    this.el.dataset.focused = this.focusedId ?? "";
  }

  private setFocus(id: string | null, moveDomFocus: boolean, byUser: boolean): void {
    const changed = id !== this.focusedId;
    this.focusedId = id;
    if (id) {
      const index = this.order.indexOf(id);
      if (index >= 0) this.focusIndex = index;
    }
    this.paintFocus();
    if (id && moveDomFocus) {
      const el = this.cards.get(id)?.el;
      // A card whose button has the focus keeps it there (Tab): the card is already the focused one.
      if (el && !el.contains(document.activeElement)) el.focus({ preventScroll: true });
    }
    if (id && changed && byUser) this.callbacks.focusMoved(id);
  }

  /** The focused card's task id, or null. */
  focused(): string | null {
    return this.focusedId;
  }

  /**
   * Focus `taskId` (the page's choice: a claimed task, an undone one); when its card is
   * not placed yet, as soon as it is. Args: moveDomFocus, also move the keyboard focus
   * there (only when it is in the grid or nowhere).
   */
  focusTask(taskId: string, moveDomFocus = true): void {
    if (this.cards.has(taskId) && this.order.includes(taskId)) {
      this.wanted = null;
      this.setFocus(taskId, moveDomFocus && this.focusInGrid(), false);
    } else {
      this.wanted = taskId;
      this.invalidate();
    }
  }

  /** The place of `taskId` among the placed cards, in queue order (0 when not placed). */
  indexOf(taskId: string): number {
    return Math.max(0, this.order.indexOf(taskId));
  }

  /** The first actionable card from queue place `index` on (the page's fallback), or null. */
  candidate(index: number, skip: (taskId: string) => boolean = () => false): string | null {
    const rest = this.actionable.filter((id) => !skip(id) && this.order.indexOf(id) >= index);
    return rest[0] ?? this.actionable.find((id) => !skip(id)) ?? null;
  }

  /** Move the focus by `delta` cards in queue order (grid arrows move by a row). */
  private move(delta: number): void {
    if (!this.order.length) return;
    const current = this.focusedId ? this.order.indexOf(this.focusedId) : -1;
    const start = current < 0 ? (delta > 0 ? -1 : this.order.length) : current;
    let next = Math.max(0, Math.min(this.order.length - 1, start + delta));
    // Step over cards that are leaving (decided, stamped): only pending cards take the focus.
    const step = delta > 0 ? 1 : -1;
    while (next >= 0 && next < this.order.length && !this.actionable.includes(this.order[next]!)) next += step;
    if (next < 0 || next >= this.order.length) return;
    this.setFocus(this.order[next] ?? null, true, true);
  }

  /** The card the keys act on: the one holding the keyboard focus, else the focused card. */
  private keyTarget(): string | null {
    const active = document.activeElement;
    if (active && this.el.contains(active)) {
      const id = active.closest<HTMLElement>(".card")?.dataset.taskId;
      if (id) return id;
    }
    return this.focusInGrid() ? this.focusedId : null;
  }

  /** Keyboard handling for the page; true when the key was used. */
  handleKey(event: KeyboardEvent): boolean {
    const cols = Math.max(1, this.layout?.cols ?? 1);
    const key = event.key;
    switch (key) {
      case "ArrowRight":
      case "j":
      case "J":
        this.move(1);
        return true;
      case "ArrowLeft":
      case "k":
      case "K":
        this.move(-1);
        return true;
      case "ArrowDown":
        this.move(cols);
        return true;
      case "ArrowUp":
        this.move(-cols);
        return true;
      case "Home":
        this.move(-Infinity);
        return true;
      case "End":
        this.move(Infinity);
        return true;
      case "v":
      case "V": {
        const id = this.keyTarget();
        if (id && this.actionable.includes(id)) {
          this.keyed = true; // decided from the keyboard: the holes it leaves are filled
          this.act(id, "validated");
        }
        return id !== null;
      }
      case "r":
      case "R": {
        const id = this.keyTarget();
        if (id && this.actionable.includes(id)) {
          this.keyed = true; // decided from the keyboard: the holes it leaves are filled
          this.callbacks.refuse(id);
        }
        return id !== null;
      }
      case "z":
      case "Z":
        this.keyed = true;
        this.callbacks.undo();
        return true;
      default:
        return false;
    }
  }

  private act(id: string, decision: Decision): void {
    this.focusIndex = Math.max(0, this.order.indexOf(id));
    this.callbacks.decide(id, decision);
  }

  focusGrid(): void {
    if (this.focusedId) this.cards.get(this.focusedId)?.el.focus({ preventScroll: true });
  }

  private onClick(event: MouseEvent): void {
    const target = event.target as Element;
    const cardEl = target.closest<HTMLElement>(".card");
    const id = cardEl?.dataset.taskId;
    if (!id || cardEl?.classList.contains("leaving")) return;
    const button = target.closest<HTMLButtonElement>("button[data-action]");
    // The cards just moved under the resting pointer (a re-pack after a key): not what was looked at.
    if (button && performance.now() - this.movedAt < CLICK_GUARD_MS) return;
    if (button && !button.disabled) {
      if (button.dataset.action === "validate") this.act(id, "validated");
      else this.callbacks.refuse(id);
      return;
    }
    if (this.actionable.includes(id)) this.setFocus(id, true, true);
  }
}
