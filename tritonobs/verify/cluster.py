"""Watch a real cluster during a verification run: HPA status, the Deployment's pods, the GPU pool's nodes
(NodeClaims when Karpenter's CRDs are served), and the signal and TTFT from Prometheus.

Each `poll(now)` lists the objects once and turns what changed since the last poll into timeline events,
timed by the API's own timestamps (creationTimestamp, condition lastTransitionTime, container startedAt,
HPA lastScaleTime) rather than by when the poll happened to see them. Objects that already exist at the
first poll are the baseline: they produce no events, only their later transitions do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tritonobs.core import kinds, measures
from tritonobs.core.errors import ExternalError
from tritonobs.core.kinds import NODECLAIM
from tritonobs.core.model import Stack
from tritonobs.core.timeline import EventKind, Sample, Timeline
from tritonobs.hpa.manifest import parse_quantity
from tritonobs.kube import custom_metrics, hpa
from tritonobs.kube.client import JsonObj, Kube
from tritonobs.prom.client import PrometheusClient, QueryError

NODEPOOL_LABEL = "karpenter.sh/nodepool"


def parse_time(text: Any) -> float | None:
    """RFC 3339 as the API writes it ('2024-01-01T00:00:00Z') -> unix seconds."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def condition(obj: JsonObj, type_: str) -> JsonObj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def true_since(obj: JsonObj, type_: str) -> float | None:
    """lastTransitionTime of a condition that is True now (None when False or absent)."""
    c = condition(obj, type_)
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime")) or parse_time((obj.get("metadata") or {}).get("creationTimestamp"))


