"""`tritonobs simulate`: step traces through the engine against hand-computed upstream behaviour.

The step trace: total 0 until 60 s, 200 from 60 s to 600 s, 0 after, sampled every 15 s; target 2 per
pod, so every high sync asks for ceil(200 / 2) = 100 replicas whatever the current count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tritonobs.cli import main
from tritonobs.core.errors import UsageError
from tritonobs.core.render import hpa as hpa_render
from tritonobs.core.render.yamlfmt import to_yaml
from tritonobs.hpa.manifest import parse_hpa
from tritonobs.hpa.simulate import parse_trace, simulate


def manifest(behavior: dict[str, Any] | None, *, lo: int = 1, hi: int = 40, metric: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "triton"},
        "minReplicas": lo,
        "maxReplicas": hi,
        "metrics": [metric or {"type": "Pods", "pods": {"metric": {"name": "waiting"},
                                                        "target": {"type": "AverageValue", "averageValue": "2"}}}],
    }
    if behavior is not None:
        spec["behavior"] = behavior
    doc = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "triton", "namespace": "triton-vllm"}, "spec": spec}
    return yaml.safe_dump(doc, sort_keys=False)


def step_trace(end: int = 1500, high: float = 200) -> str:
    return "time_s,total_value\n" + "".join(
        f"{t},{high if 60 <= t < 600 else 0}\n" for t in range(0, end + 1, 15)
    )


def replicas_by_time(manifest_text: str, trace_text: str | None = None, **kw: Any) -> dict[float, int]:
    rows = simulate(parse_hpa(manifest_text), parse_trace(trace_text or step_trace()), **kw)
    return {r.time_s: r.replicas for r in rows}


def expected(changes: dict[int, int], end: int = 1500, start_value: int = 1) -> dict[float, int]:
    """Replica count per 15 s sync from a map of {sync time: new count}."""
    out, value = {}, start_value
    for t in range(0, end + 1, 15):
        value = changes.get(t, value)
        out[float(t)] = value
    return out


def test_default_behavior_step() -> None:
    """Up: max(+4 pods, +100 %) per 15 s (events exactly 15 s old no longer count). Down: the highest
    recommendation of the last 300 s wins, so 40 holds until the last high one (585 s) is 300 s old,
    then Percent 100 drops to minReplicas in one sync."""
    got = replicas_by_time(manifest({}))
    assert got == expected({60: 5, 75: 10, 90: 20, 105: 40, 885: 1})
    rows = simulate(parse_hpa(manifest({})), parse_trace(step_trace()))
    assert {r.desired for r in rows if 60 <= r.time_s < 600} == {100}
    assert {r.desired for r in rows if r.time_s >= 600 or r.time_s < 60} == {0}
    assert [r.per_pod_value for r in rows[4:8]] == [200.0, 40.0, 20.0, 10.0]


def test_pods_policy_drops_one_per_minute() -> None:
    down = {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    got = replicas_by_time(manifest({"scaleDown": down}))
    assert got == expected({60: 5, 75: 10, 90: 20, 105: 40, **{885 + 60 * k: 39 - k for k in range(11)}})


def test_select_policy_min_scales_up_by_the_smaller_policy() -> None:
    up = {"selectPolicy": "Min"}  # keeps the default policies: Pods 4 / 15 s and Percent 100 / 15 s
    got = replicas_by_time(manifest({"scaleUp": up}))
    ramp = {60: 2, 75: 4, 90: 8, 105: 12, 120: 16, 135: 20, 150: 24, 165: 28, 180: 32, 195: 36, 210: 40}
    assert got == expected({**ramp, 885: 1})


def test_disabled_scale_down_never_drops() -> None:
    got = replicas_by_time(manifest({"scaleDown": {"selectPolicy": "Disabled"}}))
    assert got == expected({60: 5, 75: 10, 90: 20, 105: 40})


def test_scale_up_stabilization_window() -> None:
    """A 60 s scale-up window takes the lowest recommendation of the last 60 s: the first sync whose
    window holds only high recommendations is 105 s (the 0 at 45 s is exactly 60 s old)."""
    got = replicas_by_time(manifest({"scaleUp": {"stabilizationWindowSeconds": 60}}))
    assert got == expected({105: 5, 120: 10, 135: 20, 150: 40, 885: 1})


def test_without_behavior_the_legacy_path_applies() -> None:
    """No behavior: the scale-up cap is max(2 x current, 4) per sync and the downscale window keeps
    recommendations exactly 300 s old, so the drop comes one sync later than with behavior."""
    got = replicas_by_time(manifest(None))
    assert got == expected({60: 4, 75: 8, 90: 16, 105: 32, 120: 40, 900: 1})


def test_tolerance_default_and_configured() -> None:
    trace = "time_s,total_value\n0,21\n150,21\n"  # 2.1 per pod over 10 replicas: ratio 1.05
    assert set(replicas_by_time(manifest({}, hi=20), trace, initial_replicas=10).values()) == {10}
    tight = manifest({"scaleUp": {"tolerance": "10m"}}, hi=20)  # 0.01: ceil(1.05 x 10) = 11, then 0.95 holds
    assert set(replicas_by_time(tight, trace, initial_replicas=10).values()) == {11}


def test_latest_sample_at_or_before_each_sync() -> None:
    rows = simulate(parse_hpa(manifest({}, hi=10)), parse_trace("time_s,total_value\n0,2\n10,4\n40,8\n"))
    assert [(r.time_s, r.per_pod_value, r.desired, r.replicas) for r in rows] == [
        (0.0, 2.0, 1, 1), (15.0, 4.0, 2, 2), (30.0, 2.0, 2, 2)]


@pytest.mark.parametrize(
    "metric",
    [
        pytest.param({"type": "External", "external": {"metric": {"name": "s0-prometheus"},
                                                       "target": {"type": "AverageValue", "averageValue": "2"}}},
                     id="external-averagevalue-as-keda"),
        pytest.param({"type": "Object", "object": {"metric": {"name": "waiting"},
                                                   "describedObject": {"kind": "Service", "name": "triton"},
                                                   "target": {"type": "AverageValue", "averageValue": "2"}}},
                     id="object-averagevalue"),
    ],
)
def test_total_metrics_scale_like_the_pods_metric(metric: dict[str, Any]) -> None:
    """The total divided by replicas (AverageValue) proposes what the Pods metric does for this trace."""
    assert replicas_by_time(manifest({}, metric=metric)) == expected({60: 5, 75: 10, 90: 20, 105: 40, 885: 1})


def test_rendered_example_hpa(example_stack) -> None:
    text = to_yaml(hpa_render.hpa(example_stack))
    spec = parse_hpa(text, file="adapter_rules/hpa.yaml")
    a = example_stack.spec.autoscaling
    assert (spec.name, spec.min_replicas, spec.max_replicas) == (example_stack.hpa_name, a.min_replicas, a.max_replicas)
    (metric,) = spec.metrics
    use = example_stack.signals[0]
    assert (metric.kind, metric.name, metric.target_milli) == ("Pods", use.signal.adapter_metric, int(use.target * 1000))
    assert spec.behavior is not None
    up = spec.behavior.scale_up
    assert (up.stabilization_window_seconds, up.select_policy) == (0, "Max")
    assert [(p.type, p.value, p.period_seconds) for p in up.policies] == [("Percent", 100, 15), ("Pods", 4, 15)]
    assert spec.behavior.scale_down.stabilization_window_seconds == 300
    got = replicas_by_time(text)
    assert got == expected({60: 5, 885: 1})  # maxReplicas 5 caps the first step


BAD_MANIFESTS = [
    ("apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nspec: {maxReplicas: 2}\n", 1, "v2beta2 is gone"),
    ("kind: ScaledObject\napiVersion: keda.sh/v1alpha1\n", 1, "no HorizontalPodAutoscaler"),
    ("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  maxReplicas: [\n", 5, "not valid YAML"),
    (manifest({}, lo=5, hi=2), 11, "minReplicas (5) must be <= maxReplicas"),
    (manifest({}, metric={"type": "Resource", "resource": {"name": "cpu"}}), 14, "not simulated"),
    (manifest({}, metric={"type": "Pods", "pods": {"metric": {"name": "w"}, "target": {"type": "Value", "value": 2}}}),
     19, "takes AverageValue"),
    (manifest({}, metric={"type": "Pods", "pods": {"metric": {"name": "w"},
                                                   "target": {"type": "AverageValue", "averageValue": "2x"}}}),
     20, "not a quantity"),
    (manifest({"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}), 26,
     "periodSeconds: expected an integer in [1, 1800]"),
    (manifest({"scaleUp": {"selectPolicy": "Fastest"}}), 23, "must be Max, Min or Disabled"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_MANIFESTS)
def test_bad_manifest_is_a_located_usage_error(text: str, line: int, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_hpa(text, file="hpa.yaml")
    assert e.value.line == line and message in str(e.value)
    assert str(e.value).startswith(f"hpa.yaml:{line}: ")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("time,value\n0,1\n", 1, "header time_s,total_value"),
        ("time_s,total_value\n0,1\n15,abc\n", 3, "not numbers"),
        ("time_s,total_value\n0,1\n15,-2\n", 3, "must be >= 0"),
        ("time_s,total_value\n30,1\n15,2\n", 3, "must not decrease"),
        ("time_s,total_value\n0,1,2\n", 2, "expected 2 columns"),
        ("time_s,total_value\n0,nan\n", 2, "finite"),
        ("time_s,total_value\n", 2, "no samples"),
    ],
)
def test_bad_trace_is_a_located_usage_error(text: str, line: int, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_trace(text, file="trace.csv")
    assert e.value.line == line and message in str(e.value)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    captured = capsys.readouterr()
    return int(e.value.code or 0), captured.out, captured.err


def test_cli_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hpa.yaml").write_text(manifest({}))
    (tmp_path / "trace.csv").write_text(step_trace(end=120))
    args = ["simulate", "--hpa", str(tmp_path / "hpa.yaml"), "--metric-trace", str(tmp_path / "trace.csv")]
    code, out, err = _run([*args, "-o", "json"], capsys)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["replicas"] for r in rows] == [1, 1, 1, 1, 5, 10, 20, 40, 40]
    assert rows[4] == {"time_s": 60.0, "per_pod_value": 200.0, "desired": 100, "replicas": 5}
    code, out, _ = _run([*args, "--initial-replicas", "3", "--sync-period", "30"], capsys)
    assert code == 0 and "per_pod_value" in out
    assert [line.split("│")[4].strip() for line in out.splitlines() if line.startswith("│")] == ["3", "3", "7", "14", "28"]


def test_cli_errors_exit_2_with_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hpa.yaml").write_text(manifest({}))
    (tmp_path / "bad.csv").write_text("time_s,total_value\n0,1\n15,x\n")
    code, out, err = _run(["simulate", "--hpa", str(tmp_path / "hpa.yaml"), "--metric-trace",
                           str(tmp_path / "bad.csv")], capsys)
    assert (code, out) == (2, "") and f"{tmp_path / 'bad.csv'}:3: not numbers" in err
    code, _, err = _run(["simulate", "--hpa", str(tmp_path / "missing.yaml"), "--metric-trace",
                         str(tmp_path / "bad.csv")], capsys)
    assert code == 2 and "missing.yaml: file not found" in err


def test_cli_several_metrics_drive_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = yaml.safe_load(manifest({}))
    doc["spec"]["metrics"].append({"type": "Pods", "pods": {"metric": {"name": "other"},
                                                            "target": {"type": "AverageValue", "averageValue": "1"}}})
    (tmp_path / "hpa.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "trace.csv").write_text(step_trace())
    code, out, err = _run(["simulate", "--hpa", str(tmp_path / "hpa.yaml"), "--metric-trace",
                           str(tmp_path / "trace.csv"), "-o", "json"], capsys)
    assert code == 0 and "the trace drives the first metric (pods metric waiting)" in err
    # The second metric is left out, not fed as missing (which would block every scale-down).
    assert {r["time_s"]: r["replicas"] for r in json.loads(out)} == expected({60: 5, 75: 10, 90: 20, 105: 40, 885: 1})
