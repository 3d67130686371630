"""The g5 pool model with warm capacity (`gpu_pool.warm_nodes`): placeholder pods Triton pods preempt.

What it adds to `PoolModel` (pool.py), as render/warm.py deploys it on a cluster:
- Placeholders: pods of the lowest priority, each the size of a Triton pod in GPUs, that never run a replica.
  They are scheduled like any pod (a Ready node with room, else Karpenter launches a node for them), and a
  node holding one is not empty, so it is never consolidated.
- The pre-pulled image: a placeholder runs the Triton image, so `image_pull` after it is bound its node has
  the image, and a Triton pod landing there later skips the pull.
- Preemption: a pending Triton pod that finds no Ready node with room evicts a placeholder from a Ready node
  (the one whose node has the image first) and is bound there at once; the evicted placeholder goes pending
  and Karpenter launches a node for it, so the warm capacity refills behind the scale-up.
Placeholder changes are recorded as `note` events (they are not the scale target's pods); their nodes' launch,
readiness and removal are ordinary node events, so a run's GPU-hours include the warm nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tritonobs.core.config import GpuPool
from tritonobs.lab.pool import Node, PoolModel, PoolTiming


@dataclass
class Placeholder:
    name: str
    created_at: float
    node: str | None = None
    nominated: str | None = None
    scheduled_at: float | None = None
    pulled: bool = False


def pods_per_node(pool: GpuPool) -> int:
    return max(1, pool.gpus_per_node // pool.gpus_per_pod)


@dataclass
class WarmPoolModel(PoolModel):
    placeholder_prefix: str = "warm-placeholder"
    placeholders: dict[str, Placeholder] = field(default_factory=dict)
    preemptions: int = 0
    _ph_seq: int = 0

    @classmethod
    def from_spec(cls, pool: GpuPool, time_factor: float = 1.0, **names: str) -> WarmPoolModel:
        return cls(PoolTiming.from_spec(pool, time_factor), pool.gpus_per_node, pool.gpus_per_pod, **names)  # type: ignore[arg-type]

    # --- driver API ---
    def warm_placeholders(self, now: float, count: int) -> None:
        """Start with `count` placeholders on Ready nodes that have the image (a cluster that has been warm for a
        while), packed `gpus_per_node // gpus_per_pod` to a node."""
        per_node = max(1, self.gpus_per_node // self.gpus_per_pod)
        node: Node | None = None
        for i in range(count):
            if i % per_node == 0:
                node = self._new_node(now, ready_due=now)
                node.ready, node.has_image = True, True
                self._record(now, "node_ready", node.name, "initial (warm)")
            ph = self._new_placeholder(now)
            assert node is not None
            ph.node, ph.scheduled_at, ph.pulled = node.name, now, True
            node.empty_since = None

    @property
    def warm_ready_nodes(self) -> int:
        """Ready nodes holding a bound placeholder (capacity a Triton pod can take at once)."""
        return len({p.node for p in self.placeholders.values() if p.node and self.nodes[p.node].ready})

    # --- placeholders in the pool's accounting ---
    def free_gpus(self, node_name: str) -> int:
        held = sum(self.gpus_per_pod for p in self.placeholders.values() if node_name in (p.node, p.nominated))
        return super().free_gpus(node_name) - held

    def _has_pods(self, node_name: str) -> bool:
        return super()._has_pods(node_name) or any(
            node_name in (p.node, p.nominated) for p in self.placeholders.values()
        )

    def _next_due(self, now: float) -> float | None:
        due = super()._next_due(now)
        times = [] if due is None else [due]
        for p in self.placeholders.values():
            if p.node is not None and not p.pulled and self.nodes[p.node].ready:
                assert p.scheduled_at is not None
                t = p.scheduled_at + (0.0 if self.nodes[p.node].has_image else self.timing.image_pull)
                times.append(t)
        if now == float("inf"):
            return min(times, default=None)
        return min((t for t in times if t <= now), default=None)

    def _apply(self, t: float) -> None:
        newly_ready = [n for n in self.nodes.values() if not n.removed and not n.ready and n.ready_due <= t]
        super()._apply(t)
        for n in newly_ready:
            for p in self.placeholders.values():
                if p.nominated == n.name:
                    p.node, p.nominated, p.scheduled_at = n.name, None, n.ready_due
                    n.empty_since = None
                    self._record(n.ready_due, "note", p.name, f"placeholder scheduled on {n.name}")
        for p in self.placeholders.values():
            if p.node is not None and not p.pulled and self.nodes[p.node].ready:
                assert p.scheduled_at is not None
                node = self.nodes[p.node]
                due = p.scheduled_at + (0.0 if node.has_image else self.timing.image_pull)
                if due <= t:
                    p.pulled, node.has_image = True, True
                    self._record(due, "note", p.name, f"placeholder running: {node.name} has the Triton image")

    def _schedule(self, now: float) -> None:
        super()._schedule(now)  # Triton pods first: they outrank every placeholder
        for pod in self._pending():
            if pod.nominated is not None:
                continue
            victim = self._victim()
            if victim is None:
                break
            node = self.nodes[victim.node]  # type: ignore[index]
            self._evict(victim, now, by=pod.name)
            self._bind(pod, node, now)
        for ph in self._pending_placeholders():
            for node in sorted(self.nodes.values(), key=lambda n: n.name):
                if node.ready and not node.removed and self.free_gpus(node.name) >= self.gpus_per_pod:
                    ph.node, ph.scheduled_at = node.name, now
                    node.empty_since = None
                    self._record(now, "note", ph.name, f"placeholder scheduled on {node.name}")
                    break

    def _launch_for_pending(self, now: float) -> None:
        super()._launch_for_pending(now)
        for ph in self._pending_placeholders():
            launching = [n for n in self.nodes.values() if not n.ready and not n.removed]
            fits = [n for n in sorted(launching, key=lambda n: n.name) if self.free_gpus(n.name) >= self.gpus_per_pod]
            room = fits[0] if fits else None
            if room is None:
                room = self._new_node(now, ready_due=now + self.timing.node_launch)
                self._record(now, "node_launched", room.name, f"for {ph.name} (warm capacity)")
            ph.nominated = room.name

    # --- internals ---
    def _new_placeholder(self, now: float) -> Placeholder:
        self._ph_seq += 1
        ph = Placeholder(f"{self.placeholder_prefix}-{self._ph_seq}", now)
        self.placeholders[ph.name] = ph
        return ph

    def _pending_placeholders(self) -> list[Placeholder]:
        return sorted((p for p in self.placeholders.values() if p.node is None and p.nominated is None),
                      key=lambda p: (p.created_at, p.name))

    def _victim(self) -> Placeholder | None:
        """A placeholder on a Ready node whose eviction makes room: image already pulled first, then by name."""
        bound = [p for p in self.placeholders.values() if p.node is not None and self.nodes[p.node].ready
                 and not self.nodes[p.node].removed
                 and self.free_gpus(p.node) + self.gpus_per_pod >= self.gpus_per_pod]
        bound.sort(key=lambda p: (not self.nodes[p.node].has_image, p.node, p.name))  # type: ignore[index]
        return bound[0] if bound else None

    def _evict(self, ph: Placeholder, now: float, by: str) -> None:
        self.preemptions += 1
        self._record(now, "note", ph.name, f"placeholder preempted on {ph.node} by {by}; pending again")
        ph.node = ph.nominated = ph.scheduled_at = None
        ph.pulled = False
        ph.created_at = now
