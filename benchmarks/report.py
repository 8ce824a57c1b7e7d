"""The figures tables of docs/benchmarks.md, written from the JSON results.

Everything between the two markers is rewritten on each run from whatever
result files the output folder holds, so a re-run on a quiet machine updates
the page without anyone copying numbers by hand; the prose around the
markers is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN = "<!-- benchmarks:results:begin (written by python -m benchmarks; do not edit) -->"
END = "<!-- benchmarks:results:end -->"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _n(value: Any) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def _load(out: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in ("latency", "throughput", "fanout", "scale", "multiprocess", "clientcost", "peers"):
        path = out / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def _comparison(r: dict[str, dict[str, Any]]) -> list[str]:
    lat = r.get("latency", {}).get("submit_phase", {}).get("delivery_ms", {})
    p50 = lat.get("submit_to_admin", {}).get("p50")
    rate = r.get("throughput", {}).get("acked_submits_per_s")
    fan = r.get("fanout", {}).get("deliveries_per_s")
    lines = [
        "| system | submit→admin p50 | acked submits/s (20 workers, 10 admins) "
        "| fan-out deliveries/s (200 admins) |",
        "|---|---|---|---|",
        "| Flask-SocketIO (gevent) + pymongo on a MongoDB-wire server (quoted) "
        "| 3.6 ms | 290 | 3,200 |",
        f"| **TaskStream, durable SQLite (this run)** | {_ms(p50)} | {_n(rate)} | {_n(fan)} |",
    ]
    peers = r.get("peers")
    if peers is None:
        return lines
    f = peers["figures"]
    rounds = peers["setup"]["rounds"]
    lines += [
        "",
        f"**Side by side with Node** (`peers`: {peers['setup']['peer']}; {rounds} alternating "
        "rounds of each scenario, medians; TaskStream durable on SQLite, Node in memory)",
        "",
        "| measure | TaskStream | Node.js socket.io 4, in memory, no durability (this run) "
        "| TaskStream ÷ Node | target | server CPU per change, TaskStream / Node |",
        "|---|---|---|---|---|---|",
    ]
    for name, target in (("throughput", "≥ 0.5×"), ("fanout", "≥ 0.75×"), ("latency", "≤ 3×")):
        row = f[name]
        show = _ms if name == "latency" else _n
        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        cpu = row.get("server_cpu_ms_per_change") or {}
        ours, theirs = cpu.get("taskstream"), cpu.get("node")
        cost = f"{_ms(ours)} / {_ms(theirs)}" if ours is not None and theirs is not None else "–"
        if ours is not None and theirs:
            cost += f" ({ours / theirs:.2f}×)"
        lines.append(
            f"| {row['measure']} | {show(row['taskstream'])} | {show(row['node'])} "
            f"| {ratio} | {target} | {cost} |"
        )
    return lines


def _targets(r: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| target | measured | |", "|---|---|---|"]
    lat = r.get("latency", {})
    sub = lat.get("submit_phase", {}).get("delivery_ms", {}).get("submit_to_admin", {})
    dec = lat.get("decide_phase", {}).get("delivery_ms", {}).get("decide_to_worker", {})

    def row(label: str, value: Any, shown: str, limit: float, below: bool = True) -> None:
        ok = None if value is None else (value <= limit if below else value >= limit)
        rows.append(f"| {label} | {shown} | {_met(ok)} |")

    row("submit→admin p50 ≤ 0.5 ms (low load)", sub.get("p50"), _ms(sub.get("p50")), 0.5)
    row("submit→admin p99 ≤ 2 ms (low load)", sub.get("p99"), _ms(sub.get("p99")), 2)
    row("decide→worker p50 ≤ 0.5 ms (low load)", dec.get("p50"), _ms(dec.get("p50")), 0.5)
    row("decide→worker p99 ≤ 2 ms (low load)", dec.get("p99"), _ms(dec.get("p99")), 2)
    rate = r.get("throughput", {}).get("acked_submits_per_s")
    row("≥ 3,000 acked durable submits/s, 10 admins watching", rate, _n(rate), 3000, False)
    fan = r.get("fanout", {}).get("deliveries_per_s")
    row("≥ 30,000 deliveries/s to 200 admins", fan, _n(fan), 30000, False)
    scale = r.get("scale", {}).get("over_the_wire", {})
    for label, key, limit in (
        ("100k-task scan: stats < 5 ms (HTTP p50)", "http_stats_ms", 5),
        ("100k-task scan: a listing page < 20 ms (HTTP p50)", "http_page_ms", 20),
        ("100k-task scan: admin's join snapshot < 50 ms (Socket.IO p50)", "socket_join_ms", 50),
    ):
        value = scale.get(key, {}).get("p50")
        row(label, value, _ms(value), limit)
    modes = r.get("multiprocess", {}).get("modes", {})
    rounds = r.get("multiprocess", {}).get("setup", {}).get("rounds", 1)
    targets: tuple[tuple[str, str, str, float], ...] = (
        ("two", "cpu_per_acked_change", "2 processes: server CPU per change ≤ 1.3× one's", 1.3),
        ("four", "cpu_per_acked_change", "4 processes: server CPU per change ≤ 1.5× one's", 1.5),
        ("two", "delivery_p99", "2 processes: delivery p99 ≤ 2× one's", 2.0),
    )
    for n, key, label, bound in targets:
        value = modes.get(f"{n} processes + redis", {}).get("vs_one_process", {}).get(key)
        shown = "–" if value is None else f"{value:.2f}× (median of {rounds} rounds)"
        row(label, value, shown, bound)
    memory = r.get("scale", {}).get("memory", {})
    per = memory.get("kib_per_socket")
    shown = "–" if per is None else f"{per:.1f} KiB per idle socket ({memory['idle_sockets']:,})"
    rows.append(f"| memory per idle connected socket: measured | {shown} | |")
    return rows


def _load_table(title: str, runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"**{title}**",
        "",
        "| run | acked/s | deliveries/s | ack p50 / p99 | delivery p50 / p95 / p99 / max "
        "| missing / dup / disorder | CPU s: server / clients / others "
        "| server CPU per change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in runs.items():
        ack = s["ack_ms"]["submit"] if s["acked_submits"] else s["ack_ms"]["decide"]
        rate = s["acked_submits_per_s"] or s["acked_decisions_per_s"]
        c, cpu = s["completeness"], s["cpu_seconds"]
        for label, d in s["delivery_ms"].items():
            lines.append(
                f"| {name}: {label} ({s['status']}) | {_n(rate)} | {_n(s['deliveries_per_s'])} "
                f"| {_ms(ack['p50'])} / {_ms(ack['p99'])} "
                f"| {_ms(d['p50'])} / {_ms(d['p95'])} / {_ms(d['p99'])} / {_ms(d['max'])} "
                f"| {c['missing']} / {c['duplicates']} / {c['out_of_order']} "
                f"| {cpu['server']} / {cpu['clients']} / {cpu['other_processes']} "
                f"| {_ms(s.get('server_cpu_ms', {}).get('per_acked_change'))} |"
            )
    return [*lines, ""]


def _scale(s: dict[str, Any]) -> list[str]:
    core, wire, memory = s["in_process"], s["over_the_wire"], s["memory"]
    lines = [
        f"**scale** — {s['setup']['tasks']:,} tasks, {s['setup']['pending']:,} pending "
        f"(seeded in {s['seed_seconds']} s); {s['setup']['calls']} calls each, "
        f"join snapshot {core['join_snapshot_tasks']:,} tasks ({s['status']})",
        "",
        "| read | in-process (TaskStream) p50 / p95 | over the wire p50 / p95 |",
        "|---|---|---|",
    ]
    for label, ours, theirs in (
        ("stats", "stats_ms", "http_stats_ms"),
        ("listing, first page of 100", "page_ms", "http_page_ms"),
        ("listing, pending filter, 100", "pending_page_ms", "http_pending_page_ms"),
        ("listing, a page in the middle", "middle_page_ms", "http_middle_page_ms"),
        ("admin's join snapshot (Socket.IO)", "join_ms", "socket_join_ms"),
    ):
        a, b = core[ours], wire[theirs]
        lines.append(
            f"| {label} | {_ms(a['p50'])} / {_ms(a['p95'])} | {_ms(b['p50'])} / {_ms(b['p95'])} |"
        )
    lines += [
        "",
        f"Memory: {memory['idle_sockets']:,} idle authenticated sockets took the server from "
        f"{memory['rss_before_mib']} MiB to {memory['rss_after_mib']} MiB RSS: "
        f"**{memory['kib_per_socket']} KiB per socket**.",
        "",
    ]
    return lines


def _clientcost(s: dict[str, Any]) -> list[str]:
    lines = [
        f"**clientcost** — the load generator's client, {s['setup']['submits_per_s']:g} "
        f"submits/s to {s['setup']['admins_watching']} admins",
        "",
        "| client | deliveries | client CPU s | client CPU ms per 1,000 deliveries |",
        "|---|---|---|---|",
    ]
    for name, m in s["modes"].items():
        lines.append(
            f"| {name} | {_n(m['deliveries'])} | {m['client_cpu_seconds']} "
            f"| {m['client_cpu_ms_per_1000_deliveries']} |"
        )
    return [*lines, ""]


def _plots(r: dict[str, dict[str, Any]], prefix: str) -> list[str]:
    lines = []
    for name, result in r.items():
        for plot in result.get("plots", []):
            lines += [f"![{name}: {plot}]({prefix}{plot})", ""]
    return lines


def _summaries(r: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every load run's summary, wherever its scenario keeps it."""
    found = []
    for result in r.values():
        for key in ("submit_phase", "decide_phase"):
            if key in result:
                found.append(result[key])
        if "cpu_seconds" in result:
            found.append(result)
        if result.get("scenario") == "multiprocess":
            found += result["modes"].values()
    return found


