"""Stabilization windows, scale events and rate limits: a port of kubernetes horizontal.go.

Time is injected (seconds, non-decreasing). Upstream keeps every recommendation in a slice it rescans on
each sync; here each window is a monotonic deque (rolling max for scale-down, rolling min for scale-up),
which gives the same answer in O(1) amortised per sync whatever the window length. Scale events keep
upstream's exact structure (a slice whose outdated entries are reused) because the rate limits sum them
per policy period; the slice stays as short as the number of rescales in the longest period.
Cut-offs follow upstream: a behavior window keeps recommendations strictly newer than now - window, the
legacy window (no behavior) keeps those not older than it; an event counts if strictly newer than
now - periodSeconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from tritonobs.hpa.manifest import Behavior, ScalingRules

MIN_INT32 = -(2**31)
MAX_INT32 = 2**31 - 1

# Without behavior the controller caps a scale-up at max(2 x current, 4) per sync.
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0


class RecommendationWindow:
    """Rolling max (keep_max) or min of (time, replicas) over the last `window_s` seconds."""

    def __init__(self, window_s: float, *, keep_max: bool, inclusive_cutoff: bool = False) -> None:
        self.window_s = window_s
        self.keep_max = keep_max
        self.inclusive_cutoff = inclusive_cutoff
        self._entries: deque[tuple[float, int]] = deque()

    def _evict(self, now_s: float) -> None:
        cutoff = now_s - self.window_s
        entries = self._entries
        if self.inclusive_cutoff:
            while entries and entries[0][0] < cutoff:
                entries.popleft()
        else:
            while entries and entries[0][0] <= cutoff:
                entries.popleft()

    def extreme(self, now_s: float, candidate: int) -> int:
        """max/min of `candidate` and every recommendation still inside the window at `now_s`."""
        self._evict(now_s)
        if not self._entries:
            return candidate
        best = self._entries[0][1]
        return max(best, candidate) if self.keep_max else min(best, candidate)

    def add(self, now_s: float, replicas: int) -> None:
        entries = self._entries
        # An older entry that the new one dominates can never be the answer again.
        if self.keep_max:
            while entries and entries[-1][1] <= replicas:
                entries.pop()
        else:
            while entries and entries[-1][1] >= replicas:
                entries.pop()
        entries.append((now_s, replicas))


class BehaviorStabilizer:
    """stabilizeRecommendationWithBehaviors: clamp the current count into [min over up-window, max over
    down-window] of the recommendations, then record the unstabilized one."""

    def __init__(self, up_window_s: float, down_window_s: float) -> None:
        self.up = RecommendationWindow(up_window_s, keep_max=False)
        self.down = RecommendationWindow(down_window_s, keep_max=True)

    def record(self, now_s: float, replicas: int) -> None:
        self.up.add(now_s, replicas)
        self.down.add(now_s, replicas)

    def seed(self, history: Iterable[tuple[float, int]]) -> None:
        for t, r in sorted(history):
            self.record(t, r)

    def stabilize(self, now_s: float, current: int, desired: int) -> tuple[int, str, str]:
        up_rec = self.up.extreme(now_s, desired)
        down_rec = self.down.extreme(now_s, desired)
        recommendation = min(max(current, up_rec), down_rec)
        self.up.add(now_s, desired)
        self.down.add(now_s, desired)
        if desired >= current:
            return (recommendation, "ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest recent recommendation")
        return (recommendation, "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation")


class LegacyStabilizer:
    """stabilizeRecommendation (no behavior): the max of the recommendations in the downscale window."""

    def __init__(self, window_s: float) -> None:
        self.window = RecommendationWindow(window_s, keep_max=True, inclusive_cutoff=True)

    def record(self, now_s: float, replicas: int) -> None:
        self.window.add(now_s, replicas)

    def seed(self, history: Iterable[tuple[float, int]]) -> None:
        for t, r in sorted(history):
            self.record(t, r)

    def stabilize(self, now_s: float, desired: int) -> int:
        best = self.window.extreme(now_s, desired)
        self.record(now_s, desired)
        return best


@dataclass
class ScaleEvent:
    replica_change: int  # absolute value of the change
    timestamp: float
    outdated: bool = False


def replicas_change_per_period(period_s: int, events: Iterable[ScaleEvent], now_s: float) -> int:
    """getReplicasChangePerPeriod: sum of the changes strictly newer than now - period."""
    cutoff = now_s - period_s
    return sum(e.replica_change for e in events if e.timestamp > cutoff)


def longest_policy_period(rules: ScalingRules) -> int:
    return max((p.period_seconds for p in rules.policies), default=0)


def mark_scale_events_outdated(events: list[ScaleEvent], longest_period_s: int, now_s: float) -> None:
    cutoff = now_s - longest_period_s
    for e in events:
        if e.timestamp < cutoff:
            e.outdated = True


@dataclass
class ScaleEvents:
    """The scale-up and scale-down events upstream keeps per HPA (scaleUpEvents / scaleDownEvents)."""

    up: list[ScaleEvent] = field(default_factory=list)
    down: list[ScaleEvent] = field(default_factory=list)


def _store(events: list[ScaleEvent], rules: ScalingRules, change: int, now_s: float) -> None:
    mark_scale_events_outdated(events, longest_policy_period(rules), now_s)
    slot = None
    for i, e in enumerate(events):
        if e.outdated:
            slot = i  # the last outdated entry is the one reused
    event = ScaleEvent(change, now_s, False)
    if slot is None:
        events.append(event)
    else:
        events[slot] = event


def store_scale_event(events: ScaleEvents, behavior: Behavior | None, prev: int, new: int, now_s: float) -> None:
    """storeScaleEvent: record a rescale, reusing an outdated slot. Without behavior nothing is kept,
    since only the behavior policies read the events."""
    if behavior is None:
        return
    if new > prev:
        _store(events.up, behavior.scale_up, new - prev, now_s)
    else:
        _store(events.down, behavior.scale_down, prev - new, now_s)


def _period_start(current: int, rules_period: int, up: list[ScaleEvent], down: list[ScaleEvent], now_s: float) -> int:
    added = replicas_change_per_period(rules_period, up, now_s)
    deleted = replicas_change_per_period(rules_period, down, now_s)
    return current - added + deleted


def scale_up_limit(current: int, up: list[ScaleEvent], down: list[ScaleEvent], rules: ScalingRules, now_s: float) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow right now."""
    if rules.select_policy == "Disabled":
        return current
    pick_min = rules.select_policy == "Min"
    result = MAX_INT32 if pick_min else MIN_INT32
    for policy in rules.policies:
        start = _period_start(current, policy.period_seconds, up, down, now_s)
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            # Rounded up, or a small percentage could never add a pod.
            proposed = math.ceil(float(start) * (1 + float(policy.value) / 100))
        result = min(result, proposed) if pick_min else max(result, proposed)
    return result


