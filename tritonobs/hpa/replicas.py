"""Replica proposals for one metric: a port of kubernetes pkg/controller/podautoscaler/replica_calculator.go.

Values are milli-units (int), as the controller reads them (`Quantity.MilliValue()`); averages use
integer division like the Go code, ratios use float64 like Go. Only the non-resource paths are here
(Pods, Object, External): for them upstream treats a pod as unready only while it is Pending, and
ignores pods being deleted or Failed; readiness delays apply to CPU alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from tritonobs.core.errors import CheckFailed

DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]


class MetricError(CheckFailed):
    """The controller could not compute a proposal from this metric (it then counts as invalid). The engine
    catches it, as the controller does; should one escape, it is a failed check (exit 1)."""


@dataclass(frozen=True)
class Tolerances:
    """Usage-ratio band inside which the replica count does not change (per direction since 1.33)."""

    scale_down: float = DEFAULT_TOLERANCE
    scale_up: float = DEFAULT_TOLERANCE

    def is_within(self, usage_ratio: float) -> bool:
        return (1.0 - self.scale_down) <= usage_ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class Pod:
    name: str
    phase: PodPhase = "Running"
    ready: bool = True
    deleting: bool = False


def to_milli(value: float) -> int:
    """A float metric as the HPA receives it: prometheus-adapter and KEDA send int64(value*1000) milli."""
    if not math.isfinite(value):
        raise MetricError(f"metric value {value} is not a finite number")
    return int(value * 1000.0)


def _go_div(a: int, b: int) -> int:
    """Go integer division truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _fdiv(a: float, b: float) -> float:
    """float64 division with IEEE results for a zero divisor, as Go computes it."""
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def _ceil_int32(x: float) -> int:
    """int32(math.Ceil(x)) with the MaxInt32 cap upstream applies where it can overflow."""
    return MAX_INT32 if x > MAX_INT32 else math.ceil(x)


class PodGroups(NamedTuple):
    ready_count: int
    unready: set[str]
    missing: set[str]
    ignored: set[str]


