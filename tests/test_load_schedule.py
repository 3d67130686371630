"""Schedule math: Poisson arrivals (seeded, statistically checked), closed-loop concurrency."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from tritonobs.load.profiles import Constant, Ramp, Replay, Sine, Step
from tritonobs.load.schedule import concurrency_at, expected_count, poisson_arrivals


def _arrivals(profile: object, duration: float, seed: int = 7) -> list[float]:
    return list(poisson_arrivals(profile, duration, random.Random(seed)))  # type: ignore[arg-type]


def _within_sigmas(observed: int, mean: float, sigmas: float = 4.0) -> bool:
    # A Poisson count has variance equal to its mean.
    return abs(observed - mean) <= sigmas * math.sqrt(mean)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = _arrivals(Constant(20), 10, seed=1)
    assert a == _arrivals(Constant(20), 10, seed=1)
    assert a != _arrivals(Constant(20), 10, seed=2)


def test_constant_rate_counts_and_exponential_gaps() -> None:
    times = _arrivals(Constant(5.0), 400.0)
    assert _within_sigmas(len(times), 2000.0)
    assert times == sorted(times)
    assert times[0] >= 0.0 and times[-1] < 400.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.2, rel=0.1)
    # exponential inter-arrival times: standard deviation equals the mean (coefficient of variation 1)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.1)


def test_counts_per_window_are_independent_poisson() -> None:
    times = _arrivals(Constant(10.0), 300.0, seed=3)
    per_second = [0] * 300
    for t in times:
        per_second[int(t)] += 1
    # Poisson: the variance of per-second counts equals their mean
    assert statistics.fmean(per_second) == pytest.approx(10.0, rel=0.05)
    assert statistics.pvariance(per_second) == pytest.approx(10.0, rel=0.25)


def test_step_rate_is_followed_in_each_segment() -> None:
    profile = Step(2.0, ((100.0, 20.0),))
    times = _arrivals(profile, 200.0, seed=11)
    before = sum(1 for t in times if t < 100.0)
    after = len(times) - before
    assert _within_sigmas(before, 200.0)
    assert _within_sigmas(after, 2000.0)


def test_sine_rate_high_half_versus_low_half() -> None:
    profile = Sine(10.0, 8.0, 100.0)
    times = _arrivals(profile, 1000.0, seed=5)
    high = sum(1 for t in times if (t % 100.0) < 50.0)
    low = len(times) - high
    # over a half period the rate integrates to 10*50 +/- 8*100/pi; ten periods in the window
    assert _within_sigmas(high, 10 * (500 + 800 / math.pi))
    assert _within_sigmas(low, 10 * (500 - 800 / math.pi))


def test_ramp_counts_match_its_integral() -> None:
    profile = Ramp(0.0, 40.0, 100.0)
    times = _arrivals(profile, 100.0, seed=9)
    assert expected_count(profile, 0, 100) == pytest.approx(2000.0)
    assert _within_sigmas(len(times), 2000.0)
    first_half = sum(1 for t in times if t < 50.0)
    assert _within_sigmas(first_half, expected_count(profile, 0, 50))  # 500: a quarter of the arrivals


def test_replay_trace_and_zero_rate() -> None:
    profile = Replay((0.0, 50.0), (0.0, 10.0))
    times = _arrivals(profile, 100.0)
    assert times and min(times) >= 50.0  # nothing while the trace says 0
    assert _within_sigmas(len(times), 500.0)
    assert _arrivals(Constant(0.0), 100.0) == []
    assert _arrivals(Constant(5.0), 0.0) == []


def test_lazy_with_an_unbounded_window() -> None:
    gen = poisson_arrivals(Constant(100.0), math.inf, random.Random(0))
    first = [next(gen) for _ in range(1000)]
    assert first == sorted(first) and first[-1] == pytest.approx(10.0, rel=0.15)


@pytest.mark.parametrize(("value", "workers"), [(0.0, 0), (0.49, 0), (0.5, 1), (2.5, 3), (3.49, 3), (8.0, 8)])
def test_concurrency_rounds_half_up(value: float, workers: int) -> None:
    assert concurrency_at(Constant(value), 0.0) == workers


def test_concurrency_follows_a_step_schedule() -> None:
    profile = Step(1.0, ((30.0, 8.0),))
    assert [concurrency_at(profile, t) for t in (0, 29.9, 30, 60)] == [1, 1, 8, 8]


def test_expected_count_of_a_step() -> None:
    assert expected_count(Step(1.0, ((30.0, 10.0),)), 0, 60) == pytest.approx(330.0, rel=1e-3)
    assert expected_count(Constant(3.0), 10, 10) == 0.0
