"""The lab's pool model with warm capacity: placeholder pods hold Ready nodes with the Triton image, a Triton
pod preempts one and starts without node launch or image pull, the placeholder's replacement node follows."""

from __future__ import annotations

from tritonobs.core.config import GpuPool
from tritonobs.lab.pool import PoolModel, PoolTiming, StartReplica
from tritonobs.lab.warm_pool import WarmPoolModel

# The example pool at time factor 1: 90 s node launch, 240 s pull, 180 s model load, 180 s consolidation.
TIMING = PoolTiming.from_spec(GpuPool(), time_factor=1)


def _notes(pool: PoolModel) -> list[tuple[float, str, str]]:
    return [(e.t, e.subject, e.detail) for e in sorted(pool.events, key=lambda e: e.t) if e.kind == "note"]


def _started(pool: PoolModel, pod: str) -> float:
    return next(e.t for e in pool.events if e.kind == "pod_started" and e.subject == pod)


def test_a_warm_node_saves_node_launch_and_image_pull() -> None:
    cold = PoolModel(TIMING, gpus_per_node=4, gpus_per_pod=4)
    warm = WarmPoolModel(TIMING, gpus_per_node=4, gpus_per_pod=4)
    warm.warm_placeholders(0.0, 1)
    for pool in (cold, warm):
        pool.warm(0.0, 1)
        pool.set_replicas(100.0, 2)
        pool.advance(2000.0)
    assert _started(cold, "triton-2") == 100.0 + 90 + 240  # node launch + image pull
    assert _started(warm, "triton-2") == 100.0  # bound at once to a node that has the image
    assert warm.preemptions == 1
    # The evicted placeholder's node: launched at 100, Ready at 190, image pulled by 430.
    assert _notes(warm) == [
        (100.0, "warm-placeholder-1", "placeholder preempted on g5-1 by triton-2; pending again"),
        (190.0, "warm-placeholder-1", "placeholder scheduled on g5-3"),
        (430.0, "warm-placeholder-1", "placeholder running: g5-3 has the Triton image"),
    ]
    launched = [(e.t, e.subject, e.detail) for e in warm.events if e.kind == "node_launched"]
    assert launched == [(100.0, "g5-3", "for warm-placeholder-1 (warm capacity)")]
    assert warm.warm_ready_nodes == 1 and warm.replicas == 2


def test_a_warm_node_is_never_consolidated_and_its_start_is_the_model_load() -> None:
    warm = WarmPoolModel(TIMING, gpus_per_node=4, gpus_per_pod=4)
    warm.warm_placeholders(0.0, 1)
    warm.warm(0.0, 1)
    warm.replica_ready("triton-1", 1.0)
    warm.advance(10_000.0)
    assert [n.removed for n in warm.nodes.values()] == [False, False]
    assert warm.set_replicas(10_000.0, 2) == [StartReplica("triton-2")]
    warm.replica_ready("triton-2", 10_005.0)
    warm.advance(10_000.0 + 180)
    assert warm.ready_replicas == 2  # Ready after the model load alone


def test_two_pods_one_warm_node_one_preempts_one_waits_for_a_node() -> None:
    warm = WarmPoolModel(TIMING, gpus_per_node=4, gpus_per_pod=4)
    warm.warm_placeholders(0.0, 1)
    warm.warm(0.0, 1)
    warm.set_replicas(50.0, 3)
    warm.advance(5000.0)
    assert _started(warm, "triton-2") == 50.0
    assert _started(warm, "triton-3") == 50.0 + 90 + 240
    assert warm.preemptions == 1


def test_small_pods_pack_placeholders_two_to_a_node() -> None:
    warm = WarmPoolModel(TIMING, gpus_per_node=4, gpus_per_pod=2)
    warm.warm_placeholders(0.0, 4)
    assert warm.ready_nodes == 2 and warm.warm_ready_nodes == 2
    assert all(warm.free_gpus(n) == 0 for n in warm.nodes)
