"""Load traces for verification runs, generated deterministically (no file, no randomness). Pure.

`diurnal`: one day's shape compressed to `day_s` seconds, in 48 half-hour steps: quiet at night, rising through
the morning to a sharper midday peak, back down in the evening — low + (high - low) x shape(hour), with
shape = a x (0.8 + 0.2 c), a = (1 - cos(2π h / 24)) / 2, c = (1 + cos(4π (h - 12) / 24)) / 2:
0 at 00:00, 0.4 at 06:00 and 18:00, 1 at 12:00.
"""

from __future__ import annotations

import math

from tritonobs.load.profiles import Replay

STEPS_PER_DAY = 48


def diurnal_shape(hour: float) -> float:
    """0 at midnight, 1 at noon (0..1)."""
    a = (1 - math.cos(2 * math.pi * hour / 24)) / 2
    c = (1 + math.cos(4 * math.pi * (hour - 12) / 24)) / 2
    return a * (0.8 + 0.2 * c)


def diurnal(low: float, high: float, day_s: float) -> Replay:
    step = day_s / STEPS_PER_DAY
    times = tuple(round(i * step, 6) for i in range(STEPS_PER_DAY))
    values = tuple(round(low + (high - low) * diurnal_shape(24 * i / STEPS_PER_DAY), 3) for i in range(STEPS_PER_DAY))
    return Replay(times, values, source=f"diurnal {low:g}:{high:g}:{day_s:g}s")
