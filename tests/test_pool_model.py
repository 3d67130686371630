"""The lab's g5 pool model: placement, node launch, image pull, model load, drain and consolidation timings."""

from __future__ import annotations

import pytest

from tritonobs.core.config import GpuPool
from tritonobs.lab.pool import DrainReplica, PoolModel, PoolTiming, StartReplica


def _pool(gpus_per_pod: int = 4, gpus_per_node: int = 4) -> PoolModel:
    # The example stack's pool (90 s launch, 240 s pull, 180 s load, 180 s consolidation) at time factor 10.
    timing = PoolTiming.from_spec(GpuPool(), time_factor=10)
    return PoolModel(timing, gpus_per_node=gpus_per_node, gpus_per_pod=gpus_per_pod)


def _events(pool: PoolModel) -> list[tuple[float, str, str]]:
    return [(round(e.t, 6), e.kind, e.subject) for e in sorted(pool.events, key=lambda e: e.t)]


def test_timing_is_the_spec_divided_by_the_factor() -> None:
    assert PoolTiming.from_spec(GpuPool(), 10) == PoolTiming(9.0, 24.0, 18.0, 18.0, 1.0, 30.0)
    assert PoolTiming.from_spec(GpuPool(), 1) == PoolTiming(90.0, 240.0, 180.0, 180.0, 10.0, 300.0)


def test_a_failed_replica_is_not_ready_and_restarts_after_the_back_off() -> None:
    pool = PoolModel(PoolTiming.from_spec(GpuPool(), time_factor=1), gpus_per_node=4, gpus_per_pod=4)
    pool.warm(0.0, 1)
    pool.replica_ready("triton-1", 1.0)
    pool.advance(1.0)
    assert pool.ready_replicas == 1
    pool.replica_failed("triton-1", 5.0, "tritonserver killed by signal 9")
    assert (pool.replicas, pool.ready_replicas) == (1, 0)  # still a pod of the Deployment, not Ready
    assert pool.advance(14.9) == []  # the kubelet's 10 s back-off
    assert pool.advance(15.0) == [StartReplica("triton-1")]  # the container restarts: a new replica
    pool.replica_ready("triton-1", 16.0)
    pool.advance(16.0 + 180.0)  # it loads the model again
    assert pool.ready_replicas == 1
    pool.replica_failed("triton-1", 200.0, "again")
    assert pool.advance(219.9) == [] and pool.advance(220.0) == [StartReplica("triton-1")]  # back-off doubled
    failed = [e for e in pool.events if e.kind == "pod_failed"]
    assert [(e.t, e.subject) for e in failed] == [(5.0, "triton-1"), (200.0, "triton-1")]
    assert failed[0].detail == "tritonserver killed by signal 9; container restarts in 10.0s (restart 1)"


def test_scale_up_launches_nodes_pulls_loads_then_ready() -> None:
    pool = _pool()
    assert pool.warm(0.0, 1) == [StartReplica("triton-1")]
    pool.replica_ready("triton-1", 2.0)
    pool.advance(2.0)
    assert (pool.replicas, pool.ready_replicas, pool.ready_nodes) == (1, 1, 1)

    # 4 GPUs per pod on 4-GPU nodes: each new pod needs a new node.
    assert pool.set_replicas(10.0, 3) == []
    assert (pool.replicas, pool.ready_replicas, pool.ready_nodes, pool.launched_nodes) == (3, 1, 1, 3)
    assert pool.advance(18.9) == []
    assert pool.advance(30.0) == []  # nodes Ready at 19, images pulling until 43
    assert pool.ready_nodes == 3
    assert pool.advance(43.0) == [StartReplica("triton-2"), StartReplica("triton-3")]
    pool.replica_ready("triton-2", 45.0)  # the real replica came up before the simulated load ended
    pool.replica_ready("triton-3", 70.0)  # ... and after it: Ready waits for both
    pool.advance(70.0)
    assert pool.ready_pod_names() == ["triton-1", "triton-2", "triton-3"]
    assert _events(pool)[5:] == [
        (10.0, "pod_created", "triton-2"),
        (10.0, "pod_created", "triton-3"),
        (10.0, "node_launched", "g5-2"),
        (10.0, "node_launched", "g5-3"),
        (19.0, "node_ready", "g5-2"),
        (19.0, "pod_scheduled", "triton-2"),
        (19.0, "node_ready", "g5-3"),
        (19.0, "pod_scheduled", "triton-3"),
        (43.0, "pod_started", "triton-2"),
        (43.0, "pod_started", "triton-3"),
        (61.0, "pod_ready", "triton-2"),
        (70.0, "pod_ready", "triton-3"),
    ]
    assert pool.next_due() is None


