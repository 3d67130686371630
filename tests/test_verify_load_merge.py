"""`verify --external-load` with the load Job: the client records each load pod framed on its stdout are read
back through kmock's emulator (pod logs served by tests/kube/fake_apiserver.py) with the official client's
`read_namespaced_pod_log`, merged into one run, and judged like a run's own load; a pod whose log is
missing is named and the failed-request budget cannot pass."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE
from tests.kube.conftest import BUILTIN, NS, declare, write_kubeconfig
from tests.kube.fake_apiserver import ApiServer, serving
from tests.test_verify_cluster import Cluster, hpa, node, pod
from tritonobs.core.budgets import evaluate
from tritonobs.core.model import Stack, resolve
from tritonobs.core.render.load_job import job_name
from tritonobs.core.spec_loader import load_spec
from tritonobs.core.timeline import Timeline
from tritonobs.kube.connection import from_kubeconfig
from tritonobs.load.profiles import Constant
from tritonobs.verify.cluster_run import ClusterVerifyOptions, _drive, run_info
from tritonobs.verify.report import write_report
from tritonobs.verify.score import timeline_scores

COLUMNS = ["request_id", "url", "model", "start_s", "first_token_s", "end_s", "tokens", "ok", "error", "scheduled_s"]


def framed(started_unix: float, share: str, rows: list[list[Any]], end: bool = True) -> str:
    """A load pod's log as `verify --load-only` prints it, written out by hand, with progress noise around."""
    header = {"v": 1, "columns": COLUMNS, "mode": "open", "profile": "constant 2 (share)", "share": share,
              "planned_duration_s": 3.0, "started_unix": started_unix}
    lines = ["t=0s load 1 sent 0 ok 0 failed 0 targets 2", "##tritonobs-load run " + json.dumps(header)]
    lines += ["##tritonobs-load req " + json.dumps(r) for r in rows]
    if end:
        ok = sum(1 for r in rows if r[7])
        lines.append("##tritonobs-load end " + json.dumps({"requests": len(rows), "ok": ok, "failed": len(rows) - ok}))
    return "\n".join([*lines, "share done"]) + "\n"


def load_pod(job: str, index: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job}-{index}-x7k2p", "namespace": NS, "labels": {"job-name": job},
                         "annotations": {"batch.kubernetes.io/job-completion-index": str(index)}},
            "spec": {"containers": [{"name": "load", "image": "tritonobs:0.1.0"}]},
            "status": {"phase": "Succeeded"}}


@pytest.fixture(scope="module")
def stack() -> Stack:
    return resolve(load_spec(EXAMPLE))


@pytest.fixture
def cluster(tmp_path: Path, stack: Stack) -> Iterator[tuple[Cluster, Path]]:
    fake = ApiServer()
    declare(fake, {**BUILTIN, "batch/v1/jobs": ("Job", True)})
    c = Cluster(fake)
    c.put("autoscaling/v2/horizontalpodautoscalers", hpa(1, 1, "500m", -7200))
    c.put("v1/pods", pod("triton-a", -7200, -7190, -7000, -6800))
    c.put("v1/nodes", node("ip-1", -8000, -7900))
    job = job_name(stack)
    c.put("batch/v1/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job, "namespace": NS},
                            "spec": {"completionMode": "Indexed", "completions": 2, "parallelism": 2}})
    for i in (0, 1):
        c.put("v1/pods", load_pod(job, i))
    with serving(fake) as url:
        yield c, write_kubeconfig(tmp_path / "kubeconfig", url)


def _run(kubeconfig: Path, stack: Stack) -> Timeline:
    """The watch half of a cluster verify with external load, 3.5 s long, no Prometheus (the watcher runs
    without one); returns the timeline with the Job's records attached."""
    kube = from_kubeconfig(None, str(kubeconfig))
    opts = ClusterVerifyOptions(profile=Constant(0), duration_s=3.5, interval_s=0.25, settle_s=0.0,
                                load_job=job_name(stack), load_job_required=True, capacity=2.0)
    started = time.time()
    tl = Timeline(run_info(stack, opts, started))
    asyncio.run(_drive(kube, None, stack, opts, tl, lambda s, line: None, time.time))  # type: ignore[arg-type]
    return tl


def _seed_logs(c: Cluster, stack: Stack, started: float, both: bool = True) -> None:
    job = job_name(stack)
    # Share 0 starts 1.0 s into the run: ok (TTFT 0.5), ok (TTFT 2.0), failed.
    c.fake.pod_logs[NS, f"{job}-0-x7k2p", "load"] = framed(started + 1.0, "0/2", [
        ["0", "10.0.0.7:8001", "llama", 0.0, 0.5, 2.0, 30, True, "", 0.0],
        ["1", "10.0.0.8:8001", "llama", 1.0, 3.0, 4.0, 20, True, "", 1.0],
        ["2", "10.0.0.7:8001", "llama", 2.0, None, 2.5, 0, False, "UNAVAILABLE: pod went away", 2.0],
    ])
    if both:
        # Share 1 starts 1.5 s into the run: ok (TTFT 0.2), ok (TTFT 0.4).
        c.fake.pod_logs[NS, f"{job}-1-x7k2p", "load"] = framed(started + 1.5, "1/2", [
            ["0", "10.0.0.8:8001", "llama", 0.0, 0.2, 1.0, 10, True, "", 0.0],
            ["1", "10.0.0.7:8001", "llama", 0.5, 0.9, 1.5, 40, True, "", 0.5],
        ])


