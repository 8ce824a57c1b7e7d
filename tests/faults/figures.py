"""The figures a fault test prints (run with ``pytest -s``), one table per test, so that a run
can be pasted into docs/reliability.md."""

from __future__ import annotations

from collections.abc import Mapping

from .load import SubmitLoad

__all__ = ["report"]


def report(title: str, load: SubmitLoad, recovery: Mapping[str, float | int | str | None]) -> str:
    """The load's counts per kind of worker and the recovery figures, as Markdown; printed."""
    lines = [
        f"\n### {title}",
        "",
        "| worker road | submissions | attempts | acked | acked after a retry "
        "| of which replays (HTTP 200) | `unavailable` answers | connects refused "
        "| no answer (dropped) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in load.tallies.values():
        if t.begun:
            lines.append(
                f"| {t.kind} | {t.begun} | {t.attempts} | {t.acked} | {t.acked_after_retry} "
                f"| {t.replays if t.kind == 'http' else '-'} | {t.unavailable} | {t.refused} "
                f"| {t.dropped} |"
            )
    lines.append("")
    for name, value in recovery.items():
        shown = f"{value:.2f} s" if isinstance(value, float) else str(value)
        lines.append(f"- {name}: {shown}")
    text = "\n".join(lines)
    print(text)
    return text
