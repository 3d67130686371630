"""The predictive floor as rendered: records (promtool-checked and promtool-tested, tests shown to bite), the
HPA's External metric, the adapter's external rule, KEDA's trigger, and the cross-artifact check."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import variant_stack
from tritonobs import emit
from tritonobs.core.checks import check_hpa_metrics, run_all
from tritonobs.core.model import Stack
from tritonobs.core.queries import all_queries
from tritonobs.core.render import alerts, forecast, forecast_tests, hpa, keda, render, render_all

PROMTOOL = "/usr/bin/promtool"
PREDICTIVE = ("predictive", "predictive-keda-inflight")
DEPLOYMENT = "nvidia-triton-server-triton-inference-server"
OWN = f'{{deployment="{DEPLOYMENT}", namespace="triton-vllm"}}'


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write(stack: Stack, root: Path) -> None:
    """The rules and every promtool test file, as `render` writes them."""
    emit.write([a for a in render_all(stack, []) if a.path.startswith("alerts/")], root)


@pytest.mark.parametrize("variant", PREDICTIVE)
def test_records_pass_promtool_check_and_the_generated_tests(variant: str, tmp_path: Path) -> None:
    stack = variant_stack(variant)
    write(stack, tmp_path)
    check = promtool("check", "rules", "--lint=all", "--lint-fatal", alerts.RULES_FILE, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    result = promtool("test", "rules", forecast_tests.FILE, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    doc = yaml.safe_load((tmp_path / forecast_tests.FILE).read_text())
    assert [t["name"].rsplit(": ", 1)[1] for t in doc["tests"]] == ["ramp", "noise", "drop"]


@pytest.mark.parametrize("variant", PREDICTIVE)
def test_every_generated_alert_test_passes_with_the_forecast_group(variant: str, tmp_path: Path) -> None:
    """The forecast group changes the group order and adds the floor to TritonScalingSignalAbsent."""
    stack = variant_stack(variant)
    write(stack, tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / alerts.TESTS_DIR).glob("*.test.yaml"))
    assert len(files) == len(alerts.alerts(stack))
    result = promtool("test", "rules", *files, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    absent = next(a for a in alerts.alerts(stack) if a.name == "TritonScalingSignalAbsent")
    assert "absent(namespace:tritonobs_" in absent.expr and ':floor{namespace="triton-vllm", deployment=' in absent.expr


def test_example_renders_no_floor() -> None:
    stack = variant_stack("example")
    assert forecast.records(stack) == []
    bundle = render(stack, [])
    assert not any(a.path == forecast_tests.FILE for a in bundle.artifacts)
    assert "externalRules" not in bundle.adapter_config and bundle.external_rules == []
    assert [m["type"] for m in hpa.hpa(stack)["spec"]["metrics"]] == ["Pods"]


def test_records_for_the_example_with_predictive() -> None:
    stack = variant_stack("predictive")
    rules = {r["record"]: r for r in forecast.records(stack)}
    assert list(rules) == [
        "namespace:tritonobs_waiting_requests:sum",
        "namespace:tritonobs_waiting_requests:predict_linear",
        "namespace:tritonobs_waiting_requests:floor",
    ]
    total = rules["namespace:tritonobs_waiting_requests:sum"]
    assert total["labels"] == {"deployment": DEPLOYMENT}
    assert total["expr"].splitlines()[-1] == (
        'sum by (namespace) (vllm:num_requests_waiting{namespace="triton-vllm", model=~"llama2|mistral7b", '
        f'pod=~"{DEPLOYMENT}-.+"}})'
    )
    # lookahead = 90 + 240 + 180 s (the example's cold start); window = one lookahead
    assert rules["namespace:tritonobs_waiting_requests:predict_linear"]["expr"].splitlines()[-1] == (
        f"predict_linear(namespace:tritonobs_waiting_requests:sum{OWN}[510s], 510)"
    )
    assert rules["namespace:tritonobs_waiting_requests:floor"]["expr"].splitlines()[-3:] == [
        f"(namespace:tritonobs_waiting_requests:predict_linear{OWN} > namespace:tritonobs_waiting_requests:sum{OWN})",
        "or",
        f"namespace:tritonobs_waiting_requests:sum{OWN}",
    ]
    for rule in rules.values():  # every expression explains itself
        assert rule["expr"].startswith("# ")


def test_hpa_keeps_the_reactive_metric_first_and_adds_the_floor() -> None:
    metrics = hpa.hpa(variant_stack("predictive"))["spec"]["metrics"]
    assert metrics == [
        {"type": "Pods", "pods": {"metric": {"name": "tritonobs_waiting_requests"},
                                  "target": {"type": "AverageValue", "averageValue": "2"}}},
        {"type": "External", "external": {
            "metric": {"name": "tritonobs_waiting_requests_floor", "selector": {"matchLabels": {"deployment": DEPLOYMENT}}},
            "target": {"type": "AverageValue", "averageValue": "1600m"}}},  # 2 x (1 - 0.2)
    ]


def test_adapter_external_rule() -> None:
    stack = variant_stack("predictive")
    bundle = render(stack, [])
    (rule,) = bundle.adapter_config["externalRules"]
    assert rule == {
        "seriesQuery": f'namespace:tritonobs_waiting_requests:floor{{namespace!="", deployment="{DEPLOYMENT}"}}',
        "seriesFilters": [{"isNot": "^tritonobs/part-of=triton-vllm$"}],
        "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
        "name": {"matches": "^namespace:tritonobs_waiting_requests:floor$", "as": "tritonobs_waiting_requests_floor"},
        "metricsQuery": f'max by (namespace, deployment) (<<.Series>>{{<<.LabelMatchers>>,deployment="{DEPLOYMENT}"}})',
    }
    external = [q for q in all_queries(bundle) if q.origin == "external"]
    assert [q.expr for q in external] == [
        "max by (namespace, deployment) (namespace:tritonobs_waiting_requests:floor"
        f'{{deployment="{DEPLOYMENT}",namespace="triton-vllm",deployment="{DEPLOYMENT}"}})'
    ]


def test_keda_second_trigger_reads_the_same_record() -> None:
    stack = variant_stack("predictive-keda-inflight")
    triggers = keda.scaled_object(stack)["spec"]["triggers"]
    assert [t["name"] for t in triggers] == ["tritonobs-inflight-requests", "tritonobs-inflight-requests-floor"]
    floor = triggers[1]
    assert floor["metricType"] == "AverageValue"
    assert floor["metadata"]["threshold"] == "4.5"  # 6 x (1 - 0.25)
    assert floor["metadata"]["query"] == f"sum(namespace:tritonobs_inflight_requests:floor{OWN})"
    assert floor["metadata"]["ignoreNullValues"] == "false"
    records = {r["record"]: r["expr"] for r in forecast.records(stack)}
    # lookahead 6m, 15 s scrapes: a 6m window (24 scrapes)
    assert records["namespace:tritonobs_inflight_requests:predict_linear"].endswith(
        f"predict_linear(namespace:tritonobs_inflight_requests:sum{OWN}[6m], 360)"
    )
    assert "vllm:num_requests_running" in records["namespace:tritonobs_inflight_requests:sum"]
    bundle = render(stack, [])
    assert "externalRules" not in bundle.adapter_config and bundle.adapter_rules == []  # KEDA: no adapter


@pytest.mark.parametrize("variant", PREDICTIVE)
def test_cross_artifact_checks_pass(variant: str) -> None:
    assert run_all(render(variant_stack(variant), [])) == []


def test_cross_check_catches_an_external_metric_without_its_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = variant_stack("predictive")
    real = hpa.hpa

    def renamed(s: Stack) -> dict:  # type: ignore[type-arg]
        obj = copy.deepcopy(real(s))
        obj["spec"]["metrics"][1]["external"]["metric"]["name"] = "tritonobs_waiting_requests_flor"
        return obj

    monkeypatch.setattr(hpa, "hpa", renamed)
    (problem,) = check_hpa_metrics(render(stack, []))
    assert str(problem) == (
        f"HPA {DEPLOYMENT} external metric 'tritonobs_waiting_requests_flor': served by 0 prometheus-adapter "
        "external rules (need exactly 1)"
    )


def test_cross_check_catches_a_selector_the_record_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = variant_stack("predictive")
    real = hpa.hpa

    def other(s: Stack) -> dict:  # type: ignore[type-arg]
        obj = copy.deepcopy(real(s))
        obj["spec"]["metrics"][1]["external"]["metric"]["selector"]["matchLabels"]["deployment"] = "other"
        return obj

    monkeypatch.setattr(hpa, "hpa", other)
    (problem,) = check_hpa_metrics(render(stack, []))
    assert "selects deployment='other', but the recorded floor has deployment=" in str(problem)


# --- the generated promtool tests bite: a broken rule fails them ---

FLOOR = "namespace:tritonobs_waiting_requests:floor"
BROKEN = {
    # No lookahead: the floor is today's load, and the ramp case's "one lookahead ahead" check fails.
    "no-lookahead": ("[510s], 510)", "[510s], 0)", [f"abs({FLOOR}{{", f"ceil({FLOOR}{{"]),
    # A window of 3 scrapes chases the noise: the noise case's one-replica band fails.
    "short-window": ("[510s], 510)", "[90s], 510)", [f"max_over_time(ceil({FLOOR}{{"]),
    # The forecast alone (no max with today's load): below the load under noise and after the drop.
    "forecast-only": (
        f"\n      or\n      namespace:tritonobs_waiting_requests:sum{OWN}",
        f"\n      or\n      namespace:tritonobs_waiting_requests:predict_linear{OWN}",
        [f"min_over_time(({FLOOR}{{", f"max_over_time({FLOOR}{{"],
    ),
    # Without the Deployment's pod prefix another Deployment's load counts.
    "any-pod": (f', pod=~"{DEPLOYMENT}-.+"}})', "})", ['expr: "namespace:tritonobs_waiting_requests:sum{']),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_generated_tests_fail_on_a_broken_rule(name: str, tmp_path: Path) -> None:
    old, new, failing = BROKEN[name]
    stack = variant_stack("predictive")
    write(stack, tmp_path)
    rules_file = tmp_path / alerts.RULES_FILE
    text = rules_file.read_text()
    assert text.count(old) >= 1, old
    rules_file.write_text(text.replace(old, new))
    result = promtool("test", "rules", forecast_tests.FILE, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stderr.splitlines() if line.strip().startswith("expr:")]
    for expr in failing:  # the checks that must catch this breakage, each one failing
        assert any(expr in line.replace('\\"', '"') for line in failed), (expr, failed)


def test_noise_sequence_is_fixed_and_bounded() -> None:
    seq = forecast_tests.noise_sequence(200)
    assert seq[:5] == forecast_tests.noise_sequence(5)
    assert all(-1 <= u <= 1 for u in seq)
    assert min(seq) < -0.8 and max(seq) > 0.8  # it spans the +-20% band