def test_two_load_pods_merge_into_one_run(cluster: tuple[Cluster, Path], stack: Stack, tmp_path: Path) -> None:
    c, kubeconfig = cluster
    # The run's clock starts when _run builds its RunInfo; the logs are anchored a moment before that, so
    # shift by the difference below (the records only need to lie inside the 3.5 s load window).
    anchor = time.time()
    _seed_logs(c, stack, anchor)
    tl = _run(kubeconfig, stack)
    skew = anchor - tl.info.started_at  # <= 0: the logs were seeded just before the run started
    assert -1.0 < skew <= 0

    # By hand: 5 requests, 4 ok, 1 failed; 100 tokens over 4.0 s (share 0's first start to its last end).
    last = max(tl.samples, key=lambda s: s.t)
    assert (last.requests_ok, last.requests_failed) == (4, 1)
    assert tl.requests is not None
    got = [(round(t - skew, 6), None if ttft is None else round(ttft, 6)) for t, ttft in tl.requests]
    assert got == [(1.0, 0.5), (1.5, 0.2), (2.0, 2.0), (2.0, 0.4), (3.0, None)]
    notes = [e.detail for e in tl.events if e.kind == "note" and e.subject == job_name(stack)]
    assert notes == ["client records of 2 load pod(s) merged: 4 ok, 1 failed, 100 tokens, 25.0 tokens/s"]
    assert tl.load_problems == []

    results = {r.name: r for r in evaluate(tl, stack.spec.budgets)}
    failed = results["failed_request_ratio"]
    assert failed.measured == pytest.approx(0.2)
    assert failed.note == "1 of 5 requests failed"
    assert failed.passed is False  # the example allows no failed request
    scores = timeline_scores(tl)
    assert scores is not None
    # SLO 2 s: 0.5, 0.2, 2.0 and 0.4 are within it, the failed one is not -> 4 of 5.
    assert tl.info.slo_ttft_seconds == 2.0
    assert scores["run"].slo_request_share == pytest.approx(0.8)
    write_report(tmp_path / "out", tl, list(results.values()))
    assert "load records missing" not in (tmp_path / "out" / "report.md").read_text()


def test_a_missing_pod_log_is_named_and_the_request_budget_cannot_pass(
    cluster: tuple[Cluster, Path], stack: Stack, tmp_path: Path,
) -> None:
    c, kubeconfig = cluster
    job = job_name(stack)
    # Share 1 has no log (its container never started); share 0 has only ok requests.
    c.fake.pod_logs[NS, f"{job}-0-x7k2p", "load"] = framed(time.time() + 1.0, "0/2", [
        ["0", "10.0.0.7:8001", "llama", 0.0, 0.5, 2.0, 30, True, "", 0.0],
    ])
    tl = _run(kubeconfig, stack)
    assert tl.load_problems == [f"{job}-1-x7k2p: log not readable: HTTP 400 Bad Request"]
    last = max(tl.samples, key=lambda s: s.t)
    assert (last.requests_ok, last.requests_failed) == (1, 0)
    results = {r.name: r for r in evaluate(tl, stack.spec.budgets)}
    failed = results["failed_request_ratio"]
    assert failed.measured == 0.0
    assert failed.passed is False
    assert f"{job}-1-x7k2p" in failed.note
    write_report(tmp_path / "out", tl, list(results.values()))
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"- **load records missing**: {job}-1-x7k2p: log not readable" in md
    assert json.loads((tmp_path / "out" / "report.json").read_text())["timeline"]["load_problems"] == tl.load_problems


def test_a_cut_log_and_a_missing_share_are_named(cluster: tuple[Cluster, Path], stack: Stack) -> None:
    c, kubeconfig = cluster
    job = job_name(stack)
    c.delete("v1/pods", NS, f"{job}-1-x7k2p")  # share 1's pod is gone
    c.fake.pod_logs[NS, f"{job}-0-x7k2p", "load"] = framed(time.time() + 1.0, "0/2", [
        ["0", "10.0.0.7:8001", "llama", 0.0, 0.5, 2.0, 30, True, "", 0.0],
    ], end=False)
    tl = _run(kubeconfig, stack)
    assert tl.load_problems == [
        f"{job}-0-x7k2p: no end line after 1 request(s): the log is truncated",
        "share 1: no pod found for this share of the load",
    ]
    results = {r.name: r for r in evaluate(tl, stack.spec.budgets)}
    assert results["failed_request_ratio"].passed is False
