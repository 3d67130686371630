"""The knee and the recommended target: hand-computed interpolation."""

from __future__ import annotations

import pytest

from tritonobs.tune.knee import StepResult, find_knee, recommend


def step(c: float, p95: float | None, tps: float, waiting: float) -> StepResult:
    return StepResult(c, 10, 0, p95, tps, {"waiting_requests": waiting, "inflight_requests": c})


def test_knee_interpolates_between_the_steps_around_the_slo() -> None:
    steps = [step(2, 0.2, 60, 0), step(4, 0.5, 120, 0), step(8, 1.5, 130, 4), step(12, 3.5, 131, 8)]
    knee = find_knee(steps, 2.0, "waiting_requests")
    # 2.0 is a quarter of the way from 1.5 to 3.5
    assert knee.found == "between"
    assert knee.load == pytest.approx(9.0)
    assert knee.tokens_per_s == pytest.approx(130.25)
    assert knee.signal_value == pytest.approx(5.0)
    assert recommend(knee, 0.2) == 4.0
    assert recommend(find_knee(steps, 2.0, "inflight_requests"), 0.25) == 6.75


def test_knee_edges() -> None:
    assert find_knee([step(2, 0.2, 60, 0), step(4, 0.4, 100, 0)], 2.0, "waiting_requests").found == "not_reached"
    below = find_knee([step(2, 2.5, 60, 0)], 2.0, "waiting_requests")
    assert below.found == "below_first" and recommend(below, 0.2) is None
    assert find_knee([step(2, None, 0, 0)], 2.0, "waiting_requests").found == "no_data"


def test_recommend_floors_to_milli() -> None:
    knee = find_knee([step(1, 1.0, 1, 1.0), step(2, 3.0, 1, 2.0)], 2.0, "waiting_requests")
    assert knee.signal_value == pytest.approx(1.5)
    assert recommend(knee, 1 / 3) == 1.0  # 1.5 x 2/3 = 0.99999... floored at milli with a hair of slack


def test_the_headroom_is_applied_once_by_tune_or_by_the_predictive_floor() -> None:
    from tritonobs.tune.knee import target_headroom

    assert target_headroom(False, 0.2) == 0.2  # reactive only: the target leaves the headroom
    assert target_headroom(True, 0.2) == 0.0  # the floor's capacity is target x (1 - 0.2) already
