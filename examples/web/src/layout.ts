// Chooses how the pending cards tile the grid area: no scrolling, ever.
//
// Each mode describes a card in `em` units of its font size. For n cards we
// try every column count c (rows r = ceil(n / c)), size the cells to fill the
// area, and derive the largest font the cell allows; the best layout is the one
// with the largest font (ties: the largest card, then the fewest empty cells).
// When not even the smallest legible font fits every card, the compact mode
// takes over, and past that the compact mode shows as many tiles as fit at its
// minimum (the oldest first) plus one tile that says how many more wait.

export type ModeName = "card" | "compact";

export interface Mode {
  name: ModeName;
  /** Legible minimum and comfortable maximum font size, px. */
  minFont: number;
  maxFont: number;
  /** Cell size needed per px of font (em), and the largest useful cell (em). */
  widthEm: number;
  heightEm: number;
  maxWidthEm: number;
  maxHeightEm: number;
  gap: number;
}

export const CARD: Mode = {
  name: "card",
  minFont: 12,
  maxFont: 17,
  widthEm: 11.5,
  heightEm: 8.4,
  maxWidthEm: 30,
  maxHeightEm: 12.5,
  gap: 10,
};

export const COMPACT: Mode = {
  name: "compact",
  minFont: 11,
  maxFont: 14,
  widthEm: 19,
  heightEm: 2.6,
  maxWidthEm: 40,
  maxHeightEm: 3.2,
  gap: 6,
};

/**
 * The compact mode on touch screens: a tile tall enough for 32 px buttons (36 px at the
 * minimum font), so a finger hits Validate or Refuse, never its neighbour's.
 */
export const COMPACT_TOUCH: Mode = { ...COMPACT, heightEm: 3.3, maxHeightEm: 3.6 };

/** Card width (em) from which the buttons show their labels next to their icons. */
const LABEL_EM = 15.5;

export interface Layout {
  mode: ModeName;
  cols: number;
  rows: number;
  cardWidth: number;
  cardHeight: number;
  font: number;
  gap: number;
  /** Cards placed (the first `shown` in queue order). */
  shown: number;
  /** Cards waiting beyond what fits; when > 0 the last cell is the "more" tile. */
  hidden: number;
  offsetX: number;
  offsetY: number;
  /** Content lines a card can show (card mode). */
  lines: number;
  /** Whether buttons have room for their text labels. */
  labels: boolean;
  /** Narrow cards show the kind chip abbreviated. */
  narrow: boolean;
}

interface Candidate {
  cols: number;
  rows: number;
  w: number;
  h: number;
  font: number;
  area: number;
  empty: number;
}

function fit(mode: Mode, cols: number, rows: number, width: number, height: number): Candidate | null {
  const w = Math.floor((width - (cols - 1) * mode.gap) / cols);
  const h = Math.floor((height - (rows - 1) * mode.gap) / rows);
  if (w <= 0 || h <= 0) return null;
  const raw = Math.min(w / mode.widthEm, h / mode.heightEm);
  const font = Math.min(mode.maxFont, Math.floor(raw * 4) / 4); // quarter-px steps: stable text
  if (font < mode.minFont) return null;
  const cw = Math.min(w, Math.floor(mode.maxWidthEm * font));
  const ch = Math.min(h, Math.floor(mode.maxHeightEm * font));
  return { cols, rows, w: cw, h: ch, font, area: cw * ch, empty: 0 };
}

function better(a: Candidate, b: Candidate | null): boolean {
  if (!b) return true;
  if (a.font !== b.font) return a.font > b.font;
  if (a.area !== b.area) return a.area > b.area;
  return a.empty < b.empty;
}

function best(mode: Mode, n: number, width: number, height: number): Candidate | null {
  let chosen: Candidate | null = null;
  let lastRows = -1;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    if (rows === lastRows) continue; // same rows, more columns: only narrower
    lastRows = rows;
    const candidate = fit(mode, cols, rows, width, height);
    if (!candidate) continue;
    candidate.empty = cols * rows - n;
    if (better(candidate, chosen)) chosen = candidate;
  }
  return chosen;
}

function finish(mode: Mode, c: Candidate, n: number, shown: number, width: number, height: number): Layout {
  const usedRows = Math.max(1, Math.ceil(Math.min(n, c.cols * c.rows) / c.cols));
  const usedCols = Math.min(c.cols, Math.max(1, n));
  const blockW = usedCols * c.w + (usedCols - 1) * mode.gap;
  const blockH = usedRows * c.h + (usedRows - 1) * mode.gap;
  let font = c.font;
  // Labelled buttons read better than a slightly larger font: trade up to 2px for them.
  const labelFont = Math.floor((c.w / LABEL_EM) * 4) / 4;
  if (mode.name === "card" && labelFont < font && labelFont >= Math.max(mode.minFont, 14)) font = labelFont;
  // Card mode: 0.7em padding x2, head 1.07em, two 0.45em gaps, actions 2em, 2px of border;
  // the rest holds whole lines of 1.35em (the text box is exactly that tall).
  const lines = mode.name === "card" ? Math.max(1, Math.floor((c.h - 2 - 5.4 * font) / (1.35 * font))) : 1;
  const labels = mode.name === "card" ? c.w / font >= LABEL_EM : c.w / font >= 24;
  return {
    mode: mode.name,
    cols: c.cols,
    rows: c.rows,
    cardWidth: c.w,
    cardHeight: c.h,
    font,
    gap: mode.gap,
    shown,
    hidden: n - shown,
    offsetX: Math.max(0, Math.floor((width - blockW) / 2)),
    offsetY: Math.max(0, Math.floor((height - blockH) / 2)),
    lines,
    labels,
    narrow: c.w / font < 17,
  };
}

/**
 * The layout of n cards in a width × height area.
 *
 * Args:
 *   n: how many cards there are.
 *   width, height: the grid area, px.
 *   touch: a touch screen: compact tiles leave room for 32 px buttons.
 */
export function computeLayout(n: number, width: number, height: number, touch = false): Layout {
  if (n === 0 || width <= 0 || height <= 0) {
    return {
      mode: "card", cols: 0, rows: 0, cardWidth: 0, cardHeight: 0, font: CARD.maxFont, gap: CARD.gap,
      shown: 0, hidden: n, offsetX: 0, offsetY: 0, lines: 0, labels: true, narrow: false,
    };
  }
  const card = best(CARD, n, width, height);
  if (card) return finish(CARD, card, n, n, width, height);
  const tiles = touch ? COMPACT_TOUCH : COMPACT;
  const compact = best(tiles, n, width, height);
  if (compact) return finish(tiles, compact, n, n, width, height);
  // Overflow: as many compact tiles as fit at the minimum font, the last cell says how many wait.
  const m = tiles;
  const minW = Math.ceil(m.widthEm * m.minFont);
  const minH = Math.ceil(m.heightEm * m.minFont);
  const cols = Math.max(1, Math.floor((width + m.gap) / (minW + m.gap)));
  const rows = Math.max(1, Math.floor((height + m.gap) / (minH + m.gap)));
  const c = fit(m, cols, rows, width, height) ?? {
    cols, rows, w: minW, h: minH, font: m.minFont, area: minW * minH, empty: 0,
  };
  const shown = Math.max(0, cols * rows - 1);
  return { ...finish(m, c, cols * rows, shown, width, height), hidden: n - shown };
}