def scale_down_limit(current: int, up: list[ScaleEvent], down: list[ScaleEvent], rules: ScalingRules, now_s: float) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow right now."""
    if rules.select_policy == "Disabled":
        return current
    pick_min_change = rules.select_policy == "Min"
    result = MIN_INT32 if pick_min_change else MAX_INT32
    for policy in rules.policies:
        start = _period_start(current, policy.period_seconds, up, down, now_s)
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(float(start) * (1 - float(policy.value) / 100))  # Go int32() truncates
        result = max(result, proposed) if pick_min_change else min(result, proposed)
    return result


def convert_with_behavior_rate(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    up_rules: ScalingRules,
    down_rules: ScalingRules,
    up_events: list[ScaleEvent],
    down_events: list[ScaleEvent],
    now_s: float,
) -> tuple[int, str, str]:
    """convertDesiredReplicasWithBehaviorRate: bounds and policy rate limits. Returns (replicas, reason, msg)."""
    if desired > current:
        limit = max(scale_up_limit(current, up_events, down_events, up_rules, now_s), current)
        if max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
            message = "the desired replica count is increasing faster than the maximum scale rate"
        else:
            allowed, reason = max_replicas, "TooManyReplicas"
            message = "the desired replica count is more than the maximum replica count"
        if desired > allowed:
            return allowed, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current, up_events, down_events, down_rules, now_s), current)
        if min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
            message = "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            allowed, reason = min_replicas, "TooFewReplicas"
            message = "the desired replica count is less than the minimum replica count"
        if desired < allowed:
            return allowed, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def legacy_scale_up_limit(current: int) -> int:
    """calculateScaleUpLimit: int32(max(2 x current, 4))."""
    return int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int) -> tuple[int, str, str]:
    """convertDesiredReplicasWithRules: the legacy (no behavior) bounds and scale-up cap."""
    limit = legacy_scale_up_limit(current)
    if max_replicas > limit:
        maximum, reason = limit, "ScaleUpLimit"
        message = "the desired replica count is increasing faster than the maximum scale rate"
    else:
        maximum, reason = max_replicas, "TooManyReplicas"
        message = "the desired replica count is more than the maximum replica count"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
