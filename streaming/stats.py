"""Percentiles and millisecond formatting, the one implementation of each used by the
latency reports, replays, load and voice benchmarks, the timeline picture and the admin.

Plain Python, Django-free. Two percentile methods, each where it is stated:

- ``linear`` (the benchmarks' and replays'): interpolated between the two closest ranks,
  numpy's default; for 1..4, p50 = 2.5.
- ``nearest-rank`` (the latency reports'): the value at 1-based rank ``ceil(p * n / 100)``,
  computed in integers (no float rounding), so it is always a measured value; for 1..100,
  p50 = 50, p90 = 90 and p99 = 99.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

LINEAR = "linear"
NEAREST_RANK = "nearest-rank"
METHODS = (LINEAR, NEAREST_RANK)


def percentile(values: Iterable[float], p: float, *, method: str = LINEAR) -> float | None:
    """The ``p``-th percentile (0-100) of ``values`` by ``method``; None when there are none.

    ``nearest-rank`` needs 0 < p <= 100 (there is no rank 0). Sorted input costs no more
    than one pass.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not (0 < p <= 100 if method == NEAREST_RANK else 0 <= p <= 100):
        raise ValueError(f"percentile out of range for {method}: {p}")
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    if method == NEAREST_RANK:
        rank = max(1, int(-(-p * n // 100)))  # ceil(p * n / 100), exact for whole p
        return ordered[rank - 1]
    position = (n - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, n - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def format_ms(value: float | None, *, decimals: int = 1, grouping: bool = False,
              sign: bool = False, unit: str = "", missing: str = "-") -> str:
    """A measured value (milliseconds, mostly) for a table cell or a label.

    A float is rounded to ``decimals`` decimals (``-0.0`` shows as ``0.0``); an int is a
    count and shows as it is. ``grouping`` separates thousands with commas, ``sign`` puts
    ``+`` before a positive value, ``unit`` follows the number; None shows ``missing``.
    """
    if value is None:
        return missing
    spec = ("+" if sign else "") + ("," if grouping else "")
    if isinstance(value, int):
        return f"{value:{spec}d}{unit}"
    return f"{round(value, decimals) or 0.0:{spec}.{decimals}f}{unit}"
