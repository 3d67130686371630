"""Budget evaluation and the report of a verification run, on hand-built timelines with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tritonobs.core.budgets import evaluate, passed
from tritonobs.core.config import Budgets
from tritonobs.core.timeline import RunInfo, Sample, Timeline
from tritonobs.verify.plot import timeline_png
from tritonobs.verify.report import report_json, report_markdown, write_report

# The example spec's budgets; the lab divides them by its time factor (10 here): 12, 90, 30, 60, 120 s.
BUDGETS = Budgets(
    first_scale_up_seconds=120,
    scale_up_seconds=900,
    node_ready_seconds=300,
    ttft_over_slo_seconds=600,
    return_to_min_seconds=1200,
)

INFO = RunInfo(
    mode="lab",
    stack="triton-vllm",
    namespace="triton-vllm",
    hpa="nvidia-triton-server-triton-inference-server",
    signal="waiting_requests",
    target=2.0,
    min_replicas=1,
    max_replicas=5,
    slo_ttft_seconds=2.0,
    gpus_per_node=4,
    gpus_per_pod=4,
    hourly_price_usd=8.144,
    time_factor=10.0,
    profile="open loop, step 1:8:10s",
)

#        t:   0    10   20   30   40   50   60   70   80   90   100
CURRENT = [1, 1, 3, 3, 3, 3, 3, 3, 1, 1, 1]
READY = [1, 1, 1, 1, 1, 2, 3, 3, 1, 1, 1]
NODES = [1, 1, 1, 3, 3, 3, 3, 3, 3, 1, 1]
TTFT95 = [0.5, 0.5, 3.0, 3.0, 2.5, 1.5, 1.0, 0.5, 0.5, 0.5, 0.5]


def step_run() -> Timeline:
    """1 -> 3 -> 1 replicas: the step at t=10, scale-up at 13, load stops at 60, scale-down at 75."""
    tl = Timeline(INFO)
    for i, t in enumerate(range(0, 101, 10)):
        load = 8.0 if 10 <= t < 60 else 1.0
        tl.add(Sample(float(t), load, 1.0, CURRENT[i], CURRENT[i], READY[i], NODES[i], TTFT95[i] / 2, TTFT95[i]))
    tl.event(0, "load_start", value=1)
    tl.event(10, "load_step", value=8)
    tl.event(13, "scale_decision", value=3)
    tl.event(13, "hpa_scale", value=3)
    for pod, node in (("triton-2", "g5-2"), ("triton-3", "g5-3")):
        tl.event(13, "pod_created", pod)
        tl.event(13, "node_launched", node)
    tl.event(22, "node_ready", "g5-2")
    tl.event(23, "node_ready", "g5-3")
    tl.event(50, "pod_ready", "triton-2")
    tl.event(55, "pod_ready", "triton-3")
    tl.event(60, "load_stop")
    tl.event(75, "scale_decision", value=1)
    tl.event(75, "hpa_scale", value=1)
    tl.event(75, "pod_terminating", "triton-3")
    tl.event(75, "pod_terminating", "triton-2")
    return tl


def by_name(tl: Timeline) -> dict[str, tuple[float | None, float | None, bool]]:
    return {r.name: (r.measured, r.limit, r.passed) for r in evaluate(tl, BUDGETS)}


def test_step_run_budgets_exact_values() -> None:
    results = by_name(step_run())
    assert results["first_scale_up_seconds"] == (3.0, 12.0, True)  # step 10 -> decision 13
    assert results["scale_up_seconds"] == (42.0, 90.0, True)  # lastScaleTime 13 -> triton-3 Ready 55
    assert results["node_ready_seconds"] == (10.0, 30.0, True)  # g5-3: 13 -> 23
    assert results["ttft_over_slo_seconds"] == (30.0, 60.0, True)  # samples 20, 30, 40 above 2 s
    assert results["return_to_min_seconds"] == (20.0, 120.0, True)  # stop 60 -> back at 1 at 80
    assert results["replica_seconds"] == (220.0, None, True)
    gpu_hours, limit, ok = results["gpu_hours"]
    assert gpu_hours == pytest.approx(220 * 10 * 4 / 3600) and limit is None and ok  # 220 node-s in lab time
    assert results["cost_usd"][0] == pytest.approx(220 * 10 / 3600 * 8.144)
    assert passed(evaluate(step_run(), BUDGETS))


def test_a_budget_over_its_scaled_limit_fails() -> None:
    tight = BUDGETS.model_copy(update={"scale_up_seconds": 400.0, "max_gpu_hours": 2.0})
    results = {r.name: r for r in evaluate(step_run(), tight)}
    assert (results["scale_up_seconds"].measured, results["scale_up_seconds"].limit) == (42.0, 40.0)
    assert not results["scale_up_seconds"].passed
    assert not results["gpu_hours"].passed and results["gpu_hours"].limit == 2.0
    assert not passed(list(results.values()))


def test_a_signal_that_never_scales_fails_honestly() -> None:
    tl = Timeline(INFO.__class__(**{**INFO.__dict__, "signal": "queue_compute_ratio", "target": 1.0}))
    for t in range(0, 101, 10):
        tl.add(Sample(float(t), 8.0, 0.0, 1, 1, 1, 1, 5.0, 6.0))
    tl.event(0, "load_start", value=1)
    tl.event(10, "load_step", value=8)
    tl.event(60, "load_stop")
    results = {r.name: r for r in evaluate(tl, BUDGETS)}
    assert results["first_scale_up_seconds"].measured is None
    assert "never decided to scale up" in results["first_scale_up_seconds"].note
    assert results["scale_up_seconds"].measured is None and not results["scale_up_seconds"].passed
    assert results["ttft_over_slo_seconds"].measured == 100.0 and not results["ttft_over_slo_seconds"].passed
    assert results["return_to_min_seconds"].measured == 0.0  # it never left min
    assert report_json(tl, list(results.values()))["outcome"] == "fail"


def test_a_replica_that_never_gets_ready_fails_t_scale_up() -> None:
    tl = step_run()
    tl.events = [e for e in tl.events if e.subject != "triton-3" or e.kind == "pod_created"]
    results = {r.name: r for r in evaluate(tl, BUDGETS)}
    assert results["scale_up_seconds"].measured is None
    assert "triton-3" in results["scale_up_seconds"].note


def test_a_replica_scaled_away_before_ready_says_nothing_about_t_scale_up() -> None:
    tl = step_run()
    tl.events = [e for e in tl.events if not (e.kind == "pod_ready" and e.subject == "triton-3")]
    assert by_name(tl)["scale_up_seconds"] == (37.0, 90.0, True)  # triton-2: 13 -> 50


def test_cluster_mode_counts_pods_created_in_the_same_second_as_the_scale() -> None:
    tl = step_run()
    # API timestamps are whole seconds: the pods may read as created just before lastScaleTime.
    tl.events = [e.__class__(12.5, e.kind, e.subject) if e.kind == "pod_created" else e for e in tl.events]
    assert by_name(tl)["scale_up_seconds"][0] is None  # the lab clock is exact: not this scale's pods
    tl.info = INFO.__class__(**{**INFO.__dict__, "mode": "cluster", "time_factor": 1.0})
    assert by_name(tl)["scale_up_seconds"] == (42.0, 900.0, True)


def test_interrupted_run_marks_unmeasured_budgets() -> None:
    tl = step_run()
    tl.events = [e for e in tl.events if e.t <= 40]
    tl.samples = [s for s in tl.samples if s.t <= 40]
    tl.interrupted = True
    results = {r.name: r for r in evaluate(tl, BUDGETS)}
    assert results["return_to_min_seconds"].note.startswith("not measured: run interrupted")
    assert report_json(tl, list(results.values()))["outcome"] == "interrupted"


def test_report_json_summary_and_roundtrip() -> None:
    tl = step_run()
    doc = report_json(tl, evaluate(tl, BUDGETS))
    assert doc["outcome"] == "pass"
    assert doc["summary"] == {
        "replicas_start": 1,
        "replicas_peak": 3,
        "replicas_end": 1,
        "ready_peak": 3,
        "nodes_peak": 3,
        "signal_peak": 1.0,
        "scale_decisions": 2,
        "duration_seconds": 100.0,
    }
    budgets = {b["name"]: b for b in doc["budgets"]}
    assert budgets["gpu_hours"]["measured"] == 2.444  # rounded to milliseconds in the file
    assert Timeline.from_dict(json.loads(json.dumps(doc["timeline"]))).to_dict() == tl.to_dict()


def test_markdown_lists_budgets_and_events() -> None:
    tl = step_run()
    md = report_markdown(tl, evaluate(tl, BUDGETS))
    assert md.splitlines()[0] == "# Scaling verification: triton-vllm (lab) — PASS"
    assert "| T_scale_up: lastScaleTime -> newest replica Ready | 42.0 s | 90.0 s | pass |" in md
    assert "| 13.0 | hpa_scale |  | 3 |" in md
    assert "lab time factor 10" in md


def test_write_report_writes_three_files_and_a_deterministic_png(tmp_path: Path) -> None:
    tl = step_run()
    paths = write_report(tmp_path / "out", tl, evaluate(tl, BUDGETS))
    assert [p.name for p in paths] == ["report.json", "report.md", "timeline.png"]
    png = paths[2].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert timeline_png(tl, evaluate(tl, BUDGETS)) == png
    assert json.loads(paths[0].read_text())["summary"]["replicas_peak"] == 3


def faulty_run(failed: int, prometheus_down: tuple[float, float] | None) -> Timeline:
    """The step run with the load's own counts, and optionally Prometheus unreachable (no HPA signal)."""
    base = step_run()
    tl = Timeline(INFO, events=list(base.events))
    for s in base.samples:
        down = prometheus_down is not None and prometheus_down[0] <= s.t < prometheus_down[1]
        tl.add(Sample(s.t, s.load, None if down else s.signal, s.desired_replicas, s.current_replicas,
                      s.ready_replicas, s.nodes, s.ttft_p90, s.ttft_p95, None, int(s.t * 10), failed))
    if prometheus_down is not None:
        tl.event(prometheus_down[0], "metrics_unreachable", "http://127.0.0.1:9", "connection refused")
        tl.event(prometheus_down[1], "metrics_recovered", "http://127.0.0.1:9", "after 30.0s")
    tl.event(27, "pod_failed", "triton-2", "tritonserver killed by signal 9; container restarts in 1.0s (restart 1)")
    return tl


