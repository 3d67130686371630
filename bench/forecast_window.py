"""How much the predictive floor chases noise, and how late it sees a ramp, for fit windows of half and one
lookahead (the choice in tritonobs.core.scaleahead.forecast_window_seconds).

Emulates Prometheus 2's predict_linear (least squares over the samples in [t - window, t], intercept at t) on
30 s samples with the example's lookahead (510 s = node launch + image pull + model load):
- noise: a flat load of 20 with +-20% uniform noise (seeded), one hour; the floor's peak and 99th percentile
  relative to the mean, beside the load's own peak;
- ramp: 20 -> 40 over 10 minutes; how much of the load one lookahead ahead the floor covers 2, 5 and 8
  minutes into the ramp.

Run: .venv/bin/python bench/forecast_window.py
"""

from __future__ import annotations

import numpy as np

STEP, LOOKAHEAD = 30.0, 510.0


def predict_linear(ts: np.ndarray, vs: np.ndarray, t: float, window: float) -> float:
    m = (ts >= t - window) & (ts <= t)
    slope, intercept = np.polyfit(ts[m] - t, vs[m], 1)
    return float(intercept + slope * LOOKAHEAD)


def floor_at(ts: np.ndarray, vs: np.ndarray, i: int, window: float) -> float:
    return max(vs[i], predict_linear(ts, vs, ts[i], window))


def main() -> None:
    ts = np.arange(0, 3600 + 2 * LOOKAHEAD, STEP)
    noisy = 20 * (1 + 0.2 * np.random.default_rng(7).uniform(-1, 1, len(ts)))
    start, rise = 1200.0, 600.0
    ramp = np.where(ts < start, 20.0, np.minimum(40.0, 20 + 20 * (ts - start) / rise))
    print(f"lookahead {LOOKAHEAD:g} s, scrape {STEP:g} s")
    print("window | noise: floor peak / mean, p99 / mean (load peak / mean) | ramp: floor / load one lookahead ahead"
          " at +2, +5, +8 min")
    for window in (LOOKAHEAD / 2, LOOKAHEAD):
        first = int(window / STEP) + 1
        floors = np.array([floor_at(ts, noisy, i, window) for i in range(first, len(ts))])
        mean = noisy.mean()
        cover = []
        for minutes in (2, 5, 8):
            i = int((start + minutes * 60) / STEP)
            ahead = min(40.0, 20 + 20 * (ts[i] + LOOKAHEAD - start) / rise)
            cover.append(floor_at(ts, ramp, i, window) / ahead)
        print(f"{window:5.0f}s | {floors.max() / mean:.2f}, {np.percentile(floors, 99) / mean:.2f} "
              f"({noisy.max() / mean:.2f}) | " + ", ".join(f"{c:.2f}" for c in cover))


if __name__ == "__main__":
    main()