def container_started(pod: JsonObj) -> float | None:
    times = [
        parse_time(((s.get("state") or {}).get("running") or {}).get("startedAt"))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    found = [t for t in times if t is not None]
    return min(found) if found else None


@dataclass
class _Tracked:
    marks: set[str] = field(default_factory=set)  # transitions already recorded (or part of the baseline)
    ready: bool = False


# (event kind, when it happened) for each transition an object can make, in lifecycle order.
Transitions = Callable[[JsonObj], list[tuple[EventKind, float | None]]]


def pod_transitions(pod: JsonObj) -> list[tuple[EventKind, float | None]]:
    meta = pod.get("metadata") or {}
    return [
        ("pod_created", parse_time(meta.get("creationTimestamp"))),
        ("pod_scheduled", true_since(pod, "PodScheduled")),
        ("pod_started", container_started(pod)),
        ("pod_ready", true_since(pod, "Ready")),
    ]


def node_transitions(obj: JsonObj) -> list[tuple[EventKind, float | None]]:
    return [
        ("node_launched", parse_time((obj.get("metadata") or {}).get("creationTimestamp"))),
        ("node_ready", true_since(obj, "Ready")),
    ]


class ClusterWatcher:
    def __init__(
        self,
        kube: Kube,
        stack: Stack,
        timeline: Timeline,
        prometheus: PrometheusClient | None,
        load: Callable[[], float | None] | None = None,
        requests: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.kube = kube
        self.stack = stack
        self.tl = timeline
        self.prom = prometheus
        self.load = load
        self.requests = requests  # (ok, failed) of the run's own load
        self.t0 = timeline.info.started_at
        self._health: dict[str, tuple[bool, int]] = {}  # pod -> (Ready, restarts) at the last poll
        self._prom_down_since: float | None = None
        self._t = 0.0  # time of the poll in progress
        self._first = True
        self._pods: dict[str, _Tracked] = {}
        self._nodes: dict[str, _Tracked] = {}
        self._terminating: set[str] = set()
        self._desired: int | None = None
        self._last_scale: float | None = None
        self._conditions: dict[str, tuple[str, str]] = {}
        self._prom_failed = False
        self._nodeclaims: bool | None = None

    # --- one observation ---
    def poll(self, now: float) -> Sample:
        t = self._t = now - self.t0
        hpa_obj = self.kube.get(kinds.HPA, self.stack.effective_hpa_name, self.stack.namespace)
        state = hpa.state_of(hpa_obj, self.stack.effective_hpa_name)
        self._hpa_events(hpa_obj or {}, t)
        pods = self.kube.list(kinds.POD, self.stack.namespace, label_selector=custom_metrics.pod_selector(self.stack))
        pods = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        self._diff(self._pods, pods, pod_transitions, "pod_deleted", t)
        self._terminations(pods, t)
        self._failures(pods, t)
        pool = self.stack.spec.gpu_pool
        node_selector = ",".join(f"{k}={v}" for k, v in sorted(pool.node_selector.items()))
        nodes = self.kube.list(kinds.NODE, label_selector=node_selector)
        if self._nodeclaims is None:
            self._nodeclaims = self.kube.served(NODECLAIM)
        # With Karpenter a node's life starts at its NodeClaim (launch), not at Node registration.
        launched = self.kube.list(NODECLAIM, label_selector=f"{NODEPOOL_LABEL}={pool.nodepool}") if self._nodeclaims else nodes
        self._diff(self._nodes, launched, node_transitions, "node_removed", t)
        if self._first:
            ready_pods = sum(1 for p in pods if true_since(p, "Ready") is not None)
            what = "NodeClaim(s)" if self._nodeclaims else "node(s)"
            self.tl.event(t, "note", "baseline", f"{len(pods)} pod(s) ({ready_pods} Ready), {len(launched)} {what} at start")
        self._first = False
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        p90, p95 = self._ttft()
        names = [str(p["metadata"]["name"]) for p in live]
        sample = Sample(
            t=t,
            load=self.load() if self.load else self._query(measures.completed_per_second(self.stack)),
            signal=_signal(state),
            desired_replicas=state.desired_replicas,
            current_replicas=state.current_replicas,
            ready_replicas=sum(1 for p in live if true_since(p, "Ready") is not None),
            nodes=sum(1 for n in nodes if true_since(n, "Ready") is not None),
            ttft_p90=p90,
            ttft_p95=p95,
            signal_prometheus=self._signal_from_prometheus(names),
            requests_ok=self.requests()[0] if self.requests else None,
            requests_failed=self.requests()[1] if self.requests else None,
            engine_waiting=self._query(measures.engine_waiting(self.stack)),
        )
        self.tl.add(sample)
        return sample

    def _failures(self, pods: Iterable[JsonObj], t: float) -> None:
        """A replica that stops serving: a container restart (crash, liveness probe), or Ready -> not Ready
        while not terminating (readiness probe failing)."""
        for p in pods:
            meta = p.get("metadata") or {}
            name = str(meta.get("name"))
            statuses = (p.get("status") or {}).get("containerStatuses") or []
            restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
            ready = true_since(p, "Ready") is not None
            before = self._health.get(name)
            self._health[name] = (ready, restarts)
            if before is None or meta.get("deletionTimestamp"):
                continue
            if restarts > before[1]:
                last = next(((s.get("lastState") or {}).get("terminated") for s in statuses
                             if (s.get("lastState") or {}).get("terminated")), None) or {}
                why = f"{last.get('reason', 'terminated')}, exit code {last.get('exitCode', '?')}" if last else "restarted"
                self.tl.event(t, "pod_failed", name, f"container restarted ({why}; restartCount {restarts})")
            elif before[0] and not ready:
                self.tl.event(t, "pod_failed", name, "no longer Ready (readiness probe failing)")

    # --- HPA ---
    def _hpa_events(self, obj: JsonObj, t: float) -> None:
        status = obj.get("status") or {}
        desired = status.get("desiredReplicas")
        last_scale = parse_time(status.get("lastScaleTime"))
        scaled_now = last_scale is not None and last_scale != self._last_scale and not self._first
        if scaled_now and last_scale is not None:
            self.tl.event(last_scale - self.t0, "hpa_scale", self.stack.effective_hpa_name, value=desired)
        if desired is not None and desired != self._desired and not self._first:
            at = last_scale - self.t0 if scaled_now and last_scale is not None else t
            self.tl.event(at, "scale_decision", self.stack.effective_hpa_name, value=desired)
        self._desired, self._last_scale = desired, last_scale
        for c in status.get("conditions") or []:
            key = (str(c.get("status")), str(c.get("reason")))
            if self._conditions.get(str(c.get("type"))) == key:
                continue
            self._conditions[str(c.get("type"))] = key
            since = parse_time(c.get("lastTransitionTime"))
            at = since - self.t0 if since is not None and since >= self.t0 else t
            self.tl.event(at, "hpa_condition", str(c.get("type")), f"{key[0]} {key[1]}: {c.get('message', '')}")

    # --- pods and nodes ---
    def _diff(
        self, tracked: dict[str, _Tracked], objs: Iterable[JsonObj], transitions: Transitions, gone: EventKind, t: float
    ) -> None:
        seen = set()
        for obj in objs:
            name = str((obj.get("metadata") or {}).get("name"))
            seen.add(name)
            new = name not in tracked
            state = tracked.setdefault(name, _Tracked())
            for kind, when in transitions(obj):
                ready_kind = kind in ("pod_ready", "node_ready")
                if when is None:
                    if ready_kind:
                        state.ready = False
                    continue
                again = ready_kind and not state.ready  # Ready may drop and come back
                if kind not in state.marks or again:
                    state.marks.add(kind)
                    if not (new and self._first):
                        self.tl.event(when - self.t0, kind, name)
                if ready_kind:
                    state.ready = True
        for name in sorted(set(tracked) - seen):
            del tracked[name]
            self.tl.event(t, gone, name)

    def _terminations(self, pods: Iterable[JsonObj], t: float) -> None:
        for p in pods:
            name = str(p["metadata"]["name"])
            if p["metadata"].get("deletionTimestamp") and name not in self._terminating:
                self._terminating.add(name)
                if not self._first:
                    self.tl.event(t, "pod_terminating", name)

    # --- Prometheus ---
    def _query(self, expr: str) -> float | None:
        if self.prom is None:
            return None
        try:
            result = self.prom.query(expr)
        except QueryError as e:  # before ExternalError, its base: Prometheus answered, refusing the query
            if not self._prom_failed:  # say it once, keep watching the cluster
                self.tl.event(self.tl.end, "note", "prometheus", f"query failed: {e.detail}")
            self._prom_failed = True
            return None
        except ExternalError as e:  # Prometheus does not answer: an outage, named, until it answers again
            if self._prom_down_since is None:
                self._prom_down_since = self._t
                self.tl.event(self._t, "metrics_unreachable", self.prom.url, str(e).removeprefix(self.prom.url + ": "))
            return None
        if self._prom_down_since is not None:
            self.tl.event(self._t, "metrics_recovered", self.prom.url, f"after {self._t - self._prom_down_since:.1f}s")
            self._prom_down_since = None
        values = [s.value for s in result if s.value == s.value]  # NaN: no requests in the window
        return values[0] if values else None

    def _signal_from_prometheus(self, pods: list[str]) -> float | None:
        """The first signal averaged over the pods that have a value, as AverageValue does."""
        if self.prom is None or not pods or not self.stack.signals:
            return None
        try:
            result = self.prom.query(measures.adapter_query(self.stack, self.stack.signals[0], pods))
        except (QueryError, ExternalError):
            return None
        values = [s.value for s in result if math.isfinite(s.value)]
        return sum(values) / len(values) if values else None

    def _ttft(self) -> tuple[float | None, float | None]:
        return (
            self._query(measures.ttft_quantile(self.stack, 0.9)),
            self._query(measures.ttft_quantile(self.stack, measures.SLO_QUANTILE)),
        )


def _signal(state: hpa.HpaState) -> float | None:
    """The HPA's current value of its first metric that has one, as `kubectl get hpa` shows it."""
    for r in state.readings:
        if r.current is not None:
            try:
                return float(parse_quantity(r.current))
            except ValueError:
                continue
    return None