def test_failed_requests_and_a_missing_signal_fail_the_run() -> None:
    budgets = BUDGETS.model_copy(update={"max_failed_request_ratio": 0.01, "max_signal_missing_seconds": 60})
    clean = {r.name: r for r in evaluate(faulty_run(0, None), budgets)}
    assert clean["failed_request_ratio"].measured == 0 and clean["failed_request_ratio"].passed
    assert clean["signal_missing_seconds"].measured == 0 and clean["signal_missing_seconds"].passed
    # 1000 ok and 20 failed at the last sample: 1.96% > 1%.
    bad = {r.name: r for r in evaluate(faulty_run(20, (20.0, 50.0)), budgets)}
    assert bad["failed_request_ratio"].measured == pytest.approx(20 / 1020)
    assert not bad["failed_request_ratio"].passed and bad["failed_request_ratio"].note == "20 of 1020 requests failed"
    # Samples at 20, 30, 40 have no signal: held 10 s each = 30 s > 60 s / 10.
    assert bad["signal_missing_seconds"].measured == 30.0 and bad["signal_missing_seconds"].limit == 6.0
    assert not bad["signal_missing_seconds"].passed
    assert "Prometheus unreachable t=20.0-50.0s" in bad["signal_missing_seconds"].note
    assert not passed(list(bad.values()))


def test_no_request_succeeding_cannot_pass() -> None:
    tl = Timeline(INFO)
    for t in range(0, 101, 10):
        tl.add(Sample(float(t), 2.0, 1.0, 1, 1, 1, 1, 0.1, 0.1, None, 0, t))
    tl.event(0, "load_start", value=2)
    results = {r.name: r for r in evaluate(tl, BUDGETS)}
    assert results["failed_request_ratio"].measured == 1.0 and not results["failed_request_ratio"].passed


def test_the_report_names_every_fault() -> None:
    tl = faulty_run(20, (20.0, 50.0))
    md = report_markdown(tl, evaluate(tl, BUDGETS))
    assert "- **fault**: replica triton-2 stopped serving at t=27.0s: tritonserver killed by signal 9" in md
    assert "- **fault**: Prometheus http://127.0.0.1:9 unreachable from t=20.0s to t=50.0s (30.0s)" in md
    assert "| requests failed | 1.96% | 0.00% | **FAIL** | 20 of 1020 requests failed |" in md
    assert report_json(tl, evaluate(tl, BUDGETS))["outcome"] == "fail"
    assert timeline_png(tl)[:8] == b"\x89PNG\r\n\x1a\n"
