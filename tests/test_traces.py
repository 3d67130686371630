"""The generated diurnal trace: hand-checked points of its shape."""

from __future__ import annotations

import pytest

from tritonobs.core.model import Stack
from tritonobs.verify.lab_profiles import default_concurrency, default_ramp, held_ramp
from tritonobs.verify.traces import diurnal, diurnal_shape


def test_shape_points() -> None:
    assert diurnal_shape(0) == 0.0
    assert diurnal_shape(12) == pytest.approx(1.0)  # a = 1, c = 1
    assert diurnal_shape(6) == pytest.approx(0.4)  # a = 0.5, c = 0
    assert diurnal_shape(18) == pytest.approx(0.4)
    assert diurnal_shape(3) == pytest.approx((1 - 0.5**0.5) / 2 * 0.9)  # a = (1 - cos 45°) / 2, c = 0.5


def test_trace_values_and_times() -> None:
    tr = diurnal(2, 10, 480)
    assert len(tr.times) == 48 and tr.times[1] == 10.0 and tr.times[-1] == 470.0
    assert tr.values[0] == 2.0 and tr.values[24] == 10.0  # midnight low, noon high
    assert tr.values[12] == pytest.approx(2 + 8 * 0.4)  # 06:00
    assert tr.value_at(245.0) == 10.0 and tr.describe() == "replay diurnal 2:10:480s"
    assert diurnal(2, 10, 480) == tr  # deterministic


def test_held_ramp_and_lab_defaults(example_stack: Stack) -> None:
    tr = held_ramp(5, 10, 36, 60, steps=4)
    assert tr.times == (0.0, 51.0, 66.0, 81.0, 96.0) and tr.values == (5, 6.25, 7.5, 8.75, 10)
    assert tr.value_at(50) == 5 and tr.value_at(100) == 10
    prof, duration = default_ramp(example_stack, 10)
    # hold 36 s, ramp 60 s, then one cold start (90 + 240 + 180) and 200 s of recovery, all / 10
    assert duration == 36 + 60 + 71
    assert prof.value_at(0) == 5 and prof.value_at(36 + 30) == 7.5 and prof.value_at(96) == 10
    assert default_concurrency(example_stack, "diurnal", 10) == ("3:12:240s", 240)
    assert default_concurrency(example_stack, "step", 10) is None
