"""Alert and recording rules: promtool-checked, promtool-tested (generated tests), linked to runbooks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.conftest import PROMTOOL
from tritonobs import emit
from tritonobs.core import catalogue
from tritonobs.core import promql as q
from tritonobs.core.artifacts import Artifact
from tritonobs.core.checks import check_queries, series_names
from tritonobs.core.errors import SpecError
from tritonobs.core.model import Stack, resolve
from tritonobs.core.queries import rule_queries
from tritonobs.core.render import alert_tests, alerts, render, render_all
from tritonobs.core.spec_loader import parse_spec

REPO = Path(__file__).resolve().parents[1]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tritonobs.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
DELETE = object()  # marks a list item to remove in spec_text()


def spec_text(edits: dict[str, Any]) -> str:
    """The example spec with dotted-path edits applied (`models.0.slo` indexes lists)."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for path, value in edits.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        if value is DELETE:
            del node[int(last)]
        else:
            node[int(last) if last.isdigit() else last] = value
    return yaml.safe_dump(data, sort_keys=False)


def stack_of(edits: dict[str, Any]) -> Stack:
    return resolve(parse_spec(spec_text(edits), file="variant.yaml"))


VARIANTS: dict[str, dict[str, Any]] = {
    "example": {},
    # KEDA, a TTFT-p90 signal beside waiting requests, two SLO buckets, Triton GPU metrics, odd thresholds.
    "keda-ttft-tritongpu": {
        "autoscaling.engine": "keda",
        "autoscaling.max_replicas": 3,
        "autoscaling.targets": {"ttft_p90": 1.5, "waiting_requests": 3},
        "models.0.scaling_signal": "ttft_p90",
        "models.1.slo": {"ttft_p95_seconds": 0.5},
        "monitoring.gpu_metrics": "triton",
        "monitoring.scrape_interval": "15s",
        "alerts": {
            "failure_ratio": 0.3,
            "waiting_requests_high": 7.5,
            "gpu_power_ratio": 1.1,
            "ttft_burn_fast": 19.5,
            "ttft_burn_slow": 1.5,
            "target_down_for": "90s",
            "runbook_base_url": "https://example.com/runbooks.md",
        },
    },
    # The other signals, shorter `for`s, a fractional temperature threshold.
    "inflight-queuetime": {
        "models.0.scaling_signal": "inflight_requests",
        "models.1.scaling_signal": "queue_time_avg",
        "autoscaling.targets": {"inflight_requests": 6, "queue_time_avg": 0.2},
        "alerts": {"gpu_temp_celsius": 80.5, "hpa_maxed_for": "3m", "no_success_for": "1m"},
    },
    # One model on the blueprint's ratio signal, max_replicas 1, an SLO at the top bucket.
    "single-model-ratio": {
        "models.1": DELETE,
        "models.0.scaling_signal": "queue_compute_ratio",
        "models.0.slo": {"ttft_p95_seconds": 10.0},
        "autoscaling.targets": {"queue_compute_ratio": 0.8},
        "autoscaling.max_replicas": 1,
    },
    # Every model on Triton's official vllm_backend: no engine gauges, so no waiting/stuck alerts; TTFT only.
    "all-vllm-backend": {
        "triton.image": "nvcr.io/nvidia/tritonserver:24.12-vllm-python-py3",
        "models.0.backend": "vllm",
        "models.1.backend": "vllm",
        "models.0.scaling_signal": "ttft_p90",
        "models.1.scaling_signal": "ttft_p90",
        "autoscaling.targets": {"ttft_p90": 2.0},
    },
}


def _alert_files(stack: Stack) -> list[Artifact]:
    return [a for a in render_all(stack, []) if a.path.startswith("alerts/")]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Stack, Path]:
    stack = stack_of(VARIANTS[request.param])
    root = tmp_path_factory.mktemp(request.param)
    emit.write(_alert_files(stack), root)
    return stack, root


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def all_rules(stack: Stack) -> list[dict[str, Any]]:
    return [r for g in alerts.rule_groups(stack)["groups"] for r in g["rules"]]


def alert_rules(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in all_rules(stack) if "alert" in r]


# --- promtool ---


def test_rule_file_passes_promtool_check(rendered: tuple[Stack, Path]) -> None:
    stack, root = rendered
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", alerts.RULES_FILE, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules(stack))} rules found" in result.stdout


