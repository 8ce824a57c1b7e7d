// Tiny DOM helpers. Text always goes in through textContent or text nodes:
// nothing a user typed is ever parsed as HTML.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  data?: Record<string, string>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>;
}

// Bidi embedding and override controls (LRE, RLE, PDF, LRO, RLO): an override in a task's
// text shows its letters in another order than they were typed ("invoice\u202Etxt.exe"
// reads as "invoiceexe.txt"), so the page shows what was typed without them. Marks
// (LRM, RLM) and isolates stay: they order runs of text, never the letters of a word.
const BIDI_OVERRIDES = /[\u202A-\u202E]/g;

/** ``text`` as the page shows it: without bidi embedding and override controls. */
export function shown(text: string): string {
  return text.replace(BIDI_OVERRIDES, "");
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.class) el.className = props.class;
    if (props.text !== undefined) el.textContent = shown(props.text);
    if (props.title !== undefined) el.title = shown(props.title);
    if (props.attrs) for (const [k, v] of Object.entries(props.attrs)) el.setAttribute(k, v);
    if (props.data) for (const [k, v] of Object.entries(props.data)) el.dataset[k] = v;
    if (props.on) {
      for (const [name, handler] of Object.entries(props.on)) {
        el.addEventListener(name, handler as EventListener);
      }
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(shown(String(child))));
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function setText(el: Element, text: string): void {
  const plain = shown(text);
  if (el.textContent !== plain) el.textContent = plain;
}

const SVG = "http://www.w3.org/2000/svg";

const PATHS: Record<string, string[]> = {
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  cross: ["M6.5 6.5l11 11", "M17.5 6.5l-11 11"],
  checkCircle: ["M12 2.8a9.2 9.2 0 1 0 0 18.4a9.2 9.2 0 1 0 0-18.4z", "M7.8 12.3l2.9 2.9l5.6-5.8"],
  crossSquare: ["M4.5 4.5h15v15h-15z", "M9 9l6 6", "M15 9l-6 6"],
  pendingRing: ["M12 3.5a8.5 8.5 0 1 0 0 17a8.5 8.5 0 1 0 0-17z", "M12 7.5v4.8l3 1.8"],
  copy: ["M9 9h10v10H9z", "M5 15V5h10"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  plus: ["M12 5v14", "M5 12h14"],
  lock: ["M6 11h12v9H6z", "M8.5 11V8a3.5 3.5 0 0 1 7 0v3"],
  download: ["M12 4v11", "M7 10.5l5 5l5-5", "M5 20h14"],
  out: ["M10 5H5v14h5", "M14 8l4 4l-4 4", "M18 12H9"],
  send: ["M4 12l16-8l-6 16l-2.5-6.5z"],
  bolt: ["M13 2.5L5 13.5h6l-1 8l8-11h-6z"],
  eye: ["M2.5 12s3.5-6.5 9.5-6.5s9.5 6.5 9.5 6.5s-3.5 6.5-9.5 6.5S2.5 12 2.5 12z", "M12 9.2a2.8 2.8 0 1 0 0 5.6a2.8 2.8 0 1 0 0-5.6z"],
  keyboard: ["M3 7h18v10H3z", "M7 14h10", "M6.5 10.5h.01", "M10 10.5h.01", "M13.5 10.5h.01", "M17 10.5h.01"],
};

export type IconName = keyof typeof PATHS;

export function icon(name: IconName, cls = "icon"): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of PATHS[name] ?? []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}

/** A short relative age: "now", "42s", "5m", "3h", "2d". */
export function age(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 5) return "now";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

const CLOCK = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A full local date and time, for tooltips (one shared formatter: creating one is slow). */
/** "just now", "5m ago", "3h ago". */
export function ago(iso: string, now = Date.now()): string {
  const a = age(iso, now);
  return a === "now" ? "just now" : `${a} ago`;
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : CLOCK.format(d);
}

/** A key that makes a retried submission idempotent (crypto.randomUUID needs a secure context). */
export function randomKey(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Observation / suggestion prefix convention used by the worker page. */
export const KINDS = ["Observation", "Suggestion"] as const;
export type Kind = (typeof KINDS)[number];

export function splitKind(content: string): { kind: Kind | null; text: string } {
  for (const kind of KINDS) {
    const prefix = `${kind}: `;
    if (content.startsWith(prefix)) return { kind, text: content.slice(prefix.length) };
  }
  return { kind: null, text: content };
}

export function statusBadge(status: "pending" | "validated" | "refused", extra = ""): HTMLElement {
  const label = status === "pending" ? "Pending" : status === "validated" ? "Validated" : "Refused";
  const shape = status === "pending" ? "pendingRing" : status === "validated" ? "checkCircle" : "crossSquare";
  return h("span", { class: `badge badge-${status} ${extra}`.trim(), data: { status } }, icon(shape), label);
}

/** A text's length as the server counts it (CONTRACT.md §2): in code points, so an emoji is one. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** "That is 1 character over the limit of 4,987.": why a text over `limit` is refused. */
export function overLimit(count: number, limit: number): string {
  const over = count - limit;
  return `That is ${over.toLocaleString("en-US")} character${over === 1 ? "" : "s"} over the limit of ${limit.toLocaleString("en-US")}.`;
}
