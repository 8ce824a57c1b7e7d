"""Decision-latency percentiles from a compact histogram kept with each decision.

A store cannot sort 100,000 durations on every stats request, so it keeps,
per scan, a count per *bucket*: the duration in milliseconds rounded to three
significant digits (exact below one second, within 0.5 % above). Percentiles
are then read off at most a few thousand buckets, whatever the task count,
with the same linear interpolation between ranks as ``statistics.median`` and
NumPy's default ``percentile``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

__all__ = ["decision_bucket", "percentile"]


def decision_bucket(created_at: datetime, decided_at: datetime) -> int:
    """The histogram bucket (milliseconds, three significant digits) of one decision."""
    millis = max(0, round((decided_at - created_at).total_seconds() * 1000))
    if millis < 1000:
        return millis
    step = 10 ** (int(math.log10(millis)) - 2)
    return int(round(millis / step) * step)


def percentile(buckets: Iterable[tuple[int, int]], q: float) -> float | None:
    """The ``q``-quantile (0–1) in seconds of a histogram of ``(bucket_ms, count)``.

    None for an empty histogram. Buckets may come in any order.
    """
    ordered = sorted((b, c) for b, c in buckets if c > 0)
    total = sum(c for _, c in ordered)
    if total == 0:
        return None
    rank = q * (total - 1)
    low_rank = math.floor(rank)
    fraction = rank - low_rank
    low = _value_at(ordered, low_rank)
    high = _value_at(ordered, min(low_rank + 1, total - 1)) if fraction else low
    return (low + (high - low) * fraction) / 1000


def _value_at(ordered: list[tuple[int, int]], rank: int) -> int:
    seen = 0
    for bucket, count in ordered:
        seen += count
        if rank < seen:
            return bucket
    return ordered[-1][0]
