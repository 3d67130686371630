"""Scoring against the oracle and the ideal reactive controller: expectations computed by hand."""

from __future__ import annotations

import pytest

from tritonobs.verify.score import (
    Pool,
    Window,
    hold,
    needed,
    nodes_for,
    observed,
    reference_curves,
    references,
    window_min,
)

POOL = Pool(min_replicas=1, max_replicas=5, gpus_per_pod=4, gpus_per_node=4, cold_s=10.0)


def test_step_function_helpers() -> None:
    pts = [(0.0, 2.0), (20.0, 6.0)]
    assert hold(pts, -1.0, before=9.0) == 9.0
    assert hold(pts, 0.0) == 2.0 and hold(pts, 19.9) == 2.0 and hold(pts, 20.0) == 6.0
    assert window_min([(0.0, 3.0), (10.0, 1.0), (15.0, 3.0)], 12.0, 30.0) == 1.0
    assert window_min([(0.0, 3.0), (10.0, 1.0), (15.0, 3.0)], 15.0, 30.0) == 3.0


def test_needed_rounds_up_and_clamps() -> None:
    assert needed(0.0, 2.0, POOL) == 1  # min replicas
    assert needed(6.0, 2.0, POOL) == 3  # exactly 3 replicas' worth: not 4
    assert needed(6.1, 2.0, POOL) == 4
    assert needed(100.0, 2.0, POOL) == 5  # max replicas
    assert nodes_for(3, Pool(1, 5, 1, 4, 0.0)) == 1 and nodes_for(5, Pool(1, 5, 1, 4, 0.0)) == 2


def test_step_up_oracle_and_ideal_reactive() -> None:
    # Load 2 then 6 at t=20, capacity 2 per replica: 1 replica, then 3. Cold start 10 s.
    oracle, reactive = references([(0.0, 2.0), (20.0, 6.0)], 2.0, POOL, Window(0.0, 40.0))
    assert oracle.slo_time_share == 1.0 and oracle.slo_request_share == 1.0 and oracle.over_slo_seconds == 0.0
    assert oracle.avg_replicas == pytest.approx(2.0)  # 20 s x 1 + 20 s x 3 over 40 s
    assert oracle.gpu_hours == pytest.approx(80 * 4 / 3600)  # 80 node-seconds x 4 GPUs
    # Reactive: short on [20, 30) only.
    assert reactive.over_slo_seconds == pytest.approx(10.0)
    assert reactive.slo_time_share == pytest.approx(0.75)
    assert reactive.slo_request_share == pytest.approx(100 / 160)  # load x time: (40 + 60) / (40 + 60 + 60)
    assert reactive.gpu_hours == pytest.approx(oracle.gpu_hours)  # billed for what it ordered
    assert reactive.avg_replicas == pytest.approx(2.0)


def test_oracle_misses_only_beyond_max_replicas() -> None:
    capped = Pool(1, 2, 4, 4, 10.0)
    oracle, _ = references([(0.0, 2.0), (20.0, 6.0)], 2.0, capped, Window(0.0, 40.0))
    assert oracle.slo_time_share == pytest.approx(0.5)  # 2 replicas carry 4 < 6 from t=20
    assert oracle.avg_replicas == pytest.approx(1.5)


def test_ideal_reactive_pays_again_after_a_dip() -> None:
    # needed 3, 1 on [10, 15), 3 again: the dip releases replicas, which then take a full cold start again.
    # The run starts at min replicas, so [0, 10) is short too.
    pool = Pool(1, 5, 1, 4, 10.0)
    oracle, reactive = references([(0.0, 6.0), (10.0, 2.0), (15.0, 6.0)], 2.0, pool, Window(0.0, 40.0))
    assert reactive.over_slo_seconds == pytest.approx(20.0)  # [0, 10) and [15, 25)
    assert reactive.slo_time_share == pytest.approx(0.5)
    # one 4-GPU node holds every replica: 40 node-seconds
    assert oracle.gpu_hours == pytest.approx(40 * 4 / 3600)
    assert oracle.avg_replicas == pytest.approx((3 * 10 + 1 * 5 + 3 * 25) / 40)


def test_observed_score() -> None:
    pool = Pool(1, 5, 4, 4, 10.0, time_factor=10.0)
    s = observed(
        "reactive", Window(0.0, 30.0), 2.0,
        ttft_p95=[(0.0, 1.0), (10.0, 3.0), (20.0, 1.5)],
        replicas=[(0.0, 1.0), (15.0, 3.0)], nodes=[(0.0, 1.0), (15.0, 3.0)], pool=pool,
        requests=[(1.0, 0.5), (5.0, None), (12.0, 2.5), (25.0, 1.0), (31.0, 0.1)],
    )
    assert s.slo_time_share == pytest.approx(20 / 30)
    assert s.over_slo_seconds == pytest.approx(10.0)
    assert s.avg_replicas == pytest.approx(2.0)
    assert s.gpu_hours == pytest.approx(60 * 10 * 4 / 3600)  # 60 node-seconds, lab time x10
    assert s.slo_request_share == pytest.approx(0.5)  # 2 of the 4 sent in the window; the failure misses


def test_observed_judges_only_once_ttft_is_seen() -> None:
    s = observed("x", Window(0.0, 20.0), 2.0, ttft_p95=[(10.0, 1.0)], replicas=[(0.0, 1.0)], nodes=[],
                 pool=POOL, requests=None)
    assert s.slo_time_share == 1.0 and s.slo_request_share is None and s.gpu_hours == 0.0
    nothing = observed("x", Window(0.0, 20.0), 2.0, ttft_p95=[], replicas=[], nodes=[], pool=POOL)
    assert nothing.slo_time_share is None


def test_reference_curves() -> None:
    oracle, reactive = reference_curves(
        [(0.0, 2.0), (20.0, 6.0)], 2.0, POOL, Window(0.0, 40.0))
    # grid: the load's changes and the same shifted by the 10 s cold start
    assert oracle == [(0.0, 1.0), (10.0, 1.0), (20.0, 3.0), (30.0, 3.0), (40.0, 3.0)]
    assert reactive == [(0.0, 1.0), (10.0, 1.0), (20.0, 1.0), (30.0, 3.0), (40.0, 3.0)]


def test_client_p95_over_a_sliding_window() -> None:
    from tritonobs.verify.score import client_p95, percentile

    assert percentile([3.0, 1.0, 2.0], 0.95) == 3.0 and percentile([1.0, 2.0], 0.5) == 1.0
    # (sent at, TTFT): first tokens at 1.5, 2.5, 4.0 (the failure has none)
    requests = [(1.0, 0.5), (1.5, 1.0), (3.0, 1.0), (3.5, None)]
    assert client_p95(requests, [2.0, 3.0, 4.0, 9.0], window=2.0) == [(2.0, 0.5), (3.0, 1.0), (4.0, 1.0)]
