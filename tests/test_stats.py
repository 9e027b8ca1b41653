"""The shared percentile and millisecond formatter, on known values."""
from __future__ import annotations

import pytest

from streaming.stats import LINEAR, NEAREST_RANK, format_ms, percentile

ONE_TO_100 = [float(v) for v in range(1, 101)]


def test_linear_percentiles_interpolate_between_the_closest_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([10, 20], 90) == pytest.approx(19)
    assert percentile([20, 10], 0) == 10 and percentile([20, 10], 100) == 20  # unsorted in
    assert percentile(range(101), 95, method=LINEAR) == 95


def test_nearest_rank_percentiles_are_measured_values_at_rank_ceil_p_n_over_100() -> None:
    def nearest(values: list[float], p: float) -> float | None:
        return percentile(values, p, method=NEAREST_RANK)

    assert [nearest(ONE_TO_100, p) for p in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert nearest([7.0], 50) == nearest([7.0], 99) == 7.0
    assert nearest([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # rank ceil(2.0) = 2
    assert nearest([3.0, 1.0, 2.0], 50) == 2.0  # rank ceil(1.5) = 2
    assert nearest([1.0, 2.0, 3.0], 1) == 1.0  # never rank 0


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([], 50, method=NEAREST_RANK) is None


@pytest.mark.parametrize(("p", "method"), [(0, NEAREST_RANK), (101, NEAREST_RANK),
                                           (-1, LINEAR), (100.5, LINEAR), (50, "median")])
def test_a_percentile_or_method_out_of_range_is_refused(p: float, method: str) -> None:
    with pytest.raises(ValueError):
        percentile(ONE_TO_100, p, method=method)


def test_format_ms_rounds_floats_keeps_counts_and_marks_missing_values() -> None:
    assert format_ms(2438.0952380952385) == "2438.1"
    assert format_ms(2438.0952380952385, decimals=0, grouping=True) == "2,438"
    assert format_ms(2438.0952380952385, grouping=True, unit=" ms") == "2,438.1 ms"
    assert format_ms(50.0) == "50.0"
    assert format_ms(19200) == "19200" and format_ms(19200, grouping=True) == "19,200"
    assert format_ms(None) == "-" and format_ms(None, missing="–") == "–"


def test_format_ms_signs_and_never_shows_minus_zero() -> None:
    assert format_ms(1.25, sign=True) == "+1.2"  # round half to even
    assert format_ms(-151.749, sign=True) == "-151.7"
    assert format_ms(0, sign=True) == "+0"
    assert format_ms(-0.04) == "0.0"
    assert format_ms(-0.4, decimals=0) == "0"
