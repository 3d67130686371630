"""Bad specs fail with one located line (`file:line: path: message`), exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS
from tritonobs.cli import main

BAD = Path(__file__).parent / "bad_specs"

# name -> the expected message after "<file>:"
EXPECTED = {
    "bad-api-version": "3: apiVersion: must be 'tritonobs/v1' (got 'tritonobs/v2')",
    "bad-duration": "75: monitoring.scrape_interval: not a duration (got '30 seconds'): write a number and a unit, e.g. 30s, 5m, 1h",
    "bad-k8s-name": "12: triton.namespace: not a Kubernetes name (got 'Triton_VLLM'): use lowercase letters, digits, '-' and '.'",
    "duplicate-key": "76: monitoring.scrape_interval: key appears twice (the second would silently win)",
    "duplicate-model": "32: models[1].name: model 'llama2' is listed twice; model names must be unique",
    "float-for-int-replicas": "43: autoscaling.max_replicas: Input should be a valid integer (got 5.5): write a plain number, without quotes",
    "gpu-index-outside-pod": "34: models[1].gpu: GPU index 4 does not exist in a pod with 4 GPUs",
    "gpus-per-pod-exceed-node": "66: gpu_pool.gpus_per_pod: 8 GPUs per pod do not fit a g5.24xlarge node with 4: no pod could ever schedule",
    "invalid-yaml": "7: not valid YAML: expected ',' or ']', but got ':'",
    "min-above-max": "42: autoscaling.min_replicas: must be <= max_replicas (6 > 5)",
    "missing-required": "11: triton.deployment: required key is missing",
    "models-empty": "23: models: List should have at least 1 item after validation, not 0",
    "negative-target": "47: autoscaling.targets.waiting_requests: Input should be greater than 0",
    "not-a-mapping": "1: expected a mapping with apiVersion: tritonobs/v1 at the top",
    "prometheus-url-without-scheme": "74: monitoring.prometheus_url: not an http(s) URL (got 'kube-prometheus-stack-prometheus:9090'): write e.g. http://prometheus.monitoring.svc:9090",
    "relist-below-scrape": "76: monitoring.adapter_relist_interval: must be >= scrape_interval (30s), or adapter metrics flap",
    "sub-milli-target": "47: autoscaling.targets.waiting_requests: 2.0005 is finer than 0.001: Kubernetes would round it",
    "target-for-unused-signal": "48: autoscaling.targets.ttft_p90: no model uses signal 'ttft_p90' (in use: ['waiting_requests'])",
    "unknown-key": "10: cluster.regoin: unknown key (check the spelling; see the spec reference in README.md)",
    "unknown-signal": "31: models[0].scaling_signal: Input should be 'waiting_requests', 'inflight_requests', 'ttft_p90', 'queue_time_avg' or 'queue_compute_ratio' (got 'queue_compute')",
    "wrong-type-string-for-int": "43: autoscaling.max_replicas: Input should be a valid integer (got '5'): write a plain number, without quotes",
}


def test_corpus_is_complete() -> None:
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("command", ["validate", "render"])
def test_bad_spec(name: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = BAD / f"{name}.yaml"
    out = tmp_path / "out"
    args = [command, "--spec", str(spec), "--dashboards", str(DASHBOARDS)]
    if command == "render":
        args += ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines == [f"error: {spec}:{EXPECTED[name]}"]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists(), "nothing may be written for a bad spec"


def test_missing_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--spec", str(tmp_path / "nope.yaml")])
    assert exc.value.code == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err
