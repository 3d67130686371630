"""The lab's default loads for `verify --lab --profile step|ramp|diurnal` when no --rate/--concurrency is given.
Pure. Every duration is real-cluster seconds divided by the time factor.

- step: concurrency 2 -> 10 after 100 s, held for one scale-up plus recovery (verify_cmd.lab_default_load).
- ramp: concurrency 5 -> 10 (2x) over 10 minutes, then held for one cold start plus recovery. One replica
  carries 6 at the default target (4 in the simulated batch + 2 waiting): a second one is needed from 6 on.
- diurnal: a day's shape (verify/traces.py) from 3 to 12 in flight, the day compressed to 40 minutes.
"""

from __future__ import annotations

import math

from tritonobs.errors import UsageError
from tritonobs.load.profiles import Profile, parse_duration
from tritonobs.model import Stack
from tritonobs.verify.traces import diurnal

RAMP_FROM, RAMP_TO, RAMP_OVER_S = 5, 10, 600.0
RECOVERY_S = 200.0
DIURNAL_LOW, DIURNAL_HIGH, DIURNAL_DAY_S = 3, 12, 2400.0


def _cold(stack: Stack) -> float:
    p = stack.spec.gpu_pool
    return p.node_launch_seconds + p.image_pull_seconds + p.model_load_seconds


def default_concurrency(stack: Stack, profile: str, factor: float) -> tuple[str, float] | None:
    """(--concurrency, duration in lab seconds) of the default ramp or diurnal load; None for other kinds."""
    if profile == "ramp":
        over = RAMP_OVER_S / factor
        return f"{RAMP_FROM}:{RAMP_TO}:{over:g}s", round(over + (_cold(stack) + RECOVERY_S) / factor)
    if profile == "diurnal":
        day = DIURNAL_DAY_S / factor
        return f"{DIURNAL_LOW}:{DIURNAL_HIGH}:{day:g}s", day
    return None


def parse_diurnal(spec: str, option: str) -> Profile:
    """`LOW:HIGH:DAY`: the generated day (traces.diurnal), e.g. 3:12:240s."""
    parts = [p.strip() for p in spec.split(":")]
    try:
        if len(parts) != 3:
            raise ValueError("write LOW:HIGH:DAY, e.g. 3:12:240s")
        low, high, day = float(parts[0]), float(parts[1]), parse_duration(parts[2])
        if not (math.isfinite(high) and 0 <= low <= high) or day <= 0:
            raise ValueError("need 0 <= LOW <= HIGH and DAY > 0")
    except ValueError as e:
        raise UsageError(f"{option} {spec!r} (diurnal): {e}") from None
    return diurnal(low, high, day)
