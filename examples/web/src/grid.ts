// The live grid of pending task cards: keyed DOM, one layout per animation frame.
//
// Nothing here reads layout from the DOM: the grid's size comes from a
// ResizeObserver, every card's position and size is computed (layout.ts) and
// written once per frame, so a burst of arrivals costs one style/layout pass.
import { mark, measure } from "./diag";
import { age, clock, h, icon, setText, splitKind } from "./dom";
import { computeLayout, type Layout } from "./layout";
import type { Decision, Task } from "./types";

export type CardState = "pending" | "validating" | "refusing" | "conflict";

export interface GridItem {
  task: Task;
  state: CardState;
  /** Shown over the card for a decision in flight or lost to another admin. */
  note: string | null;
}

export interface GridCallbacks {
  items(): GridItem[];
  decide(taskId: string, decision: Decision): void;
  refuse(taskId: string): void;
}

interface Card {
  el: HTMLElement;
  who: HTMLElement;
  kind: HTMLElement;
  age: HTMLTimeElement;
  content: HTMLElement;
  note: HTMLElement;
  noteText: HTMLElement;
  validate: HTMLButtonElement;
  refuse: HTMLButtonElement;
  task: Task | null;
  state: CardState | null;
  noteValue: string | null;
  x: number;
  y: number;
}

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

