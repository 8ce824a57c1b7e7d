"""Decision-latency buckets and percentiles, against the standard library's."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskstream_core._stats import decision_bucket, percentile

from ..conformance.factories import T0


def linear(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between ranks (NumPy's default method)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def histogram(millis: list[int]) -> list[tuple[int, int]]:
    return list(Counter(millis).items())


def bucket_of(millis: int) -> int:
    return decision_bucket(T0, T0 + timedelta(milliseconds=millis))


@pytest.mark.parametrize(
    ("millis", "bucket"),
    [
        (0, 0),
        (1, 1),
        (999, 999),
        (1_000, 1_000),
        (1_234, 1_230),
        (1_236, 1_240),
        (61_234, 61_200),
        (3_600_000, 3_600_000),
        (987_654_321, 988_000_000),
    ],
)
def test_decision_bucket_is_exact_below_a_second_then_three_digits(
    millis: int, bucket: int
) -> None:
    """Durations are kept to the millisecond below 1 s, to three significant digits above."""
    assert bucket_of(millis) == bucket


def test_decision_bucket_rounds_sub_millisecond_and_clamps_negative() -> None:
    """Sub-millisecond parts round, and a decision 'before' its task counts as 0."""
    assert decision_bucket(T0, T0 + timedelta(microseconds=400)) == 0
    assert decision_bucket(T0, T0 + timedelta(microseconds=1_600)) == 2
    assert decision_bucket(T0, T0 - timedelta(seconds=5)) == 0


@given(st.integers(min_value=0, max_value=10**10))
def test_decision_bucket_is_within_half_a_percent(millis: int) -> None:
    """Every bucket is within 0.5 % of the duration it stands for."""
    assert abs(bucket_of(millis) - millis) <= 0.005 * millis


def test_percentile_of_nothing_is_none() -> None:
    """An empty histogram, or one of zero counts, has no percentiles."""
    assert percentile([], 0.5) is None
    assert percentile([(100, 0)], 0.95) is None


def test_percentile_matches_statistics_median_and_quantiles() -> None:
    """p50 equals statistics.median and p95 the inclusive quantile, in seconds."""
    millis = [120, 450, 999, 80, 300, 300, 7, 640]
    seconds = [m / 1000 for m in millis]
    assert percentile(histogram(millis), 0.5) == pytest.approx(statistics.median(seconds))
    p95 = statistics.quantiles(seconds, n=100, method="inclusive")[94]
    assert percentile(histogram(millis), 0.95) == pytest.approx(p95)


def test_percentile_of_one_decision_is_that_decision() -> None:
    """With a single value every percentile is that value."""
    assert percentile([(250, 1)], 0.5) == 0.25
    assert percentile([(250, 1)], 0.95) == 0.25


def test_percentile_ignores_bucket_order() -> None:
    """Buckets may come in any order."""
    buckets = [(900, 2), (100, 1), (500, 3)]
    assert percentile(buckets, 0.5) == percentile(sorted(buckets), 0.5) == 0.5


@settings(max_examples=200)
@given(
    st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=60),
    st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_percentile_equals_linear_interpolation_of_the_durations(
    millis: list[int], q: float
) -> None:
    """For exact (sub-second) buckets, percentile is NumPy's linear quantile of the durations."""
    expected = linear([m / 1000 for m in millis], q)
    assert percentile(histogram(millis), q) == pytest.approx(expected, abs=1e-12)
