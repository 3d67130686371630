"""The lab's default loads for `verify --lab --profile step|ramp|diurnal` when no --rate/--concurrency is given.
Pure. Every duration is real-cluster seconds divided by the time factor.

- step: concurrency 2 -> 10 after 100 s, held for one scale-up plus recovery (verify_cmd.lab_default_load).
- ramp: concurrency 5 held for 6 minutes (a steady state: the predictive floor's forecast needs a history,
  as it has on a cluster), then 5 -> 10 (2x) over 10 minutes, then held for one cold start plus recovery.
  One replica carries 6 at the default target (4 in the simulated batch + 2 waiting): a second one is
  needed from 6 on. Written as a trace (steps of 1/60 of the ramp), so it replays the same everywhere.
- diurnal: a day's shape (verify/traces.py) from 3 to 12 in flight, the day compressed to 40 minutes.
"""

from __future__ import annotations

import math

from tritonobs.core.errors import UsageError
from tritonobs.core.model import Stack
from tritonobs.load.profiles import Profile, Replay, parse_duration
from tritonobs.verify.traces import diurnal

RAMP_FROM, RAMP_TO, RAMP_OVER_S, RAMP_HOLD_S = 5, 10, 600.0, 360.0
RAMP_STEPS = 60
RECOVERY_S = 200.0
DIURNAL_LOW, DIURNAL_HIGH, DIURNAL_DAY_S = 3, 12, 2400.0


def _cold(stack: Stack) -> float:
    p = stack.spec.gpu_pool
    return p.node_launch_seconds + p.image_pull_seconds + p.model_load_seconds


def held_ramp(start: float, end: float, hold_s: float, over_s: float, steps: int = RAMP_STEPS) -> Replay:
    """`start` for hold_s, then a linear ramp to `end` over over_s in `steps` steps, then `end`."""
    times = [0.0] + [round(hold_s + over_s * i / steps, 6) for i in range(1, steps + 1)]
    values = [start] + [round(start + (end - start) * i / steps, 6) for i in range(1, steps + 1)]
    return Replay(tuple(times), tuple(values),
                  source=f"ramp {start:g} -> {end:g} over {over_s:g}s after {hold_s:g}s at {start:g}")


def default_ramp(stack: Stack, factor: float) -> tuple[Profile, float]:
    """The default ramp profile and its duration (lab seconds)."""
    hold, over = RAMP_HOLD_S / factor, RAMP_OVER_S / factor
    return held_ramp(RAMP_FROM, RAMP_TO, hold, over), round(hold + over + (_cold(stack) + RECOVERY_S) / factor)


def default_concurrency(stack: Stack, profile: str, factor: float) -> tuple[str, float] | None:
    """(--concurrency, duration in lab seconds) of the default diurnal load; None for other kinds (the
    default ramp is `default_ramp`: a trace, not a spec string)."""
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
