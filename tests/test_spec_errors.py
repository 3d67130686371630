"""Bad specs fail with one located line (`file:line: path: message`), exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS
from tritonobs.cli import main

BAD = Path(__file__).parent / "bad_specs"

# name -> the expected message after "<file>:". Besides schema and semantic errors: the spec file itself
# (empty, not UTF-8, control characters, two documents), YAML limits (recursive aliases; the adversarial
# alias bomb and deep nesting run in a subprocess in test_bad_inputs.py), numbers beyond what Kubernetes
# stores (int32) or a year, non-finite numbers, and names that become paths or object names.
EXPECTED = {
    "bad-api-version": "3: apiVersion: must be 'tritonobs/v1' (got 'tritonobs/v2')",
    "bad-aws-region": "9: cluster.region: not an AWS region (got 'US West 2'): write e.g. us-west-2",
    "bad-duration": "75: monitoring.scrape_interval: not a duration (got '30 seconds'): write a number and a unit, e.g. 30s, 5m, 1h",
    "bad-eks-cluster-name": "8: cluster.name: not an EKS cluster name (got 'nvidia triton server'): letters, digits, '-' and '_', starting with a letter or digit, at most 100 (or set cluster.context)",
    "bad-k8s-name": "12: triton.namespace: not a Kubernetes name (got 'Triton_VLLM'): use lowercase letters, digits, '-' and '.'",
    "bad-s3-bucket": "93: model_repository.s3_bucket: not an S3 bucket name (got 'My_Models!'): 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
    "control-character": "6: not valid YAML: character U+0007 is not allowed in YAML text (a binary file?)",
    "duplicate-key": "76: monitoring.scrape_interval: key appears twice (the second would silently win)",
    "duplicate-model": "32: models[1].name: model 'llama2' is listed twice; model names must be unique",
    "duration-over-a-year": "89: alerts.waiting_for: '400d' is longer than a year (365d): write a realistic duration, e.g. 30s, 5m, 1h",
    "empty": "1: the spec is empty (pass --spec PATH or run from the stack's folder)",
    "float-for-int-replicas": "43: autoscaling.max_replicas: Input should be a valid integer (got 5.5): write a plain number, without quotes",
    "gpu-index-outside-pod": "34: models[1].gpu: GPU index 4 does not exist in a pod with 4 GPUs",
    "gpus-per-pod-exceed-node": "66: gpu_pool.gpus_per_pod: 8 GPUs per pod do not fit a g5.24xlarge node with 4: no pod could ever schedule",
    "grafana-url-not-http": "82: monitoring.grafana.url: not an http(s) URL (got 'grafana.monitoring.svc:3000'): write e.g. http://grafana.monitoring.svc",
    "infinite-target": "47: autoscaling.targets.waiting_requests: Input should be a finite number (got inf): write a plain number (.inf and .nan are not allowed)",
    "integer-too-long": "43: cannot read this value: a number with 5000 digits: write a realistic number",
    "invalid-date": "22: cannot read this value: not a valid timestamp (month must be in 1..12): quote it if it is text",
    "invalid-yaml": "7: not valid YAML: expected ',' or ']', but got ':'",
    "min-above-max": "42: autoscaling.min_replicas: must be <= max_replicas (6 > 5)",
    "missing-required": "11: triton.deployment: required key is missing",
    "model-name-dotdot": "32: models[1].name: not a model name (got '..'): start with a letter or digit, then letters, digits, '_', '-' or '.' (it names a folder of the model repository)",
    "model-name-leading-dash": "24: models[0].name: not a model name (got '-llama2'): start with a letter or digit, then letters, digits, '_', '-' or '.' (it names a folder of the model repository)",
    "models-empty": "23: models: List should have at least 1 item after validation, not 0",
    "namespace-with-dot": "12: triton.namespace: not a namespace name (got 'triton.vllm'): a namespace is a DNS label, without dots and at most 63 characters",
    "nan-slo": "30: models[0].slo.ttft_p95_seconds: Input should be a finite number (got nan): write a plain number (.inf and .nan are not allowed)",
    "negative-target": "47: autoscaling.targets.waiting_requests: Input should be greater than 0",
    "non-utf8-byte": "13: not UTF-8 text: byte 0xe9 at column 65 (a binary file, or another encoding?): save the spec as UTF-8",
    "not-a-mapping": "1: expected a mapping with apiVersion: tritonobs/v1 at the top",
    "policy-value-beyond-int32": "54: autoscaling.behavior.scale_up.policies[1].value: Input should be less than or equal to 2147483647: Kubernetes stores this value as a 32-bit integer",
    "pool-seconds-beyond-a-year": "69: gpu_pool.image_pull_seconds: Input should be less than or equal to 31536000 (a year): write a realistic number of seconds",
    "prometheus-url-without-scheme": "74: monitoring.prometheus_url: not an http(s) URL (got 'kube-prometheus-stack-prometheus:9090'): write e.g. http://prometheus.monitoring.svc:9090",
    "recursive-alias": "101: alias *loop refers to a value that contains it (a recursive structure): write the value out",
    "relist-below-scrape": "76: monitoring.adapter_relist_interval: must be >= scrape_interval (30s), or adapter metrics flap",
    "replicas-beyond-int32": "43: autoscaling.max_replicas: Input should be less than or equal to 2147483647: Kubernetes stores this value as a 32-bit integer",
    "stack-name-too-long": "6: metadata.name: String should have at most 63 characters (got 73): shorten it (Kubernetes limits names and label values)",
    "sub-milli-target": "47: autoscaling.targets.waiting_requests: 2.0005 is finer than 0.001: Kubernetes would round it",
    "sub-second-scrape-interval": "75: monitoring.scrape_interval: '500ms' is shorter than 1s: write a scrape interval of at least 1s (e.g. 30s)",
    "target-beyond-quantity": "47: autoscaling.targets.waiting_requests: Input should be less than or equal to 1000000000: far beyond any per-pod value (the HPA compares milli-quantities as 64-bit integers)",
    "target-for-unused-signal": "48: autoscaling.targets.ttft_p90: no model uses signal 'ttft_p90' (in use: ['waiting_requests'])",
    "too-many-models": "23: models: List should have at most 64 items after validation, not 72: one pod hosts every model of the spec",
    "two-documents": "102: a second YAML document (after ---): keep one document in this file",
    "unknown-key": "10: cluster.regoin: unknown key (check the spelling; see the spec reference in README.md)",
    "unknown-signal": "31: models[0].scaling_signal: Input should be 'waiting_requests', 'inflight_requests', 'ttft_p90', 'queue_time_avg' or 'queue_compute_ratio' (got 'queue_compute')",
    "wrong-type-string-for-int": "43: autoscaling.max_replicas: Input should be a valid integer (got '5'): write a plain number, without quotes",
    "zero-scrape-interval": "75: monitoring.scrape_interval: '0s' is shorter than 1s: write a scrape interval of at least 1s (e.g. 30s)",
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


MULTI = {
    "five-mistakes": [
        "10: cluster.regoin: unknown key (check the spelling; see the spec reference in README.md)",
        "13: triton.namespace: not a Kubernetes name (got 'Triton_VLLM'): use lowercase letters, digits, '-' and '.'",
        "44: autoscaling.max_replicas: Input should be a valid integer (got '5'): write a plain number, without quotes",
        "48: autoscaling.targets.waiting_requests: Input should be greater than 0",
        "76: monitoring.scrape_interval: not a duration (got '30 seconds'): write a number and a unit, e.g. 30s, 5m, 1h",
    ],
    "three-cross-field-mistakes": [
        "35: models[1].gpu: GPU index 4 does not exist in a pod with 4 GPUs",
        "43: autoscaling.min_replicas: must be <= max_replicas (6 > 5)",
        "77: monitoring.adapter_relist_interval: must be >= scrape_interval (30s), or adapter metrics flap",
    ],
}


@pytest.mark.parametrize("name", sorted(MULTI))
@pytest.mark.parametrize("command", ["validate", "render"])
def test_every_problem_of_a_spec_in_one_run(name: str, command: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Independent mistakes are all reported at once, one located line each, sorted by line; exit 2."""
    spec = BAD / "multi" / f"{name}.yaml"
    out = tmp_path / "out"
    args = [command, "--spec", str(spec), "--dashboards", str(DASHBOARDS)]
    if command == "render":
        args += ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {spec}:{line}" for line in MULTI[name]]
    assert not out.exists()


def test_every_repeated_key_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (BAD.parent.parent / "tritonobs.yaml").read_text()
    text = text.replace("  region: us-west-2\n", "  region: us-west-2\n  region: us-east-1\n", 1)
    text = text.replace("  engine: adapter\n", "  engine: adapter\n  engine: keda\n", 1)
    spec = tmp_path / "tritonobs.yaml"
    spec.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--spec", str(spec)])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {spec}:{n}: {key}: key appears twice (the second would silently win)"
                     for n, key in [(10, "cluster.region"), (43, "autoscaling.engine")]]
