"""Faults during `tritonobs verify --lab`, injected for real: SIGKILL a Triton replica, SIGKILL the lab's
Prometheus, Ctrl-C the run. Each run must name the fault on the console and in the report, end FAIL (or
INTERRUPTED), and leave nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, REPO, cli_exit_code
from tests.integration import ctrl_c_as_in_a_terminal
from tritonobs.lab.procs import child_pids, cmdline, processes_mentioning

pytestmark = pytest.mark.integration

# Closed loop, 6 requests in flight: a replica holds 4 in its batch, so the HPA scales out; 14 s of load.
LOAD = ["--profile", "constant", "--concurrency", "6", "--duration", "14s", "--settle", "6s", "--time-factor", "30"]


def verify_args(tmp_path: Path) -> list[str]:
    return ["verify", "--lab", "--spec", str(EXAMPLE), "--model-repository", str(REPO / "model_repository"),
            "--lab-dir", str(tmp_path / "lab"), "--out", str(tmp_path / "report"), *LOAD]


def scraping_a_replica(lab_dir: Path) -> bool:
    """The run's load is starting: the lab's Prometheus has scraped a replica (`up == 1`), the condition the
    run waits for before it sends the first request."""
    for _, line in processes_mentioning([str(lab_dir)]):
        address = re.search(r"--web\.listen-address=(\S+)", line)
        if address and "/usr/bin/prometheus" in line.split()[0]:
            url = f"http://{address[1]}/api/v1/query?query=up%3D%3D1"
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as answer:
                    return bool(json.loads(answer.read())["data"]["result"])
            except (OSError, ValueError, KeyError):
                return False
    return False


def kill_when(lab_dir: Path, program: str, after_s: float, killed: list[int],
              ready: Callable[[Path], bool] = lambda _: True) -> threading.Thread:
    """SIGKILL the first process running `program` from `lab_dir`, `after_s` seconds after it appears and
    `ready(lab_dir)` holds."""

    def run() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = [pid for pid, line in processes_mentioning([str(lab_dir)]) if program in line.split()[0]]
            if found and ready(lab_dir):
                time.sleep(after_s)
                os.kill(found[0], signal.SIGKILL)
                killed.append(found[0])
                return
            time.sleep(0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str], inject: Callable[[Path], Any]) -> tuple[int, dict[str, Any], str]:
    lab_dir = tmp_path / "lab"
    before = set(child_pids(os.getpid()))
    injector = inject(lab_dir)
    code = cli_exit_code(verify_args(tmp_path))
    injector.join(timeout=5)
    assert processes_mentioning([str(lab_dir)]) == [], "lab processes survived the run"
    assert set(child_pids(os.getpid())) <= before and not lab_dir.exists()
    return code, json.loads((tmp_path / "report" / "report.json").read_text()), capsys.readouterr().err


def test_a_killed_replica_is_named_replaced_and_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed: list[int] = []
    code, doc, console = run_verify(tmp_path, capsys, lambda lab: kill_when(lab, "tritonserver", 8.0, killed))
    assert killed, "the replica was never killed"
    events = doc["timeline"]["events"]
    failed = [e for e in events if e["kind"] == "pod_failed"]
    assert failed and "tritonserver killed by signal 9" in failed[0]["detail"], failed
    pod = failed[0]["subject"]
    # The pool restarted the container: the pod started and became Ready again after it failed.
    assert any(e["kind"] == "pod_ready" and e["subject"] == pod and e["t"] > failed[0]["t"] for e in events)
    # Its requests in flight failed: counted, over the strict default budget, so the verdict is FAIL.
    budgets = {b["name"]: b for b in doc["budgets"]}
    assert budgets["failed_request_ratio"]["measured"] > 0 and not budgets["failed_request_ratio"]["passed"]
    last = doc["timeline"]["samples"][-1]
    # While no replica serves, 6 clients back off (0.1 s doubling to 2 s): dozens of failures, not thousands.
    assert last["requests_ok"] > 0 and 0 < last["requests_failed"] < 200
    assert doc["outcome"] == "fail" and code == 1
    assert f"FAULT pod_failed: {pod} tritonserver killed by signal 9" in console
    report = (tmp_path / "report" / "report.md").read_text()
    assert f"- **fault**: replica {pod} stopped serving at t=" in report


def test_a_killed_prometheus_is_named_and_ends_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed: list[int] = []
    # Counted from the first scrape of a replica: 6 s after Prometheus started sometimes fell before the run's
    # load, where a dead Prometheus is an error of the start (exit 3), not the fault this test is about.
    code, doc, console = run_verify(tmp_path, capsys, lambda lab: kill_when(lab, "/usr/bin/prometheus", 3.0, killed,
                                                                            scraping_a_replica))
    assert killed, "Prometheus was never killed"
    events = doc["timeline"]["events"]
    outage = [e for e in events if e["kind"] == "metrics_unreachable"]
    assert len(outage) == 1 and outage[0]["subject"].startswith("http://127.0.0.1:"), [(e["t"], e["kind"], e["subject"], e["detail"]) for e in events]
    url = outage[0]["subject"]
    ended = [e for e in events if e["kind"] == "note" and e["detail"].startswith("ended early:")]
    assert ended and url in ended[0]["detail"]
    budgets = {b["name"]: b for b in doc["budgets"]}
    assert not budgets["signal_missing_seconds"]["passed"]
    assert doc["outcome"] == "fail" and code == 1
    assert f"FAULT metrics_unreachable: {url}" in console
    assert f"- **fault**: Prometheus {url} unreachable from t=" in (tmp_path / "report" / "report.md").read_text()


def test_ctrl_c_writes_an_interrupted_report_and_stops_everything(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    cmd = [sys.executable, "-m", "tritonobs", *verify_args(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 60
        # Wait until the load runs (a replica serves), then press Ctrl-C.
        while not any("tritonserver" in cmdline(p) for p, _ in processes_mentioning([str(lab_dir)])):
            assert time.monotonic() < deadline and proc.poll() is None, "the lab never started"
            time.sleep(0.2)
        time.sleep(6)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    assert doc["outcome"] == "interrupted" and doc["timeline"]["interrupted"] is True
    assert "interrupted" in err.lower()
    assert processes_mentioning([str(lab_dir)]) == [] and not lab_dir.exists()
