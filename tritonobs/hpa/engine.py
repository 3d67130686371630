"""One HPA's controller loop without the cluster: a port of reconcileAutoscaler and
computeReplicasForMetrics from kubernetes pkg/controller/podautoscaler/horizontal.go.

`HpaController(spec).sync(now_s, current_replicas, readings)` does what one controller sync does for
one HorizontalPodAutoscaler, with the state upstream keeps between syncs (recommendations, scale
events, conditions) inside the object. The caller supplies the clock and the metric readings; nothing
here reads a clock, the network or files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from tritonobs.hpa import replicas as rc
from tritonobs.hpa.behavior import (
    BehaviorStabilizer,
    LegacyStabilizer,
    ScaleEvents,
    convert_with_behavior_rate,
    convert_with_rules,
    store_scale_event,
)
from tritonobs.hpa.manifest import HpaSpec, MetricSpec
from tritonobs.hpa.replicas import MetricError, Pod, Tolerances

DEFAULT_DOWNSCALE_STABILIZATION_S = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization


@dataclass(frozen=True)
class PodsReading:
    """A Pods metric: one value per pod name, in milli-units."""

    milli_by_pod: Mapping[str, int]

    @classmethod
    def of(cls, values: Mapping[str, float]) -> PodsReading:
        return cls({name: rc.to_milli(v) for name, v in values.items()})


@dataclass(frozen=True)
class UniformPodsReading:
    """A Pods metric where every pod reports the same value (milli-units): replicas ready at once."""

    milli: int

    @classmethod
    def of(cls, value: float) -> UniformPodsReading:
        return cls(rc.to_milli(value))


@dataclass(frozen=True)
class ObjectReading:
    """An Object metric: the single value of the described object, in milli-units."""

    milli: int

    @classmethod
    def of(cls, value: float) -> ObjectReading:
        return cls(rc.to_milli(value))


@dataclass(frozen=True)
class ExternalReading:
    """An External metric: every series the selector matched, in milli-units (the HPA sums them)."""

    milli: tuple[int, ...]

    @classmethod
    def of(cls, *values: float) -> ExternalReading:
        return cls(tuple(rc.to_milli(v) for v in values))


Reading = PodsReading | UniformPodsReading | ObjectReading | ExternalReading


class Condition(NamedTuple):
    type: str  # AbleToScale | ScalingActive | ScalingLimited
    status: bool
    reason: str
    message: str


class MetricStatus(NamedTuple):
    metric: str  # upstream's description, e.g. "pods metric tritonobs_waiting_requests"
    current_milli: int  # what status.currentMetrics would show (average for AverageValue targets)
    proposal: int


@dataclass(slots=True)
class Decision:
    time_s: float
    current: int  # replicas before this sync (the scale subresource's spec.replicas)
    desired: int  # what the metrics asked for (max over metrics), before stabilization and rate limits
    replicas: int  # replicas after this sync: status.desiredReplicas, written to the scale subresource
    reason: str  # the rescale reason upstream logs with the event ("" when it did not rescale)
    conditions: tuple[Condition, ...]
    metrics: tuple[MetricStatus, ...]
    error: str = ""  # set when no proposal could be computed (the controller then leaves the scale alone)

    @property
    def scaled(self) -> bool:
        return self.replicas != self.current

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def limited_by(self) -> str:
        """ScalingLimited reason when the limit bit (ScaleUpLimit, TooManyReplicas, ...), else ""."""
        c = self.condition("ScalingLimited")
        return c.reason if c and c.status else ""


@lru_cache(maxsize=256)
def ready_pods(count: int) -> tuple[Pod, ...]:
    """`count` Running, Ready pods named pod-0..pod-N-1 (replicas that are ready at once)."""
    return tuple(Pod(f"pod-{i}") for i in range(count))


def tolerances_for(spec: HpaSpec, default: float = rc.DEFAULT_TOLERANCE) -> Tolerances:
    """tolerancesForHpa: the cluster-wide tolerance unless the behavior sets one per direction."""
    b = spec.behavior
    if b is None:
        return Tolerances(default, default)
    down = b.scale_down.tolerance if b.scale_down.tolerance is not None else default
    up = b.scale_up.tolerance if b.scale_up.tolerance is not None else default
    return Tolerances(down, up)


_FAILED_REASON = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric", "External": "FailedGetExternalMetric"}


def replicas_for_metric(
    metric: MetricSpec, reading: Reading | None, spec_replicas: int, status_replicas: int,
    pods: Sequence[Pod] | None, tolerances: Tolerances,
) -> tuple[int, int]:
    """computeReplicasForMetric for one Pods/Object/External metric. Returns (proposal, current usage).

    `pods` None means `spec_replicas` Running, Ready pods."""
    target = metric.target_milli
    if metric.kind == "Pods":
        if isinstance(reading, UniformPodsReading):
            if pods is None:
                return rc.get_uniform_metric_replicas(spec_replicas, target, spec_replicas, reading.milli, tolerances)
            values = dict.fromkeys((p.name for p in pods), reading.milli)
            return rc.get_metric_replicas(spec_replicas, target, pods, values, tolerances)
        if not isinstance(reading, PodsReading):
            raise MetricError(f"unable to get metric {metric.name}: no pods metric value")
        pod_list = ready_pods(spec_replicas) if pods is None else pods
        return rc.get_metric_replicas(spec_replicas, target, pod_list, reading.milli_by_pod, tolerances)
    pod_list = ready_pods(spec_replicas) if pods is None else pods
    if metric.kind == "Object":
        if not isinstance(reading, ObjectReading):
            raise MetricError(f"unable to get metric {metric.name}: no object metric value")
        if metric.target_type == "Value":
            return rc.get_object_metric_replicas(spec_replicas, target, reading.milli, tolerances, pod_list)
        return rc.get_object_per_pod_metric_replicas(status_replicas, target, reading.milli, tolerances)
    if not isinstance(reading, ExternalReading):
        raise MetricError(f"unable to get external metric {metric.name}: no external metric value")
    if metric.target_type == "AverageValue":
        return rc.get_external_per_pod_metric_replicas(status_replicas, target, reading.milli, tolerances)
    return rc.get_external_metric_replicas(spec_replicas, target, reading.milli, tolerances, pod_list)


# Conditions with fixed text, built once: a sync sets three or four of them.
_GOT_SCALE = Condition("AbleToScale", True, "SucceededGetScale",
                       "the HPA controller was able to get the target's current scale")
_READY_FOR_NEW_SCALE = Condition("AbleToScale", True, "ReadyForNewScale", "recommended size matches current size")
_LEGACY_DOWN_STABILIZED = Condition(
    "AbleToScale", True, "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation")


class HpaController:
    """The state and the sync of one HPA. Call `sync` once per controller period with the current time."""

    def __init__(
        self,
        spec: HpaSpec,
        *,
        tolerance: float = rc.DEFAULT_TOLERANCE,
        downscale_stabilization_s: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
    ) -> None:
        self.spec = spec
        self.tolerances = tolerances_for(spec, tolerance)
        b = spec.behavior
        self._legacy: LegacyStabilizer | None = None
        self._stabilizer: BehaviorStabilizer | None = None
        if b is None:
            self._legacy = LegacyStabilizer(downscale_stabilization_s)
        else:
            # maybeInitScaleDownStabilizationWindow: an unset scale-down window takes the flag's value.
            down = b.scale_down.stabilization_window_seconds
            up = b.scale_up.stabilization_window_seconds or 0
            self._stabilizer = BehaviorStabilizer(up, downscale_stabilization_s if down is None else down)
        self.events = ScaleEvents()
        self._conditions: dict[str, Condition] = {}
        self._valid_metric: dict[str, Condition] = {}
        self._started = False
        self._last_now: float | None = None
        self.last_scale_time: float | None = None

    def _set(self, type_: str, status: bool, reason: str, message: str) -> None:
        self._conditions[type_] = Condition(type_, status, reason, message)

    def _compute_for_metrics(
        self, readings: Sequence[Reading | None], spec_replicas: int, status_replicas: int, pods: Sequence[Pod] | None
    ) -> tuple[int, str, list[MetricStatus], str]:
        """computeReplicasForMetrics: the largest proposal; -1 when it must not scale at all."""
        replicas, metric, statuses = 0, "", []
        invalid, first_error, first_reason = 0, "", ""
        for i, spec_metric in enumerate(self.spec.metrics):
            reading = readings[i] if i < len(readings) else None
            try:
                proposal, usage = replicas_for_metric(
                    spec_metric, reading, spec_replicas, status_replicas, pods, self.tolerances
                )
            except MetricError as e:
                if invalid == 0:
                    first_error, first_reason = str(e), _FAILED_REASON[spec_metric.kind]
                invalid += 1
                continue
            statuses.append(MetricStatus(spec_metric.description, usage, proposal))
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, spec_metric.description
        error = ""
        if invalid:
            error = f"invalid metrics ({invalid} invalid out of {len(self.spec.metrics)}), first error is: {first_error}"
        # All metrics invalid, or some invalid and the others would scale down: do nothing.
        if invalid >= len(self.spec.metrics) or (invalid > 0 and replicas < spec_replicas):
            self._set("ScalingActive", False, first_reason,
                      f"the HPA was unable to compute the replica count: {first_error}")
            return -1, "", statuses, error
        valid = self._valid_metric.get(metric)
        if valid is None:
            valid = self._valid_metric[metric] = Condition(
                "ScalingActive", True, "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from {metric}")
        self._conditions["ScalingActive"] = valid
        return replicas, metric, statuses, error

    def _normalize(self, now_s: float, current: int, desired: int) -> int:
        spec = self.spec
        if self._legacy is not None:  # normalizeDesiredReplicas
            stabilized = self._legacy.stabilize(now_s, desired)
            self._conditions["AbleToScale"] = _LEGACY_DOWN_STABILIZED if stabilized != desired else _READY_FOR_NEW_SCALE
            out, reason, message = convert_with_rules(current, stabilized, spec.min_replicas, spec.max_replicas)
        else:  # normalizeDesiredReplicasWithBehaviors
            assert self._stabilizer is not None and spec.behavior is not None
            stabilized, reason, message = self._stabilizer.stabilize(now_s, current, desired)
            if stabilized != desired:
                self._set("AbleToScale", True, reason, message)
            else:
                self._conditions["AbleToScale"] = _READY_FOR_NEW_SCALE
            out, reason, message = convert_with_behavior_rate(
                current, stabilized, spec.min_replicas, spec.max_replicas,
                spec.behavior.scale_up, spec.behavior.scale_down,
                self.events.up, self.events.down, now_s,
            )
        self._conditions["ScalingLimited"] = Condition("ScalingLimited", out != stabilized, reason, message)
        return out

    def sync(
        self,
        now_s: float,
        current_replicas: int,
        readings: Sequence[Reading | None],
        *,
        pods: Sequence[Pod] | None = None,
        status_replicas: int | None = None,
    ) -> Decision:
        """One reconcile. `readings[i]` is the value of `spec.metrics[i]` (None: the metrics API failed).

        `pods` defaults to `current_replicas` Running, Ready pods named pod-0..; `status_replicas` (the
        scale subresource's status.replicas, used by AverageValue Object/External metrics) defaults to
        `current_replicas`."""
        if self._last_now is not None and now_s < self._last_now:
            raise ValueError(f"time went backwards: {now_s} < {self._last_now}")
        self._last_now = now_s
        if status_replicas is None:
            status_replicas = current_replicas
        spec = self.spec
        self._conditions["AbleToScale"] = _GOT_SCALE
        if not self._started:  # recordInitialRecommendation
            self._started = True
            if self._legacy is not None:
                self._legacy.record(now_s, current_replicas)
            elif self._stabilizer is not None:
                self._stabilizer.record(now_s, current_replicas)

        desired, reason, error = 0, "", ""
        statuses: list[MetricStatus] = []
        proposal = current_replicas
        rescale = True
        if current_replicas == 0 and spec.min_replicas != 0:
            rescale = False
            self._set("ScalingActive", False, "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero")
        elif current_replicas > spec.max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", spec.max_replicas
            proposal = desired
        elif current_replicas < spec.min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", spec.min_replicas
            proposal = desired
        else:
            metric_desired, metric, statuses, error = self._compute_for_metrics(
                readings, current_replicas, status_replicas, pods
            )
            if metric_desired == -1:
                return Decision(now_s, current_replicas, current_replicas, current_replicas, "",
                                tuple(self._conditions.values()), tuple(statuses), error)
            proposal = metric_desired
            rescale_metric = ""
            if metric_desired > desired:
                desired, rescale_metric = metric_desired, metric
            if desired > current_replicas:
                reason = f"{rescale_metric} above target"
            if desired < current_replicas:
                reason = "All metrics below target"
            desired = self._normalize(now_s, current_replicas, desired)
            rescale = desired != current_replicas

        if rescale:
            self._set("AbleToScale", True, "SucceededRescale",
                      f"the HPA controller was able to update the target scale to {desired}")
            store_scale_event(self.events, spec.behavior, current_replicas, desired, now_s)
            self.last_scale_time = now_s
        else:
            desired, reason = current_replicas, ""
        return Decision(now_s, current_replicas, proposal, desired, reason,
                        tuple(self._conditions.values()), tuple(statuses), error)
