"""The knee of one replica and the target it gives. Pure.

One replica is driven at rising closed-loop concurrency, one step at a time. Per step: the client's TTFT p95,
streamed tokens/s, and the mean of each engine gauge signal. The knee is the load at which TTFT p95 reaches the
SLO, interpolated linearly between the last step within the SLO and the first above it; tokens/s and the
signal's value there are interpolated the same way.

Recommended target = the signal's value at the knee x (1 - headroom), floored to milli precision (what an HPA
quantity can say). The headroom is applied once: here when the predictive floor is off (the reactive signal
then asks for a replica before one is full), by the floor when it is on (its per-replica capacity is
target x (1 - headroom), scaleahead.capacity, and it covers the current load as well as the forecast), so the
target is then the knee itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

# Signals tune measures: engine gauges, per pod, read straight from the replica.
TUNABLE = ("waiting_requests", "inflight_requests")


@dataclass(frozen=True)
class StepResult:
    concurrency: float
    requests: int  # requests whose first token came in the step's measuring window
    failed: int
    ttft_p95: float | None  # seconds, client side; None: no request measured
    tokens_per_s: float
    signals: Mapping[str, float] = field(default_factory=dict)  # mean per-pod value over the step


@dataclass(frozen=True)
class Knee:
    found: Literal["between", "below_first", "not_reached", "no_data"]
    load: float | None = None  # concurrency per replica at TTFT p95 = SLO
    tokens_per_s: float | None = None
    signal_value: float | None = None
    note: str = ""


def _lerp(a: float, b: float, frac: float) -> float:
    return a + (b - a) * frac


def find_knee(steps: Sequence[StepResult], slo_s: float, signal: str) -> Knee:
    measured = [s for s in steps if s.ttft_p95 is not None]
    if not measured:
        return Knee("no_data", note="no request completed: is the endpoint serving the model?")
    first_over = next((i for i, s in enumerate(measured) if s.ttft_p95 is not None and s.ttft_p95 > slo_s), None)
    if first_over is None:
        last = measured[-1]
        return Knee("not_reached", note=f"TTFT p95 stayed within {slo_s:g} s up to concurrency {last.concurrency:g}: "
                    "drive higher (--levels)")
    if first_over == 0:
        return Knee("below_first", note=f"TTFT p95 is over {slo_s:g} s already at concurrency "
                    f"{measured[0].concurrency:g}: start lower (--levels)")
    a, b = measured[first_over - 1], measured[first_over]
    assert a.ttft_p95 is not None and b.ttft_p95 is not None
    frac = (slo_s - a.ttft_p95) / (b.ttft_p95 - a.ttft_p95)
    value = None
    if signal in a.signals and signal in b.signals:
        value = _lerp(a.signals[signal], b.signals[signal], frac)
    return Knee("between", _lerp(a.concurrency, b.concurrency, frac), _lerp(a.tokens_per_s, b.tokens_per_s, frac),
                value, f"between concurrency {a.concurrency:g} (p95 {a.ttft_p95:.2f} s) and {b.concurrency:g} "
                f"(p95 {b.ttft_p95:.2f} s)")


def target_headroom(predictive: bool, headroom: float) -> float:
    """The headroom the recommended target carries: none when the predictive floor applies it."""
    return 0.0 if predictive else headroom


def recommend(knee: Knee, headroom: float) -> float | None:
    """The target: the signal at the knee less the headroom, at milli precision; None without a knee."""
    if knee.signal_value is None:
        return None
    return math.floor(knee.signal_value * (1 - headroom) * 1000 + 1e-9) / 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
