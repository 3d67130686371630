"""Scaling ahead of load: the values derived from `autoscaling.{predictive,lookahead,headroom}` and
`gpu_pool.warm_nodes`, and the spec rules they must obey. Pure (part of the resolved model).

The predictive floor (render/forecast.py) gives the HPA a second input, in the signal's own units summed over
pods: the larger of the current total load and its linear forecast `lookahead` seconds ahead. As an External
metric with an AverageValue target of one replica's capacity, the HPA asks for ceil(floor / capacity)
replicas, and takes the larger of that and the reactive per-pod signal.

Only signals that add up over pods (request counts) have a total load; a latency (TTFT, queue time) does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tritonobs.core.config import Spec, duration_seconds

# Signals whose per-pod values add up to the deployment's load (a sum over pods means something).
ADDITIVE_SIGNALS = ("waiting_requests", "inflight_requests")
HOURS_PER_MONTH = 730  # AWS's convention for monthly prices (8760 h / 12)
MIN_WINDOW_SCRAPES = 10  # predict_linear's least-squares fit over fewer samples follows the noise
MAX_LOOKAHEAD_SECONDS = 3600  # a linear forecast an hour ahead extrapolates noise, not load


def cold_start_seconds(spec: Spec) -> float:
    """A new replica on a new node: node launch + image pull + model load (gpu_pool timings)."""
    p = spec.gpu_pool
    return p.node_launch_seconds + p.image_pull_seconds + p.model_load_seconds


def lookahead_seconds(spec: Spec) -> float:
    a = spec.autoscaling
    return duration_seconds(a.lookahead) if a.lookahead is not None else cold_start_seconds(spec)


def forecast_window_seconds(spec: Spec) -> float:
    """The range predict_linear fits over: one lookahead, and at least 10 scrapes, in whole scrapes.

    A least-squares line through noisy samples, extrapolated `lookahead` past the window's end, multiplies the
    noise; the longer the window, the less. On a flat load with +-20% uniform noise the floor peaked at 1.75x
    the mean with a window of half the lookahead and 1.27x with a whole one, the load's own peak being 1.19x
    (bench/forecast_window.py), so a window of one lookahead adds little to what the reactive signal already
    sees. The cost is lag at a ramp's start: 5 minutes into a 10-minute 2x ramp the floor covers 0.97 of the
    load one lookahead ahead (1.18 with the half window), 2 minutes in 0.61 (0.79)."""
    scrape = duration_seconds(spec.monitoring.scrape_interval)
    want = max(lookahead_seconds(spec), MIN_WINDOW_SCRAPES * scrape)
    return math.ceil(want / scrape) * scrape


def capacity(target: float, headroom: float) -> float:
    """One replica's share of the floor: the signal's target less the headroom, at milli precision (floored,
    so rounding never removes headroom)."""
    return math.floor(target * (1 - headroom) * 1000 + 1e-9) / 1000


@dataclass(frozen=True)
class Floor:
    """One predictive floor: for a signal in use that adds up over pods."""

    signal: str
    target: float  # the reactive per-pod target
    capacity: float  # target x (1 - headroom): the External metric's AverageValue
    models: tuple[str, ...]

    @property
    def total_record(self) -> str:
        return f"namespace:tritonobs_{self.signal}:sum"

    @property
    def forecast_record(self) -> str:
        return f"namespace:tritonobs_{self.signal}:predict_linear"

    @property
    def floor_record(self) -> str:
        return f"namespace:tritonobs_{self.signal}:floor"

    @property
    def external_metric(self) -> str:
        """The name prometheus-adapter serves through external.metrics.k8s.io and the HPA references."""
        return f"tritonobs_{self.signal}_floor"


@dataclass(frozen=True)
class ScaleAhead:
    predictive: bool
    lookahead_seconds: float
    cold_start_seconds: float
    warm_start_seconds: float  # a replica landing on a warm node: model load only
    headroom: float
    forecast_window_seconds: float
    floors: tuple[Floor, ...]  # empty unless predictive
    warm_nodes: int
    warm_pods: int  # placeholder pods: warm_nodes x Triton pods per node
    node_hourly_usd: float

    @property
    def warm_monthly_usd(self) -> float:
        return self.warm_nodes * self.node_hourly_usd * HOURS_PER_MONTH


def resolve_scale_ahead(spec: Spec, signal_targets: list[tuple[str, float, tuple[str, ...]]]) -> ScaleAhead:
    """`signal_targets`: (signal, per-pod target, models) of every signal in use, as the Stack resolved them."""
    a, pool = spec.autoscaling, spec.gpu_pool
    floors = tuple(
        Floor(name, target, capacity(target, a.headroom), models)
        for name, target, models in signal_targets
        if a.predictive and name in ADDITIVE_SIGNALS
    )
    return ScaleAhead(
        predictive=a.predictive,
        lookahead_seconds=lookahead_seconds(spec),
        cold_start_seconds=cold_start_seconds(spec),
        warm_start_seconds=pool.model_load_seconds,
        headroom=a.headroom,
        forecast_window_seconds=forecast_window_seconds(spec),
        floors=floors,
        warm_nodes=pool.warm_nodes,
        warm_pods=pool.warm_nodes * max(1, pool.gpus_per_node // pool.gpus_per_pod),
        node_hourly_usd=pool.hourly_price_usd,
    )


Loc = tuple[str | int, ...]


def problems(spec: Spec, default_targets: dict[str, float]) -> list[tuple[Loc, str]]:
    """Spec rules of scaling ahead, each located (spec_loader turns them into file:line errors)."""
    a, pool = spec.autoscaling, spec.gpu_pool
    out: list[tuple[Loc, str]] = []
    if a.lookahead is not None:
        secs = duration_seconds(a.lookahead)
        if secs <= 0:
            out.append((("autoscaling", "lookahead"), f"must be > 0 (got {a.lookahead!r}): write e.g. 8m, or "
                        "remove it to look ahead one cold start, or set predictive: false"))
        elif secs > MAX_LOOKAHEAD_SECONDS:
            out.append((("autoscaling", "lookahead"), f"{a.lookahead!r} is longer than 1h: a linear forecast that "
                        "far ahead extrapolates noise; write the pool's cold start (e.g. 9m)"))
    in_use = {m.scaling_signal for m in spec.models}
    if a.predictive and not in_use & set(ADDITIVE_SIGNALS):
        out.append((("autoscaling", "predictive"), f"needs a model scaling on a signal that adds up over pods "
                    f"({' or '.join(ADDITIVE_SIGNALS)}); in use: {', '.join(sorted(in_use))} (latencies have no "
                    "total to forecast): change a model's scaling_signal or set predictive: false"))
    if a.predictive:
        for name in sorted(in_use & set(ADDITIVE_SIGNALS)):
            target = float(a.targets.get(name, default_targets[name]))  # type: ignore[call-overload]
            if capacity(target, a.headroom) <= 0:
                loc: Loc = ("autoscaling", "headroom") if "headroom" in a.model_fields_set else ("autoscaling",)
                out.append((loc, f"headroom {a.headroom:g} leaves no capacity below the {name} target "
                            f"{target:g} at milli precision: lower the headroom or raise the target"))
    pods_per_node = max(1, pool.gpus_per_node // pool.gpus_per_pod)
    most = math.ceil(a.max_replicas / pods_per_node)  # nodes max_replicas Triton pods can fill
    if pool.warm_nodes > most:
        out.append((("gpu_pool", "warm_nodes"), f"{pool.warm_nodes} warm nodes exceed the {most} node(s) that "
                    f"max_replicas ({a.max_replicas}) Triton pods can fill: the rest would never be used; lower it"))
    return out


def notes(spec: Spec, sa: ScaleAhead) -> list[str]:
    """What `tritonobs validate` says of scaling ahead: the floor's arithmetic and the warm capacity's cost."""
    out: list[str] = []
    for f in sa.floors:
        out.append(
            f"predictive floor on {f.signal}: max(total, its linear forecast {sa.lookahead_seconds:g} s ahead over "
            f"the last {sa.forecast_window_seconds:g} s) / {f.capacity:g} per replica (target {f.target:g} x "
            f"(1 - headroom {sa.headroom:g})); cold start {sa.cold_start_seconds:g} s"
        )
    if sa.warm_nodes:
        pool = spec.gpu_pool
        out.append(
            f"warm capacity: {sa.warm_nodes} {pool.instance_type} node(s) kept up ({sa.warm_pods} placeholder pod(s)): "
            f"{sa.warm_nodes} x ${sa.node_hourly_usd:g}/h x {HOURS_PER_MONTH} h = ${sa.warm_monthly_usd:,.2f} per month "
            f"(gpu_pool.hourly_price_usd); a replica landing on one starts in {sa.warm_start_seconds:g} s instead of "
            f"{sa.cold_start_seconds:g} s"
        )
    return out