function hue(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(hash) % 360;
}

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
  private focusedId: string | null = null;
  private focusIndex = 0;
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
    const layout = computeLayout(items.length, this.width, this.height);
    this.layout = layout;
    const style = this.el.style;
    style.setProperty("--f", `${layout.font}px`);
    style.setProperty("--cw", `${layout.cardWidth}px`);
    style.setProperty("--ch", `${layout.cardHeight}px`);
    style.setProperty("--lines", String(layout.lines));
    this.el.classList.toggle("mode-compact", layout.mode === "compact");
    this.el.classList.toggle("mode-card", layout.mode === "card");
    this.el.classList.toggle("no-labels", !layout.labels);
    this.el.classList.toggle("narrow", layout.narrow);
    this.el.classList.toggle("is-empty", items.length === 0);
    // Up to ~90 tiles glide to their new places; past that they jump (one layer each is too many).
    this.el.classList.toggle("calm", layout.shown > 90);

    const placed = items.slice(0, layout.shown);
    const keep = new Set<string>();
    const animate = !reducedMotion.matches;
    const fresh: Card[] = [];
    const stride = layout.cardWidth + layout.gap;
    const strideY = layout.cardHeight + layout.gap;
    placed.forEach((item, index) => {
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
        card.x = x;
        card.y = y;
        card.el.style.translate = `${x}px ${y}px`;
      }
    });
    for (const [id, card] of this.cards) {
      if (keep.has(id)) continue;
      this.cards.delete(id);
      const decided = card.task?.status !== "pending" || card.state !== "pending";
      if (animate && decided && layout.mode === "card") {
        card.el.classList.add("leaving");
        card.el.setAttribute("aria-hidden", "true");
        card.el.animate([{ opacity: 1, scale: 1 }, { opacity: 0, scale: 0.9 }], { duration: 180, easing: "ease-in" })
          .finished.then(() => card.el.remove(), () => card.el.remove());
      } else {
        card.el.remove();
      }
    }
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
    if (layout.hidden > 0) {
      const index = layout.shown;
      const x = layout.offsetX + (index % layout.cols) * stride;
      const y = layout.offsetY + Math.floor(index / layout.cols) * strideY;
      this.more.style.translate = `${x}px ${y}px`;
      setText(this.moreCount, `+${layout.hidden.toLocaleString("en-US")}`);
      this.more.title = `${layout.hidden} more pending tasks wait; the oldest are shown first.`;
      this.more.hidden = false;
    } else {
      this.more.hidden = true;
    }
    this.actionable = placed.filter((item) => item.state === "pending").map((item) => item.task.id);
    this.syncFocus();
    const data = this.el.dataset;
    data.pending = String(items.length);
    data.shown = String(layout.shown);
    data.hidden = String(layout.hidden);
    data.mode = layout.mode;
    data.cols = String(layout.cols);
    data.rows = String(layout.rows);
    const ended = performance.now();
    const detail = { items: items.length, shown: layout.shown };
    measure("grid:render", started, ended, detail);
    // The next frame's callback runs once this frame's style, layout and paint are done.
    requestAnimationFrame(() => mark("grid:frame", detail));
  }

  private static template: HTMLElement | null = null;

  /** One card built with the DOM helpers, cloned for every task (much cheaper than building). */
  private static cardTemplate(): HTMLElement {
    if (!TaskGrid.template) {
      const note = h("div", { class: "card-note", attrs: { role: "status" } }, h("span", { class: "note-text fit" }));
      note.hidden = true;
      TaskGrid.template = h(
        "article",
        { class: "card", attrs: { tabindex: "-1", role: "group" } },
        h("div", { class: "card-head" },
          h("span", { class: "avatar", attrs: { "aria-hidden": "true" } }),
          h("span", { class: "who fit", attrs: { dir: "auto" } }),
          h("span", { class: "kind" }),
          h("time", { class: "age" })),
        h("p", { class: "content fit", attrs: { dir: "auto" } }),
        h("div", { class: "card-actions" },
          h("button", { class: "act act-validate", attrs: { type: "button", "aria-label": "Validate (V)", "data-action": "validate" }, title: "Validate (V)" },
            icon("check"), h("span", { class: "label", text: "Validate" })),
          h("button", { class: "act act-refuse", attrs: { type: "button", "aria-label": "Refuse (R)", "data-action": "refuse" }, title: "Refuse (R)" },
            icon("cross"), h("span", { class: "label", text: "Refuse" }))),
        note,
      );
    }
    return TaskGrid.template;
  }

  private createCard(task: Task): Card {
    const el = TaskGrid.cardTemplate().cloneNode(true) as HTMLElement;
    el.dataset.taskId = task.id;
    const [head, content, actions, note] = Array.from(el.children) as HTMLElement[];
    const [avatar, who, kind, ageEl] = Array.from(head!.children) as HTMLElement[];
    const [validate, refuse] = Array.from(actions!.children) as HTMLButtonElement[];
    avatar!.textContent = (task.worker_username[0] ?? "?").toUpperCase();
    avatar!.style.setProperty("--hue", String(hue(task.worker_username)));
    return {
      el, who: who!, kind: kind!, age: ageEl as HTMLTimeElement, content: content!, note: note!,
      noteText: note!.firstElementChild as HTMLElement, validate: validate!, refuse: refuse!,
      task: null, state: null, noteValue: null, x: NaN, y: NaN,
    };
  }

  private updateCard(card: Card, item: GridItem): void {
    const { task, state, note } = item;
    if (card.task !== task) {
      const previous = card.task;
      card.task = task;
      if (!previous || previous.content !== task.content) {
        const { kind, text } = splitKind(task.content);
        card.content.textContent = text;
        card.content.title = task.content;
        card.kind.textContent = "";
        if (kind) {
          card.kind.append(
            h("span", { class: "kind-long", text: kind }),
            h("span", { class: "kind-short", text: kind.slice(0, 3) }),
          );
          card.kind.title = kind;
        }
        card.kind.hidden = kind === null;
        card.kind.dataset.kind = kind ?? "";
      }
      if (!previous || previous.worker_username !== task.worker_username) {
        card.who.textContent = task.worker_username;
        card.who.title = `Submitted by ${task.worker_username}`;
        card.el.setAttribute("aria-label", `Task from ${task.worker_username}`);
      }
      card.age.dateTime = task.created_at;
      card.age.title = clock(task.created_at);
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
      card.noteText.textContent = note ?? "";
      card.noteText.title = note ?? "";
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
    if (this.focusedId && !this.actionable.includes(this.focusedId)) {
      // The focused card left (decided): take the card now at the same place in the queue.
      this.focusedId = null;
    }
    if (!this.focusedId && this.actionable.length) {
      const index = Math.min(this.focusIndex, this.actionable.length - 1);
      this.setFocus(this.actionable[index] ?? null, document.activeElement?.classList.contains("card") ?? false);
    } else {
      this.paintFocus();
    }
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

  private setFocus(id: string | null, moveDomFocus: boolean): void {
    this.focusedId = id;
    if (id) {
      const index = this.actionable.indexOf(id);
      if (index >= 0) this.focusIndex = index;
    }
    this.paintFocus();
    if (id && moveDomFocus) this.cards.get(id)?.el.focus({ preventScroll: true });
  }

  focused(): string | null {
    return this.focusedId;
  }

  /** Move the focus by `delta` cards in queue order (grid arrows move by a row). */
  private move(delta: number): void {
    if (!this.actionable.length) return;
    const current = this.focusedId ? this.actionable.indexOf(this.focusedId) : -1;
    const next = Math.max(0, Math.min(this.actionable.length - 1, current < 0 ? 0 : current + delta));
    this.setFocus(this.actionable[next] ?? null, true);
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
      case "V":
        if (this.focusedId) this.act(this.focusedId, "validated");
        return true;
      case "r":
      case "R":
        if (this.focusedId) this.callbacks.refuse(this.focusedId);
        return true;
      default:
        return false;
    }
  }

  private act(id: string, decision: Decision): void {
    const index = this.actionable.indexOf(id);
    this.focusIndex = Math.max(0, index);
    // Move on at once: the next card in the queue takes the focus while the decision is in flight.
    const next = this.actionable[index + 1] ?? this.actionable[index - 1] ?? null;
    this.callbacks.decide(id, decision);
    this.setFocus(next, true);
  }

  /** After a refusal was confirmed from the dialog, focus the next card like a validation does. */
  advanceFrom(id: string): void {
    const index = this.actionable.indexOf(id);
    if (index < 0) return;
    this.focusIndex = index;
    const next = this.actionable[index + 1] ?? this.actionable[index - 1] ?? null;
    this.setFocus(next, true);
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
    if (button && !button.disabled) {
      if (button.dataset.action === "validate") this.act(id, "validated");
      else this.callbacks.refuse(id);
      return;
    }
    if (this.actionable.includes(id)) this.setFocus(id, true);
  }
}
