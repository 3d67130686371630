"""`tritonobs verify --lab` for real: Triton replicas, Prometheus, load, HPA engine and g5 pool model, end to end.

Time factor 30: a g5 scale-up (90 s launch + 240 s pull + 180 s load) takes 17 s, the 300 s scale-down window
10 s, node consolidation 6 s. Closed-loop load 2 -> 10 requests in flight at 3 s for 25 s: one replica holds 4
in its batch, so 6 wait (3x the target of 2) and the HPA asks for 3 replicas; once they are Ready nothing
waits, and after the load the HPA returns to 1. The whole run takes about a minute.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO, cli_exit_code
from tritonobs.lab.procs import child_pids, processes_mentioning

pytestmark = pytest.mark.integration


def test_verify_lab_scales_up_and_back_down(tmp_path: Path) -> None:
    out, lab_dir = tmp_path / "report", tmp_path / "lab"
    before = set(child_pids(os.getpid()))
    args = [
        "verify", "--lab", "--spec", str(EXAMPLE), "--model-repository", str(REPO / "model_repository"),
        "--lab-dir", str(lab_dir), "--out", str(out), "--time-factor", "30",
        "--profile", "step", "--concurrency", "2:10:3s", "--duration", "25s",
    ]
    code = cli_exit_code(args)

    # Nothing of the lab survives: no process mentions its run directory, no child is left, the dir is gone.
    assert processes_mentioning([str(lab_dir)]) == []
    assert set(child_pids(os.getpid())) <= before
    assert not lab_dir.exists()

    doc = json.loads((out / "report.json").read_text())
    assert code == (0 if doc["outcome"] == "pass" else 1), doc["outcome"]
    samples = doc["timeline"]["samples"]
    replicas = [s["current_replicas"] for s in samples]
    peak = replicas.index(max(replicas))
    assert replicas[0] == 1
    assert max(replicas) >= 3
    assert replicas[-1] == 1 and peak < len(replicas) - 1  # back down after the peak
    assert max(s["ready_replicas"] for s in samples) >= 3  # the new replicas really came up (real Triton)
    assert max(s["nodes"] for s in samples) >= 3  # one 4-GPU pod per 4-GPU node
    assert doc["summary"]["replicas_peak"] == max(replicas)
    kinds = [e["kind"] for e in doc["timeline"]["events"]]
    for kind in ("load_start", "load_step", "load_stop", "scale_decision", "hpa_scale", "node_launched",
                 "node_ready", "pod_started", "pod_ready", "pod_terminating", "pod_deleted", "node_removed"):
        assert kind in kinds, kind
    budgets = {b["name"]: b for b in doc["budgets"]}
    # T_scale_up in the model is node launch + image pull + model load, divided by 30 (at least).
    assert budgets["scale_up_seconds"]["measured"] >= (90 + 240 + 180) / 30
    assert budgets["node_ready_seconds"]["measured"] == pytest.approx(90 / 30)
    assert budgets["return_to_min_seconds"]["measured"] is not None
    assert budgets["replica_seconds"]["measured"] > 0 and budgets["cost_usd"]["measured"] > 0
    md = (out / "report.md").read_text()
    assert "waiting_requests" in md and "![timeline](timeline.png)" in md
    assert (out / "timeline.png").read_bytes()[:4] == b"\x89PNG"
