"""The HPA engine against the upstream controller's own test tables.

Each case id names the upstream test it is transcribed from (kubernetes pkg/controller/podautoscaler
horizontal_test.go and replica_calculator_test.go); "derived:" cases are computed by hand from the
upstream code where upstream has no table (missing pods of a Pods metric, per-direction tolerances).
Times are seconds on an injected clock; upstream's time.Now() is NOW here.
"""

from __future__ import annotations

import pytest

from tritonobs.hpa import replicas as rc
from tritonobs.hpa.behavior import (
    BehaviorStabilizer,
    LegacyStabilizer,
    ScaleEvent,
    ScaleEvents,
    convert_with_behavior_rate,
    convert_with_rules,
    legacy_scale_up_limit,
    replicas_change_per_period,
    scale_down_limit,
    scale_up_limit,
    store_scale_event,
)
from tritonobs.hpa.engine import ExternalReading, HpaController, ObjectReading, PodsReading
from tritonobs.hpa.manifest import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    HpaSpec,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)
from tritonobs.hpa.replicas import MetricError, Pod, Tolerances

NOW = 10_000.0
TOL = Tolerances()


def gen_rules(pods: int, pods_period: int, percent: int, percent_period: int, window: int) -> ScalingRules:
    """horizontal_test.go generateScalingRules."""
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))


def uniform_events(raw: list[int], period: int) -> list[ScaleEvent]:
    """horizontal_test.go generateEventsUniformDistribution: events centred in equal slices of the period."""
    seg = period / len(raw)
    return [ScaleEvent(change, NOW - int(period - seg * (i + 1) + seg / 2)) for i, change in enumerate(raw)]


