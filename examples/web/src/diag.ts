// Performance marks the browser tests read (performance.getEntriesByName). A page
// that stays open all day clears them now and then so they never pile up.
const NAMES = ["live:join-ack", "live:event", "grid:frame", "scan:snapshot-applied"];
const MEASURES = ["grid:render"];
let written = 0;

function prune(): void {
  if (++written < 5000) return;
  written = 0;
  for (const name of NAMES) performance.clearMarks(name);
  for (const name of MEASURES) performance.clearMeasures(name);
}

export function mark(name: string, detail?: unknown): void {
  try {
    performance.mark(name, { detail });
    prune();
  } catch {
    /* diagnostics only */
  }
}

export function measure(name: string, start: number, end: number, detail?: unknown): void {
  try {
    performance.measure(name, { start, end, detail });
    prune();
  } catch {
    /* diagnostics only */
  }
}
