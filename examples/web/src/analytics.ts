// The analytics panel, live from `scan:stats`: counts, acceptance rate,
// submissions in the last minute (with a bar chart of the last 15 minutes, counted
// from the tasks this page holds), decision latency p50/p95 and the per-worker table.
import { clear, h, icon, setText } from "./dom";
import type { Stats } from "./types";

const SVG = "http://www.w3.org/2000/svg";
export const MINUTES = 15;

function pct(value: number | null): string {
  return value === null ? "—" : `${Math.round(value * 1000) / 10}%`;
}

function seconds(value: number | null): string {
  if (value === null) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 90) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 5400) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

export class AnalyticsPanel {
  readonly el: HTMLElement;
  private readonly counts: Record<"pending" | "validated" | "refused" | "total", HTMLElement>;
  private readonly rate: HTMLElement;
  private readonly rateBar: HTMLElement;
  private readonly perMinute: HTMLElement;
  private readonly peak: HTMLElement;
  private readonly bars: SVGRectElement[] = [];
  private readonly p50: HTMLElement;
  private readonly p95: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private latest: Stats | null = null;

  /** `history()` answers submissions per minute, oldest first, the last one the current minute. */
  constructor(private readonly history: () => number[]) {
    const count = (key: "pending" | "validated" | "refused" | "total", label: string, shape: Parameters<typeof icon>[0]) => {
      const value = h("strong", { class: "stat-value", text: "—" });
      this.counts[key] = value;
      return h("div", { class: `stat stat-${key}` }, h("span", { class: "stat-label" }, icon(shape), label), value);
    };
    this.counts = {} as typeof this.counts;
    this.rate = h("strong", { class: "rate-value", text: "—" });
    this.rateBar = h("span", { class: "rate-fill" });
    this.perMinute = h("strong", { class: "spm-value", text: "0" });
    this.peak = h("span", { class: "spm-peak", text: "" });
    const chart = svg("svg", { viewBox: `0 0 ${MINUTES * 10} 40`, preserveAspectRatio: "none", class: "spark", role: "img", "aria-label": `Submissions per minute over the last ${MINUTES} minutes` });
    for (let i = 0; i < MINUTES; i++) {
      const bar = svg("rect", { class: i === MINUTES - 1 ? "spark-bar spark-bar-now" : "spark-bar", x: String(i * 10 + 1.5), width: "7", y: "39", height: "1", rx: "1.5" });
      this.bars.push(bar);
      chart.append(bar);
    }
    this.p50 = h("strong", { class: "lat-value", text: "—" });
    this.p95 = h("strong", { class: "lat-value", text: "—" });
    this.body = h("tbody");
    this.el = h(
      "aside",
      { class: "panel pane analytics", attrs: { "aria-label": "Analytics" } },
      h("h2", { class: "panel-title", text: "Analytics" }),
      h("div", { class: "stats-grid" },
        count("pending", "Pending", "pendingRing"),
        count("validated", "Validated", "checkCircle"),
        count("refused", "Refused", "crossSquare"),
        count("total", "Total", "bolt"),
      ),
      h("div", { class: "metric" },
        h("div", { class: "metric-head" }, h("span", { class: "metric-label", text: "Acceptance rate" }), this.rate),
        h("div", { class: "rate-track", attrs: { "aria-hidden": "true" } }, this.rateBar),
      ),
      h("div", { class: "metric" },
        h("div", { class: "metric-head" },
          h("span", { class: "metric-label", text: "Submissions / min" }),
          this.perMinute),
        chart,
        h("div", { class: "spark-axis" },
          h("span", { text: `−${MINUTES} min`, attrs: { "aria-hidden": "true" } }), this.peak, h("span", { text: "now", attrs: { "aria-hidden": "true" } })),
      ),
      h("div", { class: "metric latency" },
        h("span", { class: "metric-label", text: "Decision latency" }),
        h("div", { class: "lat-row" },
          h("span", { class: "lat" }, h("span", { class: "lat-label", text: "p50" }), this.p50),
          h("span", { class: "lat" }, h("span", { class: "lat-label", text: "p95" }), this.p95)),
      ),
      h("div", { class: "workers" },
        h("table", { class: "worker-table" },
          h("caption", { text: "Workers" }),
          h("thead", null, h("tr", null,
            h("th", { text: "Worker", attrs: { scope: "col" } }),
            h("th", { text: "Sent", title: "Submitted", attrs: { scope: "col" } }),
            h("th", { text: "OK", title: "Validated", attrs: { scope: "col" } }),
            h("th", { text: "No", title: "Refused", attrs: { scope: "col" } }),
            h("th", { text: "Rate", title: "Acceptance rate", attrs: { scope: "col" } }))),
          this.body)),
    );
  }

  /** New figures from `scan:stats` (or GET /api/scans/{id}/stats). */
  update(stats: Stats): void {
    this.latest = stats;
    setText(this.counts.pending, stats.pending.toLocaleString("en-US"));
    setText(this.counts.validated, stats.validated.toLocaleString("en-US"));
    setText(this.counts.refused, stats.refused.toLocaleString("en-US"));
    setText(this.counts.total, stats.total.toLocaleString("en-US"));
    setText(this.rate, pct(stats.acceptance_rate));
    this.rateBar.style.width = `${Math.round((stats.acceptance_rate ?? 0) * 100)}%`;
    this.rateBar.parentElement!.dataset.decided = String(stats.acceptance_rate !== null);
    setText(this.p50, seconds(stats.decision_seconds_p50));
    setText(this.p95, seconds(stats.decision_seconds_p95));
    setText(this.perMinute, stats.submissions_last_minute.toLocaleString("en-US"));
    this.redraw();
    clear(this.body);
    const workers = [...stats.workers].sort((a, b) => b.submitted - a.submitted || a.username.localeCompare(b.username));
    for (const w of workers) {
      const decided = w.validated + w.refused;
      this.body.append(
        h("tr", null,
          h("th", { class: "w-name", text: w.username, title: w.username, attrs: { scope: "row" } }),
          h("td", { text: String(w.submitted) }),
          h("td", { text: String(w.validated) }),
          h("td", { text: String(w.refused) }),
          h("td", { text: decided ? pct(w.validated / decided) : "—" })),
      );
    }
    if (!workers.length) {
      this.body.append(h("tr", null, h("td", { class: "w-empty", text: "No submissions yet", attrs: { colspan: "5" } })));
    }
  }

  /** Redraw the per-minute bars (also on a timer: minutes pass without events). */
  redraw(): void {
    const counts = this.history();
    const peak = Math.max(1, ...counts);
    setText(this.peak, `peak ${Math.max(0, ...counts).toLocaleString("en-US")}/min`);
    counts.slice(-MINUTES).forEach((value, i) => {
      const height = value ? Math.max(2, (value / peak) * 38) : 1;
      const bar = this.bars[i];
      if (!bar) return;
      bar.setAttribute("y", (40 - height).toFixed(1));
      bar.setAttribute("height", height.toFixed(1));
    });
    if (!this.latest) setText(this.perMinute, String(counts[counts.length - 1] ?? 0));
  }
}
