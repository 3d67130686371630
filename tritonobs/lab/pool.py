"""A model of the g5 GPU pool under Karpenter, for the lab. Pure: no processes, no clock of its own.

What it models (timings from `spec.gpu_pool`, divided by the lab's time factor):
- A pod needs `gpus_per_pod` free GPUs on one Ready node. The scheduler binds a pending pod to a Ready node
  with room; Karpenter launches new nodes (NodeClaims) for pending pods nothing can hold and nominates them.
- A node is Ready `node_launch` after launch. A pod bound to it pulls the image (`image_pull`, skipped when the
  node already has it), then its container starts (the driver starts a real Triton replica), then it loads the
  model: it is Ready when `model_load` has passed AND the driver reports the real replica ready.
- Scale-down removes pods in the ReplicaSet's order (unscheduled, then not started, then not Ready, then the
  most recently Ready). A started pod is drained by the driver and holds its GPUs until it has stopped.
- A node left empty is consolidated (removed) `consolidate_after` later unless a pod lands on it first.
- A replica that stops serving (its process exits, or it fails its probes) fails its pod's container: the pod
  is not Ready, and the kubelet restarts the container after its crash back-off (10 s, doubling per restart,
  at most 5 min); the restarted container loads the model again.

The driver calls `advance(now)` often and performs the returned actions; every transition is recorded as a
timeline event at the time it happened in the model (due times, not tick times).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tritonobs.core.config import GpuPool
from tritonobs.core.timeline import Event, EventKind

# The kubelet's container restart back-off: 10 s, doubled per restart, capped at 5 minutes.
RESTART_BACKOFF_S = 10.0
RESTART_BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class PoolTiming:
    node_launch: float
    image_pull: float
    model_load: float
    consolidate_after: float
    restart_backoff: float = RESTART_BACKOFF_S
    restart_backoff_max: float = RESTART_BACKOFF_MAX_S

    @classmethod
    def from_spec(cls, pool: GpuPool, time_factor: float = 1.0) -> PoolTiming:
        f = time_factor
        return cls(
            pool.node_launch_seconds / f,
            pool.image_pull_seconds / f,
            pool.model_load_seconds / f,
            pool.consolidate_after_seconds / f,
            RESTART_BACKOFF_S / f,
            RESTART_BACKOFF_MAX_S / f,
        )


@dataclass
class Node:
    name: str
    launched_at: float
    ready_due: float
    ready: bool = False
    has_image: bool = False
    empty_since: float | None = None
    removed: bool = False


@dataclass
class Pod:
    name: str
    created_at: float
    node: str | None = None  # bound (PodScheduled)
    nominated: str | None = None  # waiting for a launching node
    scheduled_at: float | None = None
    started_at: float | None = None  # container start: the real replica is started
    replica_up_at: float | None = None  # the driver saw the real replica ready
    ready_at: float | None = None
    load_seconds: float = 0.0  # simulated model load after container start
    terminating: bool = False
    deleted: bool = False
    restarts: int = 0
    restart_at: float | None = None  # the crashed container starts again no earlier than this

    @property
    def active(self) -> bool:
        return not self.terminating and not self.deleted


@dataclass(frozen=True)
class StartReplica:
    pod: str


@dataclass(frozen=True)
class DrainReplica:
    pod: str


Action = StartReplica | DrainReplica


@dataclass
class PoolModel:
    timing: PoolTiming
    gpus_per_node: int
    gpus_per_pod: int
    pod_prefix: str = "triton"
    node_prefix: str = "g5"
    pods: dict[str, Pod] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    _actions: list[Action] = field(default_factory=list)
    _pod_seq: int = 0
    _node_seq: int = 0

    # --- driver API ---
    def warm(self, now: float, replicas: int) -> list[Action]:
        """Start with `replicas` pods already placed on Ready nodes that have the image (no delays but the
        real replica's own start): the state a cluster is in before a verification run."""
        for _ in range(replicas):
            node = self._new_node(now, ready_due=now)
            node.ready, node.has_image = True, True
            self._record(now, "node_ready", node.name, "initial")
            pod = self._new_pod(now)
            pod.load_seconds = 0.0
            self._bind(pod, node, now)
            pod.started_at = now
            self._record(now, "pod_started", pod.name)
            self._actions.append(StartReplica(pod.name))
        return self._take_actions()

    def set_replicas(self, now: float, replicas: int) -> list[Action]:
        """The Deployment's replicas changed: create pods, or pick pods to delete as a ReplicaSet does."""
        active = [p for p in self.pods.values() if p.active]
        for _ in range(replicas - len(active)):
            self._new_pod(now)
        if replicas < len(active):
            for pod in sorted(active, key=_deletion_rank)[: len(active) - replicas]:
                self._terminate(pod, now)
        return self.advance(now)

    def replica_ready(self, pod_name: str, now: float) -> None:
        pod = self.pods[pod_name]
        if pod.replica_up_at is None:
            pod.replica_up_at = now

    def replica_failed(self, pod_name: str, now: float, why: str) -> None:
        """The pod's replica stopped serving: not Ready now; its container restarts after the back-off."""
        pod = self.pods[pod_name]
        if not pod.active or pod.started_at is None:
            return
        backoff = min(self.timing.restart_backoff * 2**pod.restarts, self.timing.restart_backoff_max)
        pod.restarts += 1
        pod.started_at = pod.replica_up_at = pod.ready_at = None
        pod.load_seconds = self.timing.model_load
        pod.restart_at = now + backoff
        self._record(now, "pod_failed", pod.name, f"{why}; container restarts in {backoff:.1f}s (restart {pod.restarts})")

    def replica_stopped(self, pod_name: str, now: float) -> None:
        """The drained replica has exited: the pod is gone and its GPUs are free."""
        pod = self.pods[pod_name]
        if not pod.deleted:
            self._delete(pod, now)

    def advance(self, now: float) -> list[Action]:
        """Apply every transition due by `now`, in time order, and return the actions the driver must take."""
        while True:
            due = self._next_due(now)
            if due is not None:
                self._apply(due)
                continue
            # Placement happens at `now`, after everything due earlier (a node consolidated at t < now is gone).
            self._schedule(now)
            self._launch_for_pending(now)
            if self._next_due(now) is None:
                break
        return self._take_actions()

    # --- observations ---
    @property
    def replicas(self) -> int:
        return sum(1 for p in self.pods.values() if p.active)

    @property
    def ready_replicas(self) -> int:
        return sum(1 for p in self.pods.values() if p.active and p.ready_at is not None)

    @property
    def ready_nodes(self) -> int:
        return sum(1 for n in self.nodes.values() if n.ready and not n.removed)

    @property
    def launched_nodes(self) -> int:
        return sum(1 for n in self.nodes.values() if not n.removed)

    def pod_names(self) -> list[str]:
        """Pods the HPA lists for the scale target (not terminating), oldest first."""
        return [p.name for p in self.pods.values() if p.active]

    def ready_pod_names(self) -> list[str]:
        return [p.name for p in self.pods.values() if p.active and p.ready_at is not None]

    def next_due(self) -> float | None:
        """The earliest future model transition (lets a driver sleep exactly until it)."""
        return self._next_due(float("inf"))

    def free_gpus(self, node_name: str) -> int:
        used = sum(
            self.gpus_per_pod
            for p in self.pods.values()
            if not p.deleted and (p.node == node_name or p.nominated == node_name)
        )
        return self.gpus_per_node - used

    # --- internals ---
    def _record(self, t: float, kind: EventKind, subject: str, detail: str = "") -> None:
        self.events.append(Event(t, kind, subject, detail))

    def _take_actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def _new_pod(self, now: float) -> Pod:
        self._pod_seq += 1
        pod = Pod(f"{self.pod_prefix}-{self._pod_seq}", now, load_seconds=self.timing.model_load)
        self.pods[pod.name] = pod
        self._record(now, "pod_created", pod.name)
        return pod

    def _new_node(self, now: float, ready_due: float) -> Node:
        self._node_seq += 1
        node = Node(f"{self.node_prefix}-{self._node_seq}", now, ready_due)
        self.nodes[node.name] = node
        return node

    def _bind(self, pod: Pod, node: Node, t: float) -> None:
        pod.node, pod.nominated, pod.scheduled_at = node.name, None, t
        node.empty_since = None
        self._record(t, "pod_scheduled", pod.name, node.name)

    def _pull_due(self, pod: Pod) -> float:
        assert pod.node is not None and pod.scheduled_at is not None
        node = self.nodes[pod.node]
        due = pod.scheduled_at + (0.0 if node.has_image else self.timing.image_pull)
        return due if pod.restart_at is None else max(due, pod.restart_at)

    def _next_due(self, now: float) -> float | None:
        """Earliest pending transition time <= now (or overall when now is inf)."""
        times: list[float] = []
        for n in self.nodes.values():
            if n.removed:
                continue
            if not n.ready:
                times.append(n.ready_due)
            elif n.empty_since is not None and not self._has_pods(n.name):
                times.append(n.empty_since + self.timing.consolidate_after)
        for p in self.pods.values():
            if not p.active or p.node is None:
                continue
            if p.started_at is None and self.nodes[p.node].ready:
                times.append(self._pull_due(p))
            elif p.started_at is not None and p.ready_at is None and p.replica_up_at is not None:
                times.append(max(p.started_at + p.load_seconds, p.replica_up_at))
        due = [t for t in times if t <= now]
        if now == float("inf"):
            return min(times, default=None)
        return min(due, default=None)

    def _apply(self, t: float) -> None:
        """Apply every transition due exactly at t (order: nodes, image pulls, readiness, consolidation)."""
        for n in sorted(self.nodes.values(), key=lambda n: n.name):
            if not n.removed and not n.ready and n.ready_due <= t:
                n.ready = True
                self._record(n.ready_due, "node_ready", n.name)
                for p in self.pods.values():
                    if p.nominated == n.name and p.active:
                        self._bind(p, n, n.ready_due)
                if not self._has_pods(n.name):
                    n.empty_since = n.ready_due
        for p in self.pods.values():
            if p.active and p.node is not None and p.started_at is None and self.nodes[p.node].ready:
                due = self._pull_due(p)
                if due <= t:
                    self.nodes[p.node].has_image = True
                    p.started_at = due
                    self._record(due, "pod_started", p.name)
                    self._actions.append(StartReplica(p.name))
            elif p.active and p.started_at is not None and p.ready_at is None and p.replica_up_at is not None:
                due = max(p.started_at + p.load_seconds, p.replica_up_at)
                if due <= t:
                    p.ready_at = due
                    self._record(due, "pod_ready", p.name)
        for n in sorted(self.nodes.values(), key=lambda n: n.name):
            if n.ready and not n.removed and n.empty_since is not None and not self._has_pods(n.name):
                due = n.empty_since + self.timing.consolidate_after
                if due <= t:
                    n.removed = True
                    self._record(due, "node_removed", n.name, "consolidated (empty)")

    def _has_pods(self, node_name: str) -> bool:
        return any(not p.deleted and (p.node == node_name or p.nominated == node_name) for p in self.pods.values())

    def _pending(self) -> list[Pod]:
        return sorted(
            (p for p in self.pods.values() if p.active and p.node is None), key=lambda p: (p.created_at, p.name)
        )

    def _schedule(self, now: float) -> None:
        for pod in self._pending():
            if pod.nominated is not None:
                continue
            for node in sorted(self.nodes.values(), key=lambda n: n.name):
                if node.ready and not node.removed and self.free_gpus(node.name) >= self.gpus_per_pod:
                    self._bind(pod, node, now)
                    break

    def _launch_for_pending(self, now: float) -> None:
        for pod in self._pending():
            if pod.nominated is not None:
                continue
            launching = [n for n in self.nodes.values() if not n.ready and not n.removed]
            fits = [n for n in sorted(launching, key=lambda n: n.name) if self.free_gpus(n.name) >= self.gpus_per_pod]
            room = fits[0] if fits else None
            if room is None:
                room = self._new_node(now, ready_due=now + self.timing.node_launch)
                self._record(now, "node_launched", room.name, f"for {pod.name}")
            pod.nominated = room.name

    def _terminate(self, pod: Pod, now: float) -> None:
        pod.terminating = True
        self._record(now, "pod_terminating", pod.name)
        if pod.started_at is not None:
            self._actions.append(DrainReplica(pod.name))  # GPUs stay held until the replica has stopped
        else:
            self._delete(pod, now)

    def _delete(self, pod: Pod, now: float) -> None:
        pod.deleted, pod.terminating = True, True
        node_name = pod.node or pod.nominated
        pod.nominated = None
        self._record(now, "pod_deleted", pod.name)
        if node_name is not None:
            node = self.nodes[node_name]
            if node.ready and not node.removed and not self._has_pods(node.name):
                node.empty_since = now


def _deletion_rank(pod: Pod) -> tuple[int, int, int, float, float]:
    """ReplicaSet deletion order, simplified: unassigned < assigned, not started < started, not Ready <
    Ready, then the pod Ready for the shortest time, then the newest."""
    return (
        0 if pod.node is None else 1,
        0 if pod.started_at is None else 1,
        0 if pod.ready_at is None else 1,
        -(pod.ready_at or 0.0),
        -pod.created_at,
    )