# (name, up_events, down_events, min, max, up_rules, down_rules, current, desired, expected, condition)
SCALING_WITH_RULES = [
    ("prenormalized desired replicas within range", None, None, 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", None, None, 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", None, None, 0, 10, None, None, 1, 0, 0,
     "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", None, None, 1, 10, None, None, 20, 1000, 10,
     "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", None, None, 100, 150, None, None, 100, 1000, 150,
     "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", None, None, 1, 2000,
     gen_rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    ("scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies", None, None, 3,
     2000, None, gen_rules(20, 60, 0, 0, 0), 1000, 3, 980, "ScaleDownLimit"),
    ("scaleUp with default behavior", None, None, 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", None, None, 1, 1000, gen_rules(100, 60, 100, 60, 0), None,
     10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", None, None, 1, 1000, gen_rules(2, 60, 100, 60, 0), None,
     10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", None, None, 1, 1000,
     gen_rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", None, None, 1, 1000,
     gen_rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", None, None, 1, 1000, gen_rules(30, 60, 0, 0, 0), None, 10, 50, 40,
     "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", None, None, 1, 1000, gen_rules(0, 0, 200, 60, 0), None, 10, 50, 30,
     "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", None, None, 1, 1000, None, gen_rules(20, 60, 1, 60, 300),
     100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", None, None, 1, 1000, None, gen_rules(2, 60, 1, 60, 300),
     100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", None, None, 1, 1000, None,
     gen_rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", None, None, 5, 1000, None,
     gen_rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", None, None, 1, 1000, None, gen_rules(5, 60, 0, 0, 300), 10, 2, 5,
     "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", None, None, 1, 1000, None, gen_rules(0, 0, 50, 60, 300), 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", [1, 5, 9], None, 1, 200,
     gen_rules(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", [1, 5, 9], None, 1, 200,
     gen_rules(0, 0, 10000, 60, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
     [1, 5, 9], None, 1, 1000, gen_rules(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", [1, 5, 9], None, 1, 1000, gen_rules(150, 120, 0, 0, 0),
     None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", [1, 5, 9], None, 1, 1000,
     gen_rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", [4], [2], 1, 1000,
     gen_rules(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", None, [1, 5, 9], 1, 1000, None, None, 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", None, [1, 5, 9], 1,
     1000, None, gen_rules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", None, [1, 5, 9], 5,
     1000, None, gen_rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", None, [1, 5, 9], 5,
     1000, None, gen_rules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", None, [1, 5, 9], 1, 1000, None,
     gen_rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", None, [2, 4, 6], 1, 1000, None,
     gen_rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", [2], [4], 1, 1000, None,
     gen_rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", None, [10, 10, 10], 1, 1000, None,
     gen_rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", None, [10, 10, 10], 1, 1000, None,
     gen_rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", [8, 12, 9, 11], None, 1, 1000,
     gen_rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for up",
     [8, 12, 9, 11], None, 1, 1000, gen_rules(1000, 120, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for up", [8, 12, 9, 11],
     None, 1, 1000, gen_rules(1000, 30, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", None, [8, 12, 9, 11], 1, 1000, None,
     gen_rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for down", None,
     [8, 12, 9, 11], 1, 1000, None, gen_rules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for down", None,
     [8, 12, 9, 11], 1, 1000, None, gen_rules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]


@pytest.mark.parametrize(
    ("up", "down", "lo", "hi", "up_rules", "down_rules", "current", "desired", "expected", "condition"),
    [pytest.param(*c[1:], id=f"TestScalingWithRules/{c[0]}") for c in SCALING_WITH_RULES],
)
def test_scaling_with_rules(up, down, lo, hi, up_rules, down_rules, current, desired, expected, condition) -> None:
    replicas, reason, _ = convert_with_behavior_rate(
        current, desired, lo, hi, up_rules or DEFAULT_SCALE_UP, down_rules or DEFAULT_SCALE_DOWN,
        uniform_events(up, 120) if up else [], uniform_events(down, 120) if down else [], NOW,
    )
    assert (replicas, reason) == (expected, condition)


def test_calculate_limits_with_min_policy() -> None:
    """TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors."""
    rules = ScalingRules(300, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60)))
    assert scale_up_limit(1, [], [], rules, NOW) == 2
    assert scale_down_limit(5, [], [], rules, NOW) == 3


# (name, prev [(change, age_s)], rules, change per 60 s before, expected [(change, outdated)])
STORE_SCALE_EVENTS = [
    ("empty entries with default behavior", [], None, 0, []),
    ("empty entries with two-policy-behavior", [], gen_rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one outdated entry to be kept untouched without behavior", [(7, 61)], None, 0, [(7, False)]),
    ("one outdated entry to be replaced with behavior", [(7, 61)], gen_rules(10, 60, 100, 60, 0), 0, [(5, False)]),
    ("one actual entry to be not touched with behavior", [(7, 58)], gen_rules(10, 60, 100, 60, 0), 7,
     [(7, False), (5, False)]),
    ("two entries, one of them to be replaced", [(7, 61), (6, 59)], gen_rules(10, 60, 0, 0, 0), 6,
     [(5, False), (6, False)]),
    ("replace one entry, use policies with different periods", [(8, 29), (6, 59), (7, 61), (9, 61)],
     gen_rules(10, 60, 100, 30, 0), 14, [(8, False), (6, False), (7, True), (5, False)]),
    ("two entries, both actual", [(7, 58), (6, 59)], gen_rules(10, 120, 100, 30, 0), 13,
     [(7, False), (6, False), (5, False)]),
]


@pytest.mark.parametrize(
    ("prev", "rules", "change_before", "expected"),
    [pytest.param(*c[1:], id=f"TestStoreScaleEvents/{c[0]}") for c in STORE_SCALE_EVENTS],
)
@pytest.mark.parametrize("direction", ["up", "down"])
def test_store_scale_events(prev, rules, change_before, expected, direction: str) -> None:
    events = ScaleEvents()
    stored = [ScaleEvent(c, NOW - age) for c, age in prev]
    setattr(events, direction, stored)
    assert replicas_change_per_period(60, stored, NOW) == change_before
    behavior = None
    if rules is not None:
        behavior = Behavior(rules, DEFAULT_SCALE_DOWN) if direction == "up" else Behavior(DEFAULT_SCALE_UP, rules)
    store_scale_event(events, behavior, 10, 15 if direction == "up" else 5, NOW)
    got = getattr(events, direction)
    assert [(e.replica_change, e.outdated) for e in got] == expected


# (name, recommendations [(replicas, age_s)], current, prenormalized, expected, up window, down window)
NORMALIZE_WITH_BEHAVIOR = [
    ("empty recommendations for scaling down", [], 100, 5, 5, 0, 0),
    ("simple scale down stabilization", [(4, 120), (5, 60)], 100, 3, 5, 0, 180),
    ("simple scale up stabilization", [(4, 120), (5, 60)], 1, 7, 4, 300, 0),
    ("no scale down stabilization", [(1, 120), (2, 60)], 100, 3, 3, 300, 0),
    ("no scale up stabilization", [(4, 120), (5, 60)], 1, 3, 3, 0, 300),
    ("no scale down stabilization, reuse recommendation element", [(10, 600), (9, 540)], 100, 3, 3, 0, 0),
    ("no scale up stabilization, reuse recommendation element", [(10, 600), (9, 540)], 1, 100, 100, 0, 0),
    ("scale down stabilization, reuse one of obsolete recommendation element",
     [(10, 600), (4, 60), (5, 120), (9, 540)], 100, 3, 5, 0, 180),
    ("scale up stabilization, reuse one of obsolete recommendation element",
     [(10, 6000), (6, 60), (5, 120), (9, 180)], 1, 100, 5, 300, 0),
    ("scale up and down stabilization, do not scale up when prenormalized rec goes down",
     [(2, 6000), (3, 180)], 2, 1, 2, 300, 300),
    ("scale up and down stabilization, do not scale down when prenormalized rec goes up",
     [(2, 6000), (1, 180)], 2, 3, 2, 300, 300),
]


@pytest.mark.parametrize(
    ("recs", "current", "desired", "expected", "up_window", "down_window"),
    [pytest.param(*c[1:], id=f"TestNormalizeDesiredReplicasWithBehavior/{c[0]}") for c in NORMALIZE_WITH_BEHAVIOR],
)
def test_normalize_with_behavior(recs, current, desired, expected, up_window, down_window) -> None:
    s = BehaviorStabilizer(up_window, down_window)
    s.seed((NOW - age, r) for r, age in recs)
    assert s.stabilize(NOW, current, desired)[0] == expected


@pytest.mark.parametrize(
    ("recs", "desired", "expected"),
    [
        pytest.param([], 5, 5, id="TestNormalizeDesiredReplicas/empty log"),
        pytest.param([(4, 120), (5, 60)], 3, 5, id="TestNormalizeDesiredReplicas/stabilize"),
        pytest.param([(1, 120), (2, 60)], 3, 3, id="TestNormalizeDesiredReplicas/no stabilize"),
        pytest.param([(10, 600), (9, 540)], 3, 3, id="TestNormalizeDesiredReplicas/no stabilize - old recommendations"),
        pytest.param([(10, 600), (4, 60), (5, 120), (9, 540)], 3, 5,
                     id="TestNormalizeDesiredReplicas/stabilize - old recommendations"),
    ],
)
def test_normalize_legacy(recs, desired, expected) -> None:
    s = LegacyStabilizer(300)
    s.seed((NOW - age, r) for r, age in recs)
    assert s.stabilize(NOW, desired) == expected


@pytest.mark.parametrize(
    ("current", "desired", "lo", "hi", "expected", "condition"),
    [
        pytest.param(5, 7, 3, 8, 7, "DesiredWithinRange", id="TestConvertDesiredReplicasWithRules/within range"),
        pytest.param(3, 1, 2, 8, 2, "TooFewReplicas", id="TestConvertDesiredReplicasWithRules/< minReplicas"),
        pytest.param(1, 0, 0, 10, 0, "DesiredWithinRange", id="TestConvertDesiredReplicasWithRules/zeroed in range"),
        pytest.param(20, 1000, 1, 10, 10, "TooManyReplicas", id="TestConvertDesiredReplicasWithRules/maxReplicas"),
        pytest.param(3, 1000, 1, 2000, legacy_scale_up_limit(3), "ScaleUpLimit",
                     id="TestConvertDesiredReplicasWithRules/scaleUpLimit"),
    ],
)
def test_convert_with_rules(current, desired, lo, hi, expected, condition) -> None:
    assert convert_with_rules(current, desired, lo, hi)[:2] == (expected, condition)
    assert legacy_scale_up_limit(3) == 6 and legacy_scale_up_limit(1) == 4  # max(2 x current, 4)


def _pods(n: int, ready: list[bool] | None = None, phases: list[str] | None = None) -> list[Pod]:
    return [Pod(f"test-pod-{i}", (phases or ["Running"] * n)[i], (ready or [True] * n)[i]) for i in range(n)]  # type: ignore[arg-type]


def _levels(levels: list[int]) -> dict[str, int]:
    return {f"test-pod-{i}": v for i, v in enumerate(levels)}


# Pods metric (GetMetricReplicas): (id, current, levels, target, readiness, phases, tol, expected, usage)
PODS_CASES = [
    ("TestReplicaCalcScaleUpCM", 3, [20000, 10000, 30000], 15000, None, None, TOL, 4, 20000),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", 3, [50000, 10000, 30000], 15000, [True, True, False], None,
     TOL, 6, 30000),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", 3, [50000, 15000, 30000], 15000,
     [False, True, False], None, TOL, 7, 31666),
    ("TestReplicaCalcScaleUpCMExternal (a podMetric upstream)", 1, [8600], 4400, None, None, TOL, 2, 8600),
    ("TestReplicaCalcScaleDownCM", 5, [12000] * 5, 20000, None, None, TOL, 3, 12000),
    ("TestReplicaCalcToleranceCM", 3, [20000, 21000, 21000], 20000, None, None, TOL, 3, 20666),
    # Missing pods: 0 on a scale-up, exactly the target on a scale-down (calcPlainMetricReplicas).
    ("derived: missing pods count as 0 on scale-up", 4, [3000, 3000], 1000, None, None, TOL, 6, 3000),
    ("derived: missing pods count as target on scale-down", 4, [200, 200], 1000, None, None, TOL, 3, 200),
    ("derived: missing pods that would flip the direction keep the count", 2, [1200], 1000, None, None, TOL, 2, 1200),
    ("derived: one missing pod of ten on scale-up", 10, [1500] * 9, 1000, None, None, TOL, 14, 1500),
    ("derived: fewer pods than spec replicas never scale up below current", 5, [4000], 1000, None,
     ["Running", "Running"], TOL, 5, 4000),
    ("derived: a Pending pod counts as 0 on scale-up", 3, [3000, 3000], 1000, None,
     ["Running", "Running", "Pending"], TOL, 6, 3000),
    ("derived: Failed pods are ignored", 2, [3000, 3000], 1000, None, ["Running", "Running", "Failed", "Failed"],
     TOL, 6, 3000),
    ("derived: scale-up tolerance 0.05 lets a 1.08 ratio through", 10, [1080] * 10, 1000, None, None,
     Tolerances(scale_down=0.1, scale_up=0.05), 11, 1080),
    ("derived: scale-down tolerance 0.1 holds a 0.92 ratio", 10, [920] * 10, 1000, None, None,
     Tolerances(scale_down=0.1, scale_up=0.05), 10, 920),
]


@pytest.mark.parametrize(
    ("current", "levels", "target", "readiness", "phases", "tol", "expected", "usage"),
    [pytest.param(*c[1:], id=c[0]) for c in PODS_CASES],
)
def test_pods_metric_replicas(current, levels, target, readiness, phases, tol, expected, usage) -> None:
    n = len(phases) if phases else current
    got = rc.get_metric_replicas(current, target, _pods(n, readiness, phases), _levels(levels), tol)
    assert got == (expected, usage)


@pytest.mark.parametrize(
    ("kind", "current", "value", "target", "readiness", "expected", "usage"),
    [
        pytest.param("object", 3, 20000, 15000, None, 4, 20000, id="TestReplicaCalcScaleUpCMObject"),
        pytest.param("object", 3, 50000, 10000, [False, True, False], 5, 50000,
                     id="TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods"),
        pytest.param("object", 5, 12000, 20000, None, 3, 12000, id="TestReplicaCalcScaleDownCMObject"),
        pytest.param("object", 3, 20666, 20000, None, 3, 20666, id="TestReplicaCalcToleranceCMObject"),
        pytest.param("object-per-pod", 3, 20000, 5000, None, 4, 6667, id="TestReplicaCalcScaleUpCMPerPodObject"),
        pytest.param("object-per-pod", 5, 6000, 2000, None, 3, 1200, id="TestReplicaCalcScaleDownPerPodCMObject"),
        pytest.param("object-per-pod", 4, 20166, 5000, None, 4, 5042, id="TestReplicaCalcTolerancePerPodCMObject"),
        pytest.param("external", 3, 8600, 4400, [False, True, False], 2, 8600,
                     id="TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods"),
        pytest.param("external", 5, 8600, 14334, None, 3, 8600, id="TestReplicaCalcScaleDownCMExternal"),
        pytest.param("external", 3, 8600, 8888, None, 3, 8600, id="TestReplicaCalcToleranceCMExternal"),
        pytest.param("external-per-pod", 3, 8600, 2150, None, 4, 2867, id="TestReplicaCalcScaleUpPerPodCMExternal"),
        pytest.param("external-per-pod", 5, 8600, 2867, None, 3, 1720, id="TestReplicaCalcScaleDownPerPodCMExternal"),
        pytest.param("external-per-pod", 3, 8600, 2900, None, 3, 2867, id="TestReplicaCalcTolerancePerPodCMExternal"),
    ],
)
def test_object_and_external_replicas(kind, current, value, target, readiness, expected, usage) -> None:
    pods = _pods(current, readiness)
    if kind == "object":
        got = rc.get_object_metric_replicas(current, target, value, TOL, pods)
    elif kind == "object-per-pod":
        got = rc.get_object_per_pod_metric_replicas(current, target, value, TOL)
    elif kind == "external":
        got = rc.get_external_metric_replicas(current, target, [value], TOL, pods)
    else:
        got = rc.get_external_per_pod_metric_replicas(current, target, [value], TOL)
    assert got == (expected, usage)


def test_metric_errors() -> None:
    with pytest.raises(MetricError, match="no pods returned"):
        rc.get_metric_replicas(1, 1000, [], {}, TOL)
    with pytest.raises(MetricError, match="did not receive metrics"):
        rc.get_metric_replicas(2, 1000, _pods(2, phases=["Pending", "Pending"]), _levels([5, 5]), TOL)
    assert rc.to_milli(1.9999) == 1999  # the adapter truncates: int64(value*1000)


QPS = MetricSpec("Pods", "qps", "AverageValue", 15000)


def _spec(*metrics: MetricSpec, lo: int = 2, hi: int = 6, behavior: Behavior | None = None) -> HpaSpec:
    return HpaSpec("test-hpa", "test-namespace", lo, hi, metrics, behavior)


def _conditions(decision) -> list[tuple[str, bool, str]]:
    return [(c.type, c.status, c.reason) for c in decision.conditions]


STATUS_OK = [("AbleToScale", True, "SucceededRescale"), ("ScalingActive", True, "ValidMetricFound"),
             ("ScalingLimited", False, "DesiredWithinRange")]
TOO_MANY = [*STATUS_OK[:2], ("ScalingLimited", True, "TooManyReplicas")]
OBJ = MetricSpec("Object", "qps", "Value", 15000, described_kind="Deployment")
OBJ_AVG = MetricSpec("Object", "qps", "AverageValue", 10000, described_kind="Deployment")
EXT = MetricSpec("External", "qps", "Value", 6666)
EXT_AVG = MetricSpec("External", "qps", "AverageValue", 2222)


@pytest.mark.parametrize(
    ("spec", "current", "reading", "pods", "expected", "conditions"),
    [
        pytest.param(_spec(QPS), 3, PodsReading(_levels([20000, 10000, 30000])), _pods(3), 4, STATUS_OK,
                     id="TestScaleUpCM"),
        pytest.param(_spec(QPS), 3, PodsReading(_levels([50000, 10000, 30000])), _pods(3, [True, True, False]), 6,
                     STATUS_OK, id="TestScaleUpCMUnreadyAndHotCpuNoLessScale"),
        pytest.param(_spec(QPS), 3, PodsReading(_levels([50000, 15000, 30000])), _pods(3, [False, True, False]), 6,
                     TOO_MANY, id="TestScaleUpCMUnreadyandCpuHot"),
        pytest.param(_spec(OBJ), 3, ObjectReading(20000), _pods(3), 4, STATUS_OK, id="TestScaleUpCMObject"),
        pytest.param(_spec(OBJ, lo=0), 0, ObjectReading(20000), [], 2, STATUS_OK, id="TestScaleUpFromZeroCMObject"),
        pytest.param(_spec(MetricSpec("Object", "qps", "Value", 1000, described_kind="Deployment"), lo=0), 0,
                     ObjectReading(1000), [], 1, STATUS_OK, id="TestScaleUpFromZeroIgnoresToleranceCMObject"),
        pytest.param(_spec(OBJ_AVG), 3, ObjectReading(40000), _pods(3), 4, STATUS_OK, id="TestScaleUpPerPodCMObject"),
        pytest.param(_spec(EXT), 3, ExternalReading((8600,)), _pods(3), 4, STATUS_OK, id="TestScaleUpCMExternal"),
        pytest.param(_spec(EXT_AVG), 3, ExternalReading((8600,)), _pods(3), 4, STATUS_OK,
                     id="TestScaleUpPerPodCMExternal"),
    ],
)
def test_controller_scale_up(spec, current, reading, pods, expected, conditions) -> None:
    d = HpaController(spec).sync(NOW, current, [reading], pods=pods)
    assert (d.replicas, _conditions(d)) == (expected, conditions)
    assert d.reason.endswith("above target")


@pytest.mark.parametrize(
    ("metric", "reading"),
    [
        pytest.param(MetricSpec("Pods", "qps", "AverageValue", 20000), PodsReading(_levels([12000] * 5)),
                     id="TestScaleDownCM"),
        pytest.param(MetricSpec("Object", "qps", "Value", 20000, described_kind="Deployment"), ObjectReading(12000),
                     id="TestScaleDownCMObject"),
        pytest.param(MetricSpec("Object", "qps", "AverageValue", 20000, described_kind="Deployment"),
                     ObjectReading(60000), id="TestScaleDownPerPodCMObject"),
        pytest.param(MetricSpec("External", "qps", "Value", 14400), ExternalReading((8600,)), id="TestScaleDownCMExternal"),
        pytest.param(MetricSpec("External", "qps", "AverageValue", 3000), ExternalReading((8600,)),
                     id="TestScaleDownPerPodCMExternal"),
    ],
)
def test_controller_scale_down_after_initial_size(metric, reading) -> None:
    """TestScaleDownStabilizeInitialSize holds 5 while the first recommendation (the current size) is in
    the window; upstream's TestScaleDown* tables start with an empty history, i.e. after the window."""
    c = HpaController(_spec(metric))
    first = c.sync(0.0, 5, [reading], pods=_pods(5))
    assert first.replicas == 5 and first.desired == 3
    assert ("AbleToScale", True, "ScaleDownStabilized") in _conditions(first)
    later = c.sync(300.0, 5, [reading], pods=_pods(5))  # the legacy window keeps t >= now - 300
    assert later.replicas == 5
    d = c.sync(315.0, 5, [reading], pods=_pods(5))
    assert (d.replicas, d.reason, _conditions(d)) == (3, "All metrics below target", STATUS_OK)


def test_invalid_metrics_allow_scale_up_but_not_down() -> None:
    """computeReplicasForMetrics (TestScaleUpOneMetricEmpty, TestScaleDownOneMetricEmpty,
    TestScaleUpBothMetricsEmpty, with a Pods metric where upstream uses CPU)."""
    spec = _spec(QPS, MetricSpec("External", "qps", "Value", 100))
    up = HpaController(spec).sync(NOW, 3, [PodsReading(_levels([20000, 10000, 30000])), None], pods=_pods(3))
    assert up.replicas == 4 and up.error.startswith("invalid metrics (1 invalid out of 2)")
    assert ("ScalingActive", True, "ValidMetricFound") in _conditions(up)

    down = HpaController(spec).sync(NOW, 5, [PodsReading(_levels([5000] * 5)), None], pods=_pods(5))
    assert (down.replicas, _conditions(down)) == (
        5, [("AbleToScale", True, "SucceededGetScale"), ("ScalingActive", False, "FailedGetExternalMetric")])

    both = HpaController(spec).sync(NOW, 3, [None, None], pods=_pods(3))
    assert (both.replicas, both.scaled) == (3, False)
    assert ("ScalingActive", False, "FailedGetPodsMetric") in _conditions(both)


def test_largest_proposal_wins_and_bounds_apply() -> None:
    spec = _spec(QPS, OBJ, hi=10)
    d = HpaController(spec).sync(NOW, 3, [PodsReading(_levels([20000] * 3)), ObjectReading(45000)], pods=_pods(3))
    assert (d.desired, d.replicas) == (9, 6)  # object proposes 9; the legacy cap is max(2 x 3, 4) = 6
    assert d.reason == "Deployment metric qps above target" and d.limited_by == "ScaleUpLimit"
    assert [m.proposal for m in d.metrics] == [4, 9]
    over = HpaController(spec).sync(NOW, 12, [None, None])
    assert (over.replicas, over.reason) == (10, "Current number of replicas above Spec.MaxReplicas")
    zero = HpaController(spec).sync(NOW, 0, [None, None])
    assert zero.replicas == 0 and ("ScalingActive", False, "ScalingDisabled") in _conditions(zero)


def test_configured_tolerance_and_time_order() -> None:
    behavior = Behavior(ScalingRules(0, "Max", DEFAULT_SCALE_UP.policies, tolerance=0.01), DEFAULT_SCALE_DOWN)
    c = HpaController(_spec(MetricSpec("Pods", "q", "AverageValue", 1000), hi=20, behavior=behavior))
    assert c.tolerances == Tolerances(scale_down=0.1, scale_up=0.01)
    assert c.sync(0.0, 10, [PodsReading.of({f"pod-{i}": 1.05 for i in range(10)})]).replicas == 11
    with pytest.raises(ValueError, match="backwards"):
        c.sync(-1.0, 10, [None])
