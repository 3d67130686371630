"""Schedule math: when an open loop sends, how many workers a closed loop runs. Pure, seeded, no clock."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from tritonobs.load.profiles import Profile


def poisson_arrivals(rate: Profile, duration_s: float, rng: random.Random) -> Iterator[float]:
    """Arrival times (s) of a Poisson process whose rate (requests/s) follows `rate`, on [0, duration_s).

    Thinning (Lewis & Shedler): draw candidates at the peak rate, keep each with probability
    rate(t)/peak. Exact for any bounded rate function, and lazy, so a long run costs no memory.
    """
    peak = rate.peak(duration_s)
    if peak <= 0 or duration_s <= 0:
        return
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            return
        if rng.random() * peak < rate.value_at(t):
            yield t


def concurrency_at(profile: Profile, t: float) -> int:
    """Workers a closed loop runs at time t: the profile value rounded half up, never negative."""
    return max(0, math.floor(profile.value_at(t) + 0.5))


def expected_count(rate: Profile, start_s: float, end_s: float, step_s: float = 0.01) -> float:
    """Integral of the rate over [start_s, end_s] (midpoint rule): the mean number of arrivals."""
    if end_s <= start_s:
        return 0.0
    n = max(1, math.ceil((end_s - start_s) / step_s))
    h = (end_s - start_s) / n
    return sum(rate.value_at(start_s + (i + 0.5) * h) for i in range(n)) * h