def test_scale_down_drains_newest_ready_first_and_consolidates_empty_nodes() -> None:
    pool = _pool()
    pool.warm(0.0, 1)
    pool.replica_ready("triton-1", 1.0)
    pool.set_replicas(10.0, 3)
    pool.advance(43.0)
    pool.replica_ready("triton-2", 43.0)
    pool.replica_ready("triton-3", 62.0)
    pool.advance(62.0)
    assert pool.ready_replicas == 3

    # triton-3 has been Ready for the shortest time: the ReplicaSet deletes it first.
    assert pool.set_replicas(100.0, 2) == [DrainReplica("triton-3")]
    assert pool.set_replicas(101.0, 1) == [DrainReplica("triton-2")]
    assert (pool.replicas, pool.ready_replicas) == (1, 1)
    assert pool.pod_names() == ["triton-1"]
    # Draining pods hold their GPUs: nothing is consolidated before they stop.
    pool.advance(200.0)
    assert pool.ready_nodes == 3
    pool.replica_stopped("triton-3", 201.0)
    pool.replica_stopped("triton-2", 203.0)
    pool.advance(218.9)
    assert pool.ready_nodes == 3
    pool.advance(219.0)
    assert pool.ready_nodes == 2
    pool.advance(221.0)
    assert pool.ready_nodes == 1
    assert [e for e in _events(pool) if e[1] in ("pod_deleted", "node_removed")] == [
        (201.0, "pod_deleted", "triton-3"),
        (203.0, "pod_deleted", "triton-2"),
        (219.0, "node_removed", "g5-3"),
        (221.0, "node_removed", "g5-2"),
    ]


def test_a_node_that_still_has_the_image_skips_the_pull() -> None:
    pool = _pool()
    pool.warm(0.0, 1)
    pool.replica_ready("triton-1", 0.5)
    pool.set_replicas(1.0, 2)
    pool.advance(34.0)  # node 10, pull 34
    pool.replica_ready("triton-2", 34.0)
    pool.advance(52.0)
    pool.set_replicas(60.0, 1)
    pool.replica_stopped("triton-2", 61.0)
    # Scale up again before g5-2 is consolidated (61 + 18 = 79): the pod lands on it and starts at once.
    assert pool.set_replicas(70.0, 2) == [StartReplica("triton-3")]
    pool.replica_ready("triton-3", 71.0)
    pool.advance(88.0)
    assert (pool.pods["triton-3"].node, pool.pods["triton-3"].scheduled_at) == ("g5-2", 70.0)
    assert pool.pods["triton-3"].ready_at == 88.0  # 70 + 18 s model load, no 24 s pull
    assert pool.launched_nodes == 2


def test_small_pods_share_a_node_and_unplaced_pods_are_deleted_at_once() -> None:
    pool = _pool(gpus_per_pod=1, gpus_per_node=4)
    pool.warm(0.0, 1)
    # Three more 1-GPU pods fit beside the first: no node launch, the image is there.
    actions = pool.set_replicas(5.0, 4)
    assert actions == [StartReplica("triton-2"), StartReplica("triton-3"), StartReplica("triton-4")]
    assert pool.launched_nodes == 1 and pool.free_gpus("g5-1") == 0
    # A fifth needs a second node; scaled away before it lands: deleted at once (nothing to drain).
    pool.set_replicas(6.0, 5)
    assert pool.launched_nodes == 2
    assert pool.set_replicas(7.0, 4) == []
    assert pool.pods["triton-5"].deleted
    # The node launched for it still comes up, empty, and is consolidated 18 s later.
    pool.advance(15.0)
    assert pool.ready_nodes == 2
    pool.advance(33.0)
    assert pool.ready_nodes == 1
    assert ("node_removed", "g5-2") in [(k, s) for _, k, s in _events(pool)]


def test_scale_down_prefers_pods_that_are_not_ready() -> None:
    pool = _pool()
    pool.warm(0.0, 2)
    for p in ("triton-1", "triton-2"):
        pool.replica_ready(p, 1.0)
    pool.set_replicas(2.0, 3)  # triton-3: pending on a launching node
    pool.advance(2.0)
    assert pool.set_replicas(3.0, 2) == []
    assert pool.pods["triton-3"].deleted and pool.ready_replicas == 2


@pytest.mark.parametrize("factor", [1.0, 30.0])
def test_pool_reports_the_time_of_each_transition_not_the_tick(factor: float) -> None:
    pool = PoolModel(PoolTiming.from_spec(GpuPool(), factor), 4, 4)
    pool.warm(0.0, 1)
    pool.set_replicas(0.0, 2)
    pool.advance(10_000.0)  # one late tick: events still carry their own times
    launch = GpuPool().node_launch_seconds / factor
    pull = GpuPool().image_pull_seconds / factor
    ready_at = {e.kind: e.t for e in pool.events if e.subject in ("g5-2", "triton-2")}
    assert ready_at["node_ready"] == pytest.approx(launch)
    assert ready_at["pod_started"] == pytest.approx(launch + pull)