def test_generated_promtool_tests_pass(rendered: tuple[Stack, Path]) -> None:
    stack, root = rendered
    files = sorted(str(p.relative_to(root)) for p in (root / alerts.TESTS_DIR).glob("*.test.yaml"))
    assert len(files) == len(alert_rules(stack))
    result = promtool("test", "rules", *files, cwd=root)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.count("SUCCESS") == len(files)


def test_generated_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The tests are not vacuous: the rule file with a different threshold fails its test."""
    stack = stack_of({})
    emit.write(_alert_files(stack), tmp_path)
    rules_file = tmp_path / alerts.RULES_FILE
    text = rules_file.read_text()
    threshold = f"> {q.number(stack.spec.alerts.waiting_requests_high)}"
    assert text.count(threshold) == 1
    rules_file.write_text(text.replace(threshold, "> 1000"))
    result = promtool("test", "rules", f"{alerts.TESTS_DIR}/TritonVllmWaitingHigh.test.yaml", cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "FAILED" in output and "got:[]" in output  # the expected alert did not fire


# --- structure of each alert ---


def runbook_anchors() -> set[str]:
    return {alerts.runbook_anchor(h) for h in re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(), re.MULTILINE)}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_alert_is_labelled_annotated_and_linked(variant: str) -> None:
    stack = stack_of(VARIANTS[variant])
    anchors = runbook_anchors()
    for rule in alert_rules(stack):
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        ann = rule["annotations"]
        assert ann["summary"] and "\n" not in ann["summary"], name
        assert "{{ $labels." in ann["description"], name
        base, anchor = ann["runbook_url"].split("#")
        assert base == stack.spec.alerts.runbook_base_url
        assert anchor in anchors, f"{name}: docs/runbooks.md has no '## {name}' section"
        assert rule["for"] and q.duration(duration(rule["for"])) == rule["for"], name


def test_every_example_alert_links_an_absolute_runbook_url(example_stack) -> None:  # type: ignore[no-untyped-def]
    """Alertmanager and Grafana notifications need a full URL; the default points at the project's repository."""
    links = {r["alert"]: r["annotations"]["runbook_url"] for r in alert_rules(example_stack)}
    assert links
    for name, url in links.items():
        assert url == f"https://github.com/tritonobs/tritonobs/blob/main/docs/runbooks.md#{name.lower()}", name


def duration(text: str) -> float:
    from tritonobs.core.config import duration_seconds

    return duration_seconds(text)


def test_runbooks_have_one_section_per_alert_and_no_stale_ones() -> None:
    names = {r["alert"] for v in VARIANTS.values() for r in alert_rules(stack_of(v))}
    assert runbook_anchors() == {alerts.runbook_anchor(n) for n in names}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_alert_has_a_generated_test_before_and_after_its_for(variant: str) -> None:
    stack = stack_of(VARIANTS[variant])
    rules_by_name = {r["alert"]: r for r in alert_rules(stack)}
    files = {a.path: yaml.safe_load(a.content) for a in alert_tests.render(stack)}
    assert set(files) == {f"{alerts.TESTS_DIR}/{n}.test.yaml" for n in rules_by_name}
    for path, doc in files.items():
        name = Path(path).name.removesuffix(".test.yaml")
        assert doc["rule_files"] == ["../tritonobs-rules.yaml"]
        firing = [c for t in doc["tests"] for c in t["alert_rule_test"] if c["exp_alerts"]]
        assert firing, f"{name}: no test case shows it firing"
        for test in doc["tests"]:
            checks = test["alert_rule_test"]
            assert {c["alertname"] for c in checks} == {name}
            before, at = (duration(c["eval_time"]) for c in checks)
            assert checks[0]["exp_alerts"] == []  # one evaluation before `for` has elapsed: not firing
            assert at - before == stack.scrape_seconds
            assert at >= duration(rules_by_name[name]["for"])
            for exp in checks[1]["exp_alerts"]:
                assert exp["exp_labels"]["severity"] == rules_by_name[name]["labels"]["severity"]
                assert "{{" not in exp["exp_annotations"]["description"]


# --- expressions ---


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_exprs_parse_and_use_only_catalogue_or_recorded_series(variant: str) -> None:
    stack = stack_of(VARIANTS[variant])
    groups = alerts.rule_groups(stack)
    recorded = {r["record"] for r in all_rules(stack) if "record" in r}
    for rule in all_rules(stack):
        promql_parser.parse(rule["expr"])  # raises on bad syntax
        for name in series_names(rule["expr"]):
            assert catalogue.lookup(name) is not None or name in recorded, (rule.get("alert") or rule["record"], name)
    assert check_queries(list(rule_queries(groups)), recorded) == []


