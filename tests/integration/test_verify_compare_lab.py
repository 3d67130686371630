"""`tritonobs verify --lab --profile ramp --compare reactive,predictive` end to end (time factor 30: a cold start
is 17 s, the ramp 20 s after a 12 s hold; about 2.5 minutes for both policies). The predictive run's HPA scales on
the rendered External floor, read through the adapter's external rule from the lab Prometheus' forecast records;
the reactive one never does. report.json holds, per policy, SLO attainment, GPU-hours and the references."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO, cli_exit_code
from tritonobs.lab.procs import child_pids

pytestmark = pytest.mark.integration
FLOOR = "external metric tritonobs_waiting_requests_floor"


def test_ramp_compare_reactive_and_predictive(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    before = set(child_pids(os.getpid()))
    args = ["verify", "--lab", "--spec", str(EXAMPLE), "--model-repository", str(REPO / "model_repository"),
            "--profile", "ramp", "--compare", "reactive,predictive", "--time-factor", "30", "--out", str(out)]
    code = cli_exit_code(args)
    assert set(child_pids(os.getpid())) <= before
    assert code == 0
    doc = json.loads((out / "report.json").read_text())
    assert sorted(doc["policies"]) == ["predictive", "reactive"]  # report.json keys are sorted
    for row in doc["policies"].values():
        assert 0.0 <= row["slo_time_share"] <= 1.0 and 0.0 <= row["slo_request_share"] <= 1.0
        assert row["gpu_hours"] > 0 and row["avg_replicas"] >= 1
        assert row["oracle"]["slo_time_share"] == 1.0  # the ramp never needs more than max replicas
        assert row["ideal_reactive"]["over_slo_seconds"] > 0  # it pays a cold start on the way up
    # the same trace: the references agree up to sampling
    o = [row["oracle"]["gpu_hours"] for row in doc["policies"].values()]
    assert abs(o[0] - o[1]) <= 0.1 * max(o)
    assert {t["policy"] for t in doc["targets"]} == {"reactive", "predictive"}
    reasons = {p: [e["detail"] for e in json.loads((out / p / "report.json").read_text())["timeline"]["events"]
                   if e["kind"] == "scale_decision"] for p in ("reactive", "predictive")}
    assert any(FLOOR in r for r in reasons["predictive"])
    assert not any(FLOOR in r for r in reasons["reactive"])
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG" and "| predictive |" in (out / "report.md").read_text()
