"""The timeline of a scaling verification run: typed samples and events, in seconds since the run started.

Both watchers (the real cluster's and the lab's) produce the same timeline, so budgets, report and plot are
written once. Times are floats relative to `RunInfo.started_at`; an object that existed before the run
(a pod, a node) may carry a negative time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EventKind = Literal[
    "load_start",  # the load profile begins
    "load_step",  # the offered load changes level (value: new level)
    "load_stop",  # the load ends (or is stopped by Ctrl-C)
    "scale_decision",  # the HPA computed a new desired replica count (value: desired)
    "hpa_scale",  # the HPA changed the scale target (status.lastScaleTime; value: replicas)
    "hpa_condition",  # an HPA condition changed (subject: type, detail: status/reason)
    "pod_created",
    "pod_scheduled",
    "pod_started",  # container started (model load begins)
    "pod_ready",
    "pod_terminating",
    "pod_deleted",
    "node_launched",  # NodeClaim created (or Node created when Karpenter is absent)
    "node_ready",
    "node_removed",
    "pod_failed",  # a replica stopped serving: its process exited, or it failed its probes (detail: why)
    "metrics_unreachable",  # Prometheus stopped answering (subject: its URL, detail: the error)
    "metrics_recovered",  # Prometheus answers again (detail: for how long it did not)
    "note",  # anything else worth a line in the report (interrupts, warnings)
]

# Events that mean something broke underneath the run: the console prints them as they happen.
FAULT_KINDS: tuple[str, ...] = ("pod_failed", "metrics_unreachable", "metrics_recovered")

EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Sample:
    """What the watcher saw at one instant. None = not observed (source unavailable at that moment)."""

    t: float
    load: float | None = None  # offered load: requests/s (open loop) or concurrency (closed loop)
    signal: float | None = None  # the HPA's current metric value (average per pod), as the HPA reports it
    desired_replicas: int | None = None
    current_replicas: int | None = None  # pods the scale target has (HPA currentReplicas)
    ready_replicas: int | None = None
    nodes: int | None = None  # Ready nodes of the GPU pool
    ttft_p90: float | None = None  # seconds, from Prometheus
    ttft_p95: float | None = None  # seconds, from Prometheus (the SLO's percentile)
    signal_prometheus: float | None = None  # the same average computed from Prometheus now (no adapter/HPA lag)
    requests_ok: int | None = None  # requests completed so far by the run's own load (None: external load)
    requests_failed: int | None = None  # requests failed so far (errors, cancelled by a dying replica, ...)
    engine_waiting: float | None = None  # requests waiting inside the engines, summed over pods (Prometheus)


@dataclass(frozen=True)
class Event:
    t: float
    kind: EventKind
    subject: str = ""  # pod or node name, condition type
    detail: str = ""
    value: float | None = None


@dataclass(frozen=True)
class RunInfo:
    """What the run was: everything the budgets and the report need besides the observations."""

    mode: Literal["lab", "cluster"]
    stack: str
    namespace: str
    hpa: str
    signal: str
    target: float  # per pod
    min_replicas: int
    max_replicas: int
    slo_ttft_seconds: float  # the strictest TTFT SLO of the models (p95)
    gpus_per_node: int
    gpus_per_pod: int
    hourly_price_usd: float  # per node
    time_factor: float = 1.0  # lab: lab seconds x factor = real-cluster seconds
    profile: str = ""  # load profile, human readable
    started_at: float = 0.0  # unix seconds of t = 0
    # Scoring (verify/score.py): offered load one replica carries at the SLO (None: not known, no score),
    # and how long an added replica takes to serve (node launch + image pull + model load, lab seconds).
    capacity_per_replica: float | None = None
    cold_start_seconds: float = 0.0
    ttft_window_seconds: float = 0.0  # the client's TTFT p95 is taken over this window (the rate window)
    policy: str = ""  # --compare: the scaling policy of this run (reactive, predictive, warm)


@dataclass
class Timeline:
    info: RunInfo
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    interrupted: bool = False
    # (sent at, TTFT or None if it failed) per request of the run's own load; not in to_dict (too long).
    requests: list[tuple[float, float | None]] | None = None
    # Shares of an in-cluster load whose client records could not be read ("pod: why"): the request-based
    # budgets cannot pass without them.
    load_problems: list[str] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def event(self, t: float, kind: EventKind, subject: str = "", detail: str = "", value: float | None = None) -> None:
        self.events.append(Event(t, kind, subject, detail, value))

    def sorted_events(self) -> list[Event]:
        # Stable on equal times: the order the watcher recorded them in is the causal order.
        return sorted(self.events, key=lambda e: e.t)

    def first(self, kind: EventKind, after: float = float("-inf")) -> Event | None:
        return next((e for e in self.sorted_events() if e.kind == kind and e.t >= after), None)

    def of_kind(self, *kinds: EventKind) -> list[Event]:
        return [e for e in self.sorted_events() if e.kind in kinds]

    def metrics_gaps(self) -> list[tuple[float, float]]:
        """(from, to) of every time Prometheus did not answer; an open gap ends at the end of the run."""
        gaps, down = [], None
        for e in self.of_kind("metrics_unreachable", "metrics_recovered"):
            if e.kind == "metrics_unreachable" and down is None:
                down = e.t
            elif e.kind == "metrics_recovered" and down is not None:
                gaps.append((down, e.t))
                down = None
        if down is not None:
            gaps.append((down, max(self.end, down)))
        return gaps

    @property
    def end(self) -> float:
        times = [s.t for s in self.samples] + [e.t for e in self.events]
        return max(times, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": asdict(self.info),
            "interrupted": self.interrupted,
            "samples": [asdict(s) for s in sorted(self.samples, key=lambda s: s.t)],
            "events": [asdict(e) for e in self.sorted_events()],
            **({"load_problems": list(self.load_problems)} if self.load_problems else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        return cls(
            RunInfo(**data["info"]),
            [Sample(**s) for s in data.get("samples", [])],
            [Event(**e) for e in data.get("events", [])],
            bool(data.get("interrupted", False)),
            load_problems=[str(p) for p in data.get("load_problems", [])],
        )