def test_signal_records_are_the_hpa_expression_per_pod() -> None:
    stack = stack_of(VARIANTS["keda-ttft-tritongpu"])
    records = {r["record"]: r["expr"] for r in all_rules(stack) if "record" in r}
    assert len(stack.signals) == 2
    for use in stack.signals:
        expected = use.signal.per_pod(stack.signal_matchers(use), stack.rate_window, ["namespace", "pod"])
        assert records[use.signal.record] == expected
        assert records[use.signal.record] == records[f"pod:tritonobs_{use.name}:sum"]


def test_ttft_slo_counts_from_the_bucket_at_or_above_the_objective() -> None:
    assert alerts.ttft_slo_bound(2.0) == 2.5
    assert alerts.ttft_slo_bound(0.5) == 0.5
    assert alerts.ttft_slo_bound(10.0) == 10.0
    # Triton writes le="1", Python clients and Prometheus 3 le="1.0": both match.
    assert q.le_matcher(1.0) == 'le=~"1|1\\\\.0"'
    assert q.le_matcher(2.5) == 'le="2.5"'
    stack = stack_of(VARIANTS["keda-ttft-tritongpu"])  # llama2 2.0 s -> 2.5, mistral7b 0.5 s -> 0.5
    slo = {r["record"]: r["expr"] for r in alerts.slo_records(stack) if r["record"].endswith("rate5m")}
    assert len(alerts.slo_records(stack)) == 2 * len(alerts.SLO_WINDOWS)
    assert alerts.slo_bounds(stack) == {0.5: ("mistral7b",), 2.5: ("llama2",)}
    assert len(slo) == 1  # two rules, one record name, distinct `model` and `ttft_slo_le` labels


def test_burn_rate_thresholds_follow_the_sre_workbook() -> None:
    rules = {r["alert"]: r for r in alert_rules(stack_of({}))}
    fast, slow = rules["TritonTTFTBudgetBurnFast"]["expr"], rules["TritonTTFTBudgetBurnSlow"]["expr"]
    assert "ratio_rate1h" in fast and "ratio_rate5m" in fast and fast.count("> 0.72") == 2
    assert "ratio_rate6h" in slow and "ratio_rate30m" in slow and slow.count("> 0.3") == 2


@pytest.mark.parametrize(
    ("edits", "alert", "needle"),
    [
        ({"alerts.waiting_requests_high": 33}, "TritonVllmWaitingHigh", "> 33"),
        ({"alerts.failure_ratio": 0.2}, "TritonModelFailureRatioHigh", "> 0.2"),
        ({"alerts.gpu_temp_celsius": 90}, "TritonGpuTemperatureHigh", "> 90"),
        ({"alerts.gpu_power_ratio": 0.95}, "TritonGpuPowerNearLimit", "> 0.95"),
        ({"alerts.gpu_power_limit_watts": 250}, "TritonGpuPowerNearLimit", "/ 250"),
        ({"alerts.ttft_burn_fast": 10}, "TritonTTFTBudgetBurnFast", "> 0.5"),
        ({"autoscaling.targets": {"waiting_requests": 5}}, "TritonHpaMaxedOut", "> 5"),
        ({"autoscaling.engine": "keda"}, "TritonHpaScalingInactive", '"keda-hpa-'),
    ],
)
def test_a_threshold_change_changes_the_expr_and_its_test(edits: dict[str, Any], alert: str, needle: str) -> None:
    before, after = stack_of({}), stack_of(edits)

    def rule(stack: Stack) -> dict[str, Any]:
        return next(r for r in alert_rules(stack) if r["alert"] == alert)

    assert needle not in rule(before)["expr"]
    assert needle in rule(after)["expr"]
    test_of = {a.path: a.content for a in alert_tests.render(after)}
    assert test_of[f"{alerts.TESTS_DIR}/{alert}.test.yaml"] != {a.path: a.content for a in alert_tests.render(before)}[
        f"{alerts.TESTS_DIR}/{alert}.test.yaml"
    ]


def test_a_slo_change_moves_the_counted_bucket() -> None:
    records = alerts.slo_records(stack_of({"models.0.slo": {"ttft_p95_seconds": 0.6}}))
    assert any('le="0.75"' in r["expr"] and 'model="llama2"' in r["expr"] for r in records)
    assert any('le="2.5"' in r["expr"] and 'model="mistral7b"' in r["expr"] for r in records)


