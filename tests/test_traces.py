"""The generated diurnal trace: hand-checked points of its shape."""

from __future__ import annotations

import pytest

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