def group_pods(pods: Iterable[Pod], metrics: Mapping[str, int]) -> PodGroups:
    """groupPods for a non-CPU metric."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
        elif pod.phase == "Pending":
            unready.add(pod.name)
        elif pod.name not in metrics:
            missing.add(pod.name)
        else:
            ready += 1
    return PodGroups(ready, unready, missing, ignored)


def metric_usage_ratio(metrics: Mapping[str, int], target_milli: int) -> tuple[float, int]:
    """GetMetricUsageRatio: integer average of the pod values, then a float ratio to the target."""
    usage = _go_div(sum(metrics.values()), len(metrics))
    return usage / target_milli, usage


def get_metric_replicas(
    current_replicas: int, target_milli: int, pods: Sequence[Pod], metrics: Mapping[str, int], tolerances: Tolerances
) -> tuple[int, int]:
    """GetMetricReplicas / calcPlainMetricReplicas (a Pods metric, AverageValue). Returns (replicas, usage)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics)
    values: Mapping[str, int] = metrics
    if groups.ignored or groups.unready:
        drop = groups.ignored | groups.unready
        values = {name: v for name, v in metrics.items() if name not in drop}
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    usage_ratio, usage = metric_usage_ratio(values, target_milli)
    scale_up_with_unready = bool(groups.unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(usage_ratio):
            return current_replicas, usage
        return math.ceil(usage_ratio * groups.ready_count), usage
    rebalanced = dict(values)
    if groups.missing:
        if usage_ratio < 1.0:
            # On a scale-down a pod without a metric counts as exactly at target.
            rebalanced.update(dict.fromkeys(groups.missing, target_milli))
        elif usage_ratio > 1.0:
            # On a scale-up it counts as idle.
            rebalanced.update(dict.fromkeys(groups.missing, 0))
    if scale_up_with_unready:
        rebalanced.update(dict.fromkeys(groups.unready, 0))
    new_ratio, _ = metric_usage_ratio(rebalanced, target_milli)
    if (
        tolerances.is_within(new_ratio)
        or (usage_ratio < 1.0 and new_ratio > 1.0)
        or (usage_ratio > 1.0 and new_ratio < 1.0)
    ):
        # Too small a change, or the rebalanced ratio would flip the direction.
        return current_replicas, usage
    new_replicas = math.ceil(new_ratio * len(rebalanced))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (new_ratio > 1.0 and new_replicas < current_replicas):
        return current_replicas, usage
    return new_replicas, usage


def get_uniform_metric_replicas(
    current_replicas: int, target_milli: int, ready_pods: int, value_milli: int, tolerances: Tolerances
) -> tuple[int, int]:
    """calcPlainMetricReplicas when `ready_pods` Running pods all report `value_milli`: nothing is unready,
    missing or ignored, and the integer average is the value itself. Same answer, without the pod map."""
    if ready_pods <= 0:
        raise MetricError("no pods returned by selector while calculating replica count")
    usage_ratio = value_milli / target_milli
    if tolerances.is_within(usage_ratio):
        return current_replicas, value_milli
    return math.ceil(usage_ratio * ready_pods), value_milli


def ready_pods_count(pods: Sequence[Pod]) -> int:
    """getReadyPodsCount: Running pods whose Ready condition is true."""
    if not pods:
        raise MetricError("unable to calculate ready pods: no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready)


def usage_ratio_replica_count(current_replicas: int, usage_ratio: float, tolerances: Tolerances, pods: Sequence[Pod]) -> int:
    """getUsageRatioReplicaCount: scale the ready pods by the ratio; from zero replicas, ceil(ratio)."""
    if current_replicas != 0:
        if tolerances.is_within(usage_ratio):
            return current_replicas
        return _ceil_int32(usage_ratio * ready_pods_count(pods))
    return math.ceil(usage_ratio)


def get_object_metric_replicas(
    current_replicas: int, target_milli: int, usage_milli: int, tolerances: Tolerances, pods: Sequence[Pod]
) -> tuple[int, int]:
    """GetObjectMetricReplicas (Object metric, target Value)."""
    ratio = usage_milli / target_milli
    return usage_ratio_replica_count(current_replicas, ratio, tolerances, pods), usage_milli


def get_object_per_pod_metric_replicas(
    status_replicas: int, target_average_milli: int, usage_milli: int, tolerances: Tolerances
) -> tuple[int, int]:
    """GetObjectPerPodMetricReplicas (Object metric, target AverageValue). Returns (replicas, usage per pod)."""
    replicas = status_replicas
    ratio = _fdiv(float(usage_milli), float(target_average_milli) * replicas)
    if not tolerances.is_within(ratio):
        replicas = math.ceil(usage_milli / target_average_milli)
    per_pod = math.ceil(usage_milli / status_replicas) if status_replicas else usage_milli
    return replicas, per_pod


def _sum_capped(values: Iterable[int]) -> int:
    total = 0
    for v in values:
        if v > 0 and total > MAX_INT64 - v:
            return MAX_INT64
        total += v
    return total


def get_external_metric_replicas(
    current_replicas: int, target_milli: int, values_milli: Sequence[int], tolerances: Tolerances, pods: Sequence[Pod]
) -> tuple[int, int]:
    """GetExternalMetricReplicas (External metric, target Value): the series are summed."""
    usage = _sum_capped(values_milli)
    ratio = usage / target_milli
    return usage_ratio_replica_count(current_replicas, ratio, tolerances, pods), usage


def get_external_per_pod_metric_replicas(
    status_replicas: int, target_per_pod_milli: int, values_milli: Sequence[int], tolerances: Tolerances
) -> tuple[int, int]:
    """GetExternalPerPodMetricReplicas (External metric, target AverageValue; KEDA's default)."""
    usage = _sum_capped(values_milli)
    replicas = status_replicas
    ratio = _fdiv(float(usage), float(target_per_pod_milli) * replicas)
    if not tolerances.is_within(ratio):
        replicas = _ceil_int32(usage / target_per_pod_milli)
    if usage >= MAX_INT64:
        per_pod = MAX_INT64
    else:
        per_pod = math.ceil(usage / status_replicas) if status_replicas else usage
    return replicas, per_pod
