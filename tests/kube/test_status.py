"""`tritonobs status` with a real tritonserver (models ready via the pod IPs) and a real Prometheus (alerts),
the cluster emulated. Both processes are the lab's, stopped on exit even when an assertion fails."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.conftest import DEPLOYMENT, NS, TOKEN, StackDir, write_kubeconfig
from tritonobs.lab.procs import free_port
from tritonobs.lab.prometheus_process import PrometheusProcess
from tritonobs.lab.triton_process import TritonProcess

CONFIG = """\
name: "llama2"
backend: "python"
max_batch_size: 0
input [ { name: "PROMPT" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "TEXT" data_type: TYPE_STRING dims: [ -1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""
MODEL = """\
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse(output_tensors=[]) for _ in requests]
"""
ALWAYS_FIRING = {
    "groups": [
        {
            "name": "status-test",
            "rules": [
                {
                    "alert": "TritonobsStatusTestFiring",
                    "expr": "vector(1)",
                    "labels": {"severity": "warning", "namespace": NS},
                    "annotations": {"summary": "always firing"},
                },
                # kube-prometheus-stack's Watchdog: always firing, about no namespace; status must leave it out.
                {"alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "none"}},
                {"alert": "KubePodCrashLooping", "expr": "vector(1)", "labels": {"severity": "warning",
                                                                                 "namespace": "other-team"}},
            ],
        }
    ]
}


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    """One real Triton serving `llama2` only: `mistral7b` from the spec is therefore not ready."""
    repo = tmp_path_factory.mktemp("repo")
    (repo / "llama2" / "1").mkdir(parents=True)
    (repo / "llama2" / "config.pbtxt").write_text(CONFIG)
    (repo / "llama2" / "1" / "model.py").write_text(MODEL)
    with TritonProcess(repo, ["llama2"]) as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prom = PrometheusProcess(tmp_path_factory.mktemp("prom"), scrape_interval="1s")
    prom.write_rules(ALWAYS_FIRING)
    try:
        prom.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # readiness of the fixture, not an assertion on speed
            with urllib.request.urlopen(prom.url + "/api/v1/alerts", timeout=2) as resp:
                if any(a["state"] == "firing" for a in json.load(resp)["data"]["alerts"]):
                    break
            time.sleep(0.2)
        yield prom.url
    finally:
        prom.stop()


@pytest.mark.integration
def test_status_json_reports_every_part(cli, fake, stack_dir: StackDir, kubeconfig: Path, triton, prometheus) -> None:
    # The pods' IP is loopback: Triton is reached exactly as through a pod IP, at the spec's http_port.
    stack_dir.edit(lambda d: d["triton"].update(http_port=triton.ports.http))
    assert cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "0").code == 0
    result = cli("status", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake",
                 "--prometheus-url", prometheus, "-o", "json")
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["pods"]["ready"] == 2 and report["pods"]["total"] == 2
    assert report["models"]["source"] == "pod IPs"
    assert report["models"]["models"] == {"llama2": {"ready": 2, "checked": 2}, "mistral7b": {"ready": 0, "checked": 2}}
    hpa = report["hpa"]
    assert hpa["name"] == DEPLOYMENT and hpa["found"]
    assert hpa["metrics"] == [{"name": "tritonobs_waiting_requests", "target": "2", "current": "1500m"}]
    assert (hpa["current_replicas"], hpa["min_replicas"], hpa["max_replicas"]) == (2, 1, 5)
    assert report["nodes"] == {
        "selector": "NodeGroupType=g5-gpu-karpenter",
        "ready": 1,
        "total": 2,
        "instance_types": {"g5.12xlarge": 1, "g5.24xlarge": 1},
    }
    firing = report["alerts"]["firing"]
    assert [(a["alertname"], a["severity"], a["summary"]) for a in firing] == [
        ("TritonobsStatusTestFiring", "warning", "always firing")
    ]
    assert report["alerts"]["other_firing"] == 2
    assert TOKEN not in result.text


@pytest.mark.integration
def test_status_reports_unreachable_parts_without_failing(cli, fake, stack_dir, kubeconfig, triton) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli("status", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake",
                 "--prometheus-url", dead, "--triton-url", triton.http_url, "-o", "json")
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["alerts"] == {"error": f"{dead}: Prometheus unreachable ([Errno 111] Connection refused)"}
    assert report["models"]["models"] == {"llama2": {"ready": 1, "checked": 1}, "mistral7b": {"ready": 0, "checked": 1}}
    assert report["hpa"]["found"] is False  # nothing applied in this cluster

    table = cli("status", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake",
                "--prometheus-url", dead, "--triton-url", f"http://127.0.0.1:{free_port()}")
    assert table.code == 0, table.text
    flat = " ".join(table.out.split())
    assert "Triton pods" in flat and "2/2 ready" in flat and "unreachable" in flat and "missing" in flat
    # Error texts are shown as they are, not read as rich markup ("[Errno 111]" would vanish).
    assert "unreachable ([Errno 111] Connection refused)" in flat


def test_status_exits_3_when_the_cluster_is_down(cli, stack_dir, tmp_path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = cli("status", "-f", stack_dir.spec, "--kubeconfig", write_kubeconfig(tmp_path / "kc", endpoint),
                 "--context", "fake", "-o", "json")
    assert result.code == 3
    assert result.err.startswith(f"error: {endpoint}: unreachable")


def test_status_table_shows_outside_texts_verbatim() -> None:
    """Error texts and names come from the outside world: `[...]` in them is text, never rich markup."""
    from rich.console import Console

    from tritonobs.cli.status_cmd import render_table

    error = {"error": "http://prom/api/v1/alerts: HTTP 502 [bold]bad gateway[/bold] [/upstream]"}
    report = {"stack": "s", "namespace": NS, "deployment": DEPLOYMENT, "cluster": "http://c", "pods": error,
              "models": error, "hpa": error, "nodes": error,
              "alerts": {"firing": [{"alertname": "X[/y]", "severity": "critical"}], "other_firing": 3}}
    console = Console(width=400, record=True)
    console.print(render_table(report))
    flat = " ".join(console.export_text().split())
    assert "HTTP 502 [bold]bad gateway[/bold] [/upstream]" in flat
    assert "1: X[/y](critical) (3 other alerts firing in the cluster)" in flat
