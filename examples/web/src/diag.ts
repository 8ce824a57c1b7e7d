// Performance marks the browser tests read (performance.getEntriesByName). A page
// that stays open all day clears them now and then so they never pile up.
const NAMES = ["live:join-ack", "live:event", "live:events-until", "grid:frame", "scan:snapshot-applied"];
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

let frameCount = 0;
let frameLast = 0;

/** A live event arrived: one "live:event" mark at the first of a frame, and one
 * "live:events-until" mark (at the last one's time, with the count) after it. */
export function noteEvent(): void {
  const now = performance.now();
  if (frameCount === 0) {
    mark("live:event");
    requestAnimationFrame(() => {
      try {
        performance.mark("live:events-until", { startTime: frameLast, detail: { count: frameCount } });
        prune();
      } catch {
        /* diagnostics only */
      }
      frameCount = 0;
    });
  }
  frameCount += 1;
  frameLast = now;
}

export function measure(name: string, start: number, end: number, detail?: unknown): void {
  try {
    performance.measure(name, { start, end, detail });
    prune();
  } catch {
    /* diagnostics only */
  }
}
