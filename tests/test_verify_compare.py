"""The score of a whole timeline and the policy comparison: hand-computed figures on the step run of
test_verify_report (load 1 -> 8 at t=10, stop at 60; capacity 4 per replica, cold start 20 s, time x10)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.test_verify_report import BUDGETS, step_run
from tritonobs.core.budgets import evaluate
from tritonobs.core.errors import UsageError
from tritonobs.core.model import Stack
from tritonobs.core.timeline import Timeline
from tritonobs.verify.compare import comparison, comparison_markdown, parse_policies, policy_stack
from tritonobs.verify.report import report_json, report_markdown
from tritonobs.verify.score import timeline_scores


def scored_run() -> Timeline:
    tl = step_run()
    tl.info = dataclasses.replace(tl.info, capacity_per_replica=4.0, cold_start_seconds=20.0, policy="reactive")
    return tl


def test_timeline_scores_by_hand() -> None:
    scores = timeline_scores(scored_run())
    assert scores is not None
    run, oracle, reactive = scores["run"], scores["oracle"], scores["ideal_reactive"]
    # needed: 1 on [0, 10), 2 on [10, 60) -> 110 replica-s, 110 node-s (one 4-GPU pod per 4-GPU node)
    assert oracle.avg_replicas == pytest.approx(110 / 60)
    assert oracle.gpu_hours == pytest.approx(110 * 10 * 4 / 3600)
    assert oracle.slo_time_share == 1.0
    # ideal reactive: 1 Ready replica (4) for 8 on [10, 30)
    assert reactive.over_slo_seconds == pytest.approx(20.0)
    assert reactive.slo_time_share == pytest.approx(40 / 60)
    assert reactive.slo_request_share == pytest.approx((1 * 10 + 8 * 30) / (1 * 10 + 8 * 50))
    # the run: TTFT p95 > 2 s on [20, 50); pods 1, 1, 3, 3, 3, 3; nodes 1, 1, 1, 3, 3, 3
    assert run.name == "reactive" and run.over_slo_seconds == pytest.approx(30.0)
    assert run.slo_time_share == pytest.approx(0.5) and run.slo_time_share_prometheus == pytest.approx(0.5)
    assert run.avg_replicas == pytest.approx(140 / 60)
    assert run.gpu_hours == pytest.approx(120 * 10 * 4 / 3600)  # 3 x 10 + 3 x 30 node-seconds
    assert run.slo_request_share is None  # no request list: external load


def test_no_capacity_no_score() -> None:
    tl = step_run()
    assert timeline_scores(tl) is None
    assert "No score against the oracle" in report_markdown(tl, evaluate(tl, BUDGETS))


def test_report_carries_the_score() -> None:
    tl = scored_run()
    doc = report_json(tl, evaluate(tl, BUDGETS))
    assert doc["score"]["gpu_hours_vs_oracle"] == pytest.approx(120 / 110, abs=1e-3)
    assert doc["score"]["over_slo_vs_ideal_reactive"] == pytest.approx(1.5)
    md = report_markdown(tl, evaluate(tl, BUDGETS))
    assert "| ideal reactive | 66.67% |" not in md  # one decimal
    assert "| ideal reactive | 66.7% | — | 61.0% | 20.0 | 1.222 | 1.83 |" in md
    assert "GPU-hours vs oracle: 1.09x; over-SLO time vs ideal reactive: 1.50x." in md


def test_comparison_and_targets() -> None:
    tl = scored_run()
    doc = json.loads(json.dumps(report_json(tl, evaluate(tl, BUDGETS))))
    pred = json.loads(json.dumps(doc))
    pred["score"]["run"]["slo_time_share"] = 0.995
    pred["score"]["gpu_hours_vs_oracle"] = 1.2
    cmp = comparison({"reactive": doc, "predictive": pred}, "closed loop, ramp 5:10:60s")
    assert cmp["policies"]["reactive"]["slo_time_share"] == pytest.approx(0.5)
    assert cmp["oracle"]["gpu_hours"] == pytest.approx(110 * 10 * 4 / 3600, abs=1e-3)  # rounded in report.json
    targets = {(t["policy"], t["name"]): t for t in cmp["targets"]}
    assert targets[("predictive", "TTFT p95 within the SLO, share of time")]["met"] is True
    assert targets[("predictive", "GPU-hours / oracle's")]["met"] is False  # 1.2 > 1.15
    assert targets[("reactive", "TTFT-over-SLO seconds / ideal reactive's")]["met"] is False  # 1.5 > 1.2
    md = comparison_markdown(cmp)
    assert "| predictive | pass | 99.5% |" in md or "| predictive | fail | 99.5% |" in md
    assert "| GPU-hours / oracle's | predictive | 1.200 | at most 1.15 | **no** |" in md
    assert ("Closing note: predictive misses 'GPU-hours / oracle's' by 0.05 (1.200 against at most 1.15); reactive "
            "misses 'TTFT-over-SLO seconds / ideal reactive's' by 0.3 (1.500 against at most 1.2).") in md


def test_policies(example_stack: Stack) -> None:
    assert parse_policies("reactive, predictive") == ["reactive", "predictive"]
    for bad in ("", "reactive,reactive", "oracle"):
        with pytest.raises(UsageError):
            parse_policies(bad)
    stack = example_stack
    assert policy_stack(stack, "predictive").spec.autoscaling.predictive is True
    assert policy_stack(stack, "reactive").spec.autoscaling.predictive is False
    assert policy_stack(stack, "warm").spec.gpu_pool.warm_nodes == 1
    assert policy_stack(stack, "reactive").spec.gpu_pool.warm_nodes == 0


def test_compare_needs_the_lab(tmp_path: Path) -> None:
    from tritonobs.cli import main

    with pytest.raises(SystemExit) as e:
        main(["verify", "--compare", "reactive", "--url", "127.0.0.1:1", "--out", str(tmp_path / "o")])
    assert e.value.code == 2


def test_miss_in_points() -> None:
    from tritonobs.verify.compare import _miss

    t = {"name": "TTFT p95 within the SLO, share of time", "policy": "predictive", "measured": 0.976,
         "limit": 0.99, "kind": "at least"}
    assert _miss(t) == ("predictive misses 'TTFT p95 within the SLO, share of time' by 1.4 points "
                        "(0.976 against at least 0.99)")