def _conditions(r: dict[str, dict[str, Any]], cores: int) -> list[str]:
    """How quiet the machine was, and which store, said next to the figures."""
    runs = _summaries(r)
    capacity = sum(s["seconds"] for s in runs) * cores
    others = sum(s["cpu_seconds"]["other_processes"] for s in runs)
    lines = []
    if capacity:
        share = 100 * others / capacity
        quiet = "a quiet machine" if share < 5 else "**a busy machine**"
        lines.append(
            f"During the load runs, processes other than the server and the load generator "
            f"used {share:.0f}% of the machine's CPU ({others:.0f} of {capacity:.0f} "
            f"CPU-seconds): {quiet}."
            + (" These figures understate what the machine does when quiet." if share >= 5 else "")
        )
    stores = sorted({str(v.get("store")) for v in r.values() if v.get("store")})
    if stores:
        lines.append(f"Store: {'; '.join(stores)}.")
    return [" ".join(lines), ""] if lines else []


def render(out: Path, prefix: str = "") -> str:
    """The generated Markdown; ``prefix`` is the path from the page to the PNGs."""
    r = _load(out)
    runs = [v["machine"] for v in r.values() if "machine" in v]
    machine = max(runs, key=lambda m: str(m["date"])) if runs else None
    lines = [*_conditions(r, int(machine["cores"]) if machine else 1)]
    lines += ["### Against two other stacks", "", *_comparison(r), "", "### Targets", ""]
    lines += [*_targets(r), "", "### Every figure", ""]
    if "latency" in r:
        lat = r["latency"]
        lines += _load_table(
            f"latency — {lat['setup']['rate_per_s']:g}/s, {lat['setup']['admins_watching']} "
            "admins watching",
            {"submits": lat["submit_phase"], "decisions": lat["decide_phase"]},
        )
    if "throughput" in r:
        lines += _load_table(
            "throughput — 20 workers back to back", {"closed loop": r["throughput"]}
        )
    if "fanout" in r:
        f = r["fanout"]
        spread = f["per_watcher_p50_ms"]
        lines += _load_table(f"fanout — {f['setup']['admins_watching']} admins", {"fanout": f})
        lines += [
            f"Median delivery time per admin: from {_ms(spread['min'])} "
            f"to {_ms(spread['max'])} (median of medians {_ms(spread['p50'])}).",
            "",
        ]
    if "multiprocess" in r:
        lines += _load_table(
            "multiprocess — throughput, one process vs several (the last round)",
            r["multiprocess"]["modes"],
        )
    if "scale" in r:
        lines += _scale(r["scale"])
    if "clientcost" in r:
        lines += _clientcost(r["clientcost"])
    lines += ["### Plots", "", *_plots(r, prefix)]
    if machine:
        versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
        dates = sorted(v["machine"]["date"] for v in r.values() if "machine" in v)
        when = dates[0] if dates[0] == dates[-1] else f"{dates[0]} – {dates[-1]}"
        lines += [
            f"Taken {when} at commit `{machine['git_commit']}`: {machine['cpu']}, "
            f"{machine['cores']} cores, {machine['memory_gib']} GiB, Linux {machine['kernel']}, "
            f"Python {machine['python']}; {versions}.",
            "",
        ]
    return "\n".join(lines)


def update_page(page: Path, out: Path) -> None:
    """Rewrite the generated part of ``page`` (between the markers) from ``out``'s results."""
    prefix = "" if out.resolve() == page.parent.resolve() else f"{out.name}/"
    body = render(out, prefix)
    text = page.read_text() if page.is_file() else f"{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n\n{body}\n{END}{tail}")