def test_a_for_change_changes_the_rule() -> None:
    rule = next(r for r in alert_rules(stack_of({"alerts.waiting_for": "3m"})) if r["alert"] == "TritonVllmWaitingHigh")
    assert rule["for"] == "3m"


def test_temperature_and_xid_need_dcgm() -> None:
    names = {r["alert"] for r in alert_rules(stack_of({"monitoring.gpu_metrics": "triton"}))}
    assert "TritonGpuPowerNearLimit" in names
    assert not names & {"TritonGpuTemperatureHigh", "TritonGpuXidError"}
    power = next(r for r in alert_rules(stack_of({"monitoring.gpu_metrics": "triton"})) if r["alert"] == "TritonGpuPowerNearLimit")
    assert power["expr"] == 'nv_gpu_power_usage{namespace="triton-vllm"} / nv_gpu_power_limit{namespace="triton-vllm"} > 0.98'


# --- artifacts and objects ---


def test_prometheus_rule_object() -> None:
    stack = stack_of({})
    bundle = render(stack, [])
    (obj,) = [o for o in bundle.objects if o["kind"] == "PrometheusRule"]
    assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] == "PrometheusRule"
    assert obj["metadata"]["name"] == stack.prometheus_rule_name == "triton-vllm-tritonobs"
    assert obj["metadata"]["namespace"] == "monitoring"
    assert obj["metadata"]["labels"] == {**stack.labels, "release": "kube-prometheus-stack"}
    artifacts = {a.path: a.content for a in bundle.artifacts}
    assert yaml.safe_load(artifacts[alerts.PROMETHEUS_RULE_FILE]) == obj
    # The operator's object carries the very rule file Prometheus loads (same groups, same rules).
    assert obj["spec"] == yaml.safe_load(artifacts[alerts.RULES_FILE]) == bundle.rule_groups
    assert [g["name"] for g in obj["spec"]["groups"]] == [
        "tritonobs.signals", "tritonobs.slo", "tritonobs.triton", "tritonobs.autoscaling", "tritonobs.gpu"
    ]


def test_rendering_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Byte-identical files from two processes with different string hash seeds (set and dict orders)."""
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-m", "tritonobs", "render", "--out", str(tmp_path / seed)], cwd=REPO,
                       env={**os.environ, "PYTHONHASHSEED": seed}, check=True, capture_output=True, timeout=300)
    first = {p.relative_to(tmp_path / "1"): p.read_bytes() for p in (tmp_path / "1").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "2"): p.read_bytes() for p in (tmp_path / "2").rglob("*") if p.is_file()}
    assert len(first) == 24 and first == second


def test_prometheus_template_subset() -> None:
    assert alert_tests.humanize(25) == "25"
    assert alert_tests.humanize(0.25) == "250m"
    assert alert_tests.humanize(1234) == "1.234k"
    assert alert_tests.humanize(0) == "0"
    assert alert_tests.expand("{{ $labels.pod }}/{{ $labels.none }}: {{ $value | humanizePercentage }}", {"pod": "p"}, 0.9833333) == "p/: 98.33%"
    with pytest.raises(ValueError):
        alert_tests.expand("{{ $value }}", {}, 1)


def test_spec_rejects_a_ttft_objective_beyond_the_buckets() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(spec_text({"models.0.slo": {"ttft_p95_seconds": 3000.0}}), file="bad.yaml")
    assert str(err.value).startswith("bad.yaml:")
    assert "models[0].slo.ttft_p95_seconds" in str(err.value)


def test_model_code_declares_the_buckets_the_catalogue_reads() -> None:
    """Dashboards and SLO records match `le` against catalogue bounds: the model code must export exactly those."""
    import ast

    tree = ast.parse((ROOT / "tritonobs/models/serving/engine_metrics.py").read_text())
    declared = {
        t.id: tuple(ast.literal_eval(node.value))
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id.endswith("_BUCKETS")
    }
    assert declared == {
        "TTFT_BUCKETS": catalogue.VLLM_TTFT.buckets,
        "TPOT_BUCKETS": catalogue.VLLM_TPOT.buckets,
        "REQUEST_LATENCY_BUCKETS": catalogue.VLLM_E2E.buckets,
    }
    assert catalogue.VLLM_QUEUE_TIME.buckets == catalogue.VLLM_E2E.buckets
    # vLLM >= 0.8.4's bounds: a long queue stays below +Inf (vllm/v1/metrics/loggers.py)
    assert declared["TTFT_BUCKETS"][-1] == 2560.0 and declared["REQUEST_LATENCY_BUCKETS"][-1] == 7680.0
