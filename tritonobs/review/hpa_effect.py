"""The effect of an HPA change: one trace replayed through the old and the new autoscaler (the project's
HPA engine, tritonobs/hpa), compared by replicas over time, GPU-hours and seconds above target. Pure.

Without a trace file a synthetic one is used: idle 5 min, a 5 min ramp to a peak, 10 min at the peak, then
idle 10 min; the peak asks for about 80 % of the new maximum at the old target, so both sides scale.
Like `tritonobs simulate`, new replicas are ready at once (no node launch, image pull or model load).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from tritonobs.hpa.manifest import HpaSpec, parse_hpa
from tritonobs.hpa.simulate import SyncRow, Trace, simulate

SYNC_S = 15.0


@dataclass(frozen=True)
class Side:
    label: str
    rows: tuple[SyncRow, ...]
    target: float  # per-pod target of the driven metric
    gpu_hours: float
    seconds_above_target: float
    max_replicas_reached: int
    first_scale_up_s: float | None  # from the start of the trace


@dataclass(frozen=True)
class Effect:
    trace_name: str
    metric: str
    old: Side
    new: Side


def synthetic(peak: float, step_s: float = SYNC_S) -> Trace:
    times, totals = [], []
    t = 0.0
    while t <= 1800:
        if t < 300:
            v = 0.0
        elif t < 600:
            v = peak * (t - 300) / 300
        elif t < 1200:
            v = peak
        else:
            v = 0.0
        times.append(t)
        totals.append(round(v, 6))
        t += step_s
    return Trace(tuple(times), tuple(totals))


def _side(label: str, spec: HpaSpec, trace: Trace, gpus_per_pod: int) -> Side:
    rows = tuple(simulate(spec, trace, sync_period_s=SYNC_S))
    target = spec.metrics[0].target_milli / 1000
    gpu_h = above = 0.0
    first = None
    for i, r in enumerate(rows):
        dt = (rows[i + 1].time_s - r.time_s) if i + 1 < len(rows) else 0.0
        gpu_h += r.replicas * gpus_per_pod * dt / 3600
        if r.per_pod_value > target:
            above += dt
        if first is None and r.replicas > spec.min_replicas:
            first = r.time_s - trace.times[0]
    return Side(label, rows, target, round(gpu_h, 3), above, max((r.replicas for r in rows), default=0), first)


def keda_as_hpa(text: str) -> str:
    """The HPA KEDA makes of a ScaledObject (keda-hpa-<name>): min max(1, minReplicaCount), its max, the advanced
    behavior, and one External AverageValue metric per trigger at the trigger's threshold (the first one is
    driven by the trace, as `simulate` does)."""
    so: dict[str, Any] = yaml.safe_load(text) or {}
    spec = so.get("spec") or {}
    advanced = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {})
    metrics = [{"type": "External", "external": {"metric": {"name": f"s{i}-{t.get('type', 'trigger')}"},
                "target": {"type": "AverageValue", "averageValue": str((t.get("metadata") or {}).get("threshold"))}}}
               for i, t in enumerate(spec.get("triggers") or [])]
    hpa: dict[str, Any] = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": advanced.get("name") or f"keda-hpa-{(so.get('metadata') or {}).get('name')}",
                     "namespace": (so.get("metadata") or {}).get("namespace") or "default"},
        "spec": {"scaleTargetRef": spec.get("scaleTargetRef") or {}, "metrics": metrics,
                 "minReplicas": max(1, int(spec.get("minReplicaCount", 0))),
                 "maxReplicas": int(spec.get("maxReplicaCount", 100))},
    }
    if "behavior" in advanced:
        hpa["spec"]["behavior"] = advanced["behavior"]
    return yaml.safe_dump(hpa, sort_keys=True)


def effect(old_text: str, new_text: str, trace: Trace | None, trace_name: str, gpus_per_pod: int = 1) -> Effect | None:
    """None when either side has no metric to drive (nothing to compare)."""
    old, new = parse_hpa(old_text, "base hpa"), parse_hpa(new_text, "head hpa")
    if not old.metrics or not new.metrics:
        return None
    if trace is None:
        peak = 0.8 * new.max_replicas * old.metrics[0].target_milli / 1000
        trace, trace_name = synthetic(peak), f"synthetic ramp to {peak:g} (total over pods) and back"
    return Effect(trace_name, new.metrics[0].description, _side("base", old, trace, gpus_per_pod),
                  _side("head", new, trace, gpus_per_pod))
