"""Figures out of raw measurements: percentiles, series, the JSON file and the plots."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .load import CREATED, UPDATED, LoadResult


def percentiles(values: Iterable[float]) -> dict[str, float | int | None]:
    """count, min, p50, p95, p99 and max of a latency sample, in its own unit (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "min": None, "p50": None, "p95": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "count": len(ordered),
        "min": round(ordered[0], 3),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1], 3),
    }


def acked_per_second(result: LoadResult, start: float) -> list[int]:
    """Acks by the second they arrived in; the last bin holds acks of sends made before the end."""
    counts: dict[int, int] = {}
    for op in result.acked:
        second = int(op.acked - start)
        counts[second] = counts.get(second, 0) + 1
    last = max([int(result.duration + 0.999) - 1, *counts])
    return [counts.get(s, 0) for s in range(last + 1)]


def load_summary(result: LoadResult) -> dict[str, Any]:
    """The figures every load scenario reports, with its completeness check and CPU."""
    acked = result.acked
    submits = [op for op in acked if op.kind == CREATED]
    decisions = [op for op in acked if op.kind == UPDATED]
    start = min((op.sent for op in result.ops), default=0.0)
    w = result.watch
    return {
        "seconds": result.duration,
        "acked_submits": len(submits),
        "acked_decisions": len(decisions),
        "refused": len(result.refused),
        "refusal_codes": sorted({op.error for op in result.refused}),
        "acked_submits_per_s": round(len(submits) / result.duration, 1),
        "acked_decisions_per_s": round(len(decisions) / result.duration, 1),
        "deliveries": w.received,
        "deliveries_per_s": round(w.received / result.duration, 1),
        "ack_ms": {
            "submit": percentiles(1000 * (op.acked - op.sent) for op in submits),
            "decide": percentiles(1000 * (op.acked - op.sent) for op in decisions),
        },
        "delivery_ms": {label: percentiles(v) for label, v in sorted(w.latency_ms.items())},
        "per_watcher_p50_ms": percentiles(w.per_watcher_p50_ms),
        "completeness": {
            "expected": w.expected,
            "received": w.received,
            "missing": w.missing,
            "duplicates": w.duplicates,
            "out_of_order": w.out_of_order,
            "client_failures": result.failures[:20],
        },
        "series": {
            "acked_per_s": acked_per_second(result, start),
            "deliveries_per_s": w.per_second,
        },
        "cpu_seconds": {
            "server": round(result.cpu_server, 2),
            "clients": round(result.cpu_clients, 2),
            "other_processes": round(result.cpu_other, 2),
            "client_processes": result.client_processes,
        },
        # What each change costs the server, whatever share of the CPU it was given.
        "server_cpu_ms": {
            "per_acked_change": _per(result.cpu_server, len(acked)),
            "per_delivery": _per(result.cpu_server, w.received),
        },
        "status": "FAILED" if result.failed else "ok",
    }


def _per(seconds: float, count: int) -> float | None:
    return round(1000 * seconds / count, 3) if count else None


def write_json(out: Path, name: str, body: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def _pyplot() -> Any:
    # Imported when plotting only, and the file backend chosen before pyplot loads.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import matplotlib.ticker  # noqa: PLC0415

    return plt


def plot_latency(path: Path, title: str, samples: dict[str, Sequence[float]]) -> None:
    """A histogram and a CDF of latency samples (ms), one line per sample."""
    plt = _pyplot()
    figure, (hist, cdf) = plt.subplots(1, 2, figsize=(10, 3.6))
    ordered = {label: sorted(values) for label, values in samples.items() if values}
    # Bins shared by every sample, up to the largest p99.5, so that the shapes compare.
    top = max((v[min(len(v) - 1, int(0.995 * len(v)))] for v in ordered.values()), default=1.0)
    edges = [top * n / 60 for n in range(61)]
    for label, values in ordered.items():
        hist.hist([v for v in values if v <= top], bins=edges, alpha=0.6, density=True, label=label)
        cdf.plot(values, [(n + 1) / len(values) for n in range(len(values))], label=label)
    hist.set_xlabel("ms (up to p99.5)")
    hist.set_ylabel("density")
    hist.legend(fontsize=8)
    cdf.set_xscale("log")
    ticker = sys.modules["matplotlib.ticker"]
    # Ticks at 1, 2, 5 of each decade: a run's latencies often span less than one decade.
    cdf.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    cdf.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    cdf.xaxis.set_minor_formatter(ticker.NullFormatter())
    cdf.set_xlabel("ms (log)")
    cdf.set_ylabel("fraction of events")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_series(path: Path, title: str, series: dict[str, Sequence[float]], seconds: float) -> None:
    """Per-second series (acked submits/s, deliveries/s) over the run's whole seconds.

    The JSON keeps the seconds after the end too (acks of submits sent before
    it); plotted, that partial second would look like a collapse.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 3.4))
    for label, values in series.items():
        shown = values[: int(seconds)]
        axes.plot(range(len(shown)), shown, marker=".", label=label)
    axes.set_xlabel("second of the run")
    axes.set_ylabel("per second")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
