"""`tritonobs lint`: exact findings with lines on a third-party-style dashboard, nothing on the stack's own
artifacts, config exclusions/warnings, output formats, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO
from tritonobs.cli import main
from tritonobs.review.findings import Severity
from tritonobs.review.lint import lint
from tritonobs.review.lint_config import LintConfig, parse
from tritonobs.review.rules_stack import StackSettings
from tritonobs.review.sources import docs_of

FIXTURES = REPO / "tests" / "fixtures" / "review"
COMMUNITY = FIXTURES / "vllm-community.dashboard.json"
COMMUNITY_REL = "tests/fixtures/review/vllm-community.dashboard.json"

# Each planted problem of the fixture, by (line, rule, panel, severity).
EXPECTED = [
    (2, "uneditable-dashboard", "", "error"),
    (11, "panel-units-rule", "Tokens per second", "error"),
    (11, "unit-format", "Tokens per second", "error"),
    (24, "target-rate-interval-rule", "Tokens per second", "error"),
    (53, "counter-rate", "Requests", "error"),
    (82, "histogram-quantile", "TTFT p95", "error"),
    (102, "gridpos-overlap", "Requests", "error"),
    (111, "series-known", "Requests", "error"),
    (116, "unique-panel-titles", "Requests", "error"),
    (120, "panel-title-description-rule", "Waiting now", "error"),
    (131, "unique-panel-ids", "Waiting now", "error"),
    (150, "template-datasource-rule", "", "error"),
    (150, "template-datasource-rule", "", "warning"),
    (165, "template-on-time-change-reload-rule", "", "error"),
]


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def _findings(text: str, file: str, cfg: LintConfig | None = None) -> list[tuple[int | None, str, str, str]]:
    found = lint(docs_of(text, file), cfg or LintConfig(), StackSettings())
    return sorted((f.line, f.rule, f.panel, str(f.severity)) for f in found)


def test_third_party_dashboard_exact_findings() -> None:
    assert _findings(COMMUNITY.read_text(), COMMUNITY_REL) == sorted(EXPECTED)


def test_messages_name_the_problem() -> None:
    found = {f.rule: f for f in lint(docs_of(COMMUNITY.read_text(), COMMUNITY_REL), LintConfig(), StackSettings())}
    assert found["unit-format"].message == ("unit 'suffix: tok/s' has spaces around 'tok/s': Grafana shows "
                                            "'12.5  tok/s' (two spaces); write 'suffix:tok/s'")
    assert found["counter-rate"].message.startswith("counter 'nv_inference_request_success' is read raw")
    assert found["histogram-quantile"].message == "histogram_quantile: sum drops `le` (aggregate `by (le, ...)`)"
    assert found["gridpos-overlap"].message == "gridPos (6, 8, 12, 8) overlaps panel 'TTFT p95' at (0, 8, 12, 8)"
    assert found["unique-panel-ids"].text() == (
        f'{COMMUNITY_REL}:131: dashboard "vLLM (community)" panel "Waiting now": unique-panel-ids: '
        "id 4 is also the id of panel 'Requests'")


def test_configmap_lines_point_into_the_yaml_file() -> None:
    body = COMMUNITY.read_text()
    indented = "".join("    " + line + "\n" for line in body.splitlines())
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vllm\n  labels:\n    grafana_dashboard: '1'\n"
            "data:\n  vllm.json: |\n" + indented)
    lines = {(rule, line) for line, rule, _, _ in _findings(text, "cm.yaml")}
    # the JSON starts on line 9 of the YAML file: every line moves by 8
    assert ("uneditable-dashboard", 10) in lines
    assert ("unique-panel-ids", 139) in lines


def test_stack_artifacts_have_no_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["lint", "--spec", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == "0 error(s), 0 warning(s), 0 excluded\n"


def test_exclusions_and_warnings_as_dashboard_linter_lint_file(tmp_path: Path) -> None:
    cfg_text = (
        "exclusions:\n"
        "  uneditable-dashboard:\n"
        "    reason: provisioned read-only by the sidecar anyway\n"
        "  unique-panel-titles:\n"
        "    entries:\n"
        "      - dashboard: vLLM (community)\n"
        "        panel: Requests\n"
        "        reason: two views of requests\n"
        "warnings:\n"
        "  template-on-time-change-reload:\n"  # without -rule: the same rule
        "  series-known:\n"
        "    entries:\n"
        "      - panel: Requests\n"
        "        targetIdx: 0\n"
    )
    cfg = parse(cfg_text, ".tritonobs-lint.yaml", {r for _, r, _, _ in EXPECTED} | {"template-on-time-change-reload-rule"})
    got = {(rule, sev) for _, rule, _, sev in _findings(COMMUNITY.read_text(), COMMUNITY_REL, cfg)}
    assert ("uneditable-dashboard", "excluded") in got
    assert ("unique-panel-titles", "excluded") in got
    assert ("template-on-time-change-reload-rule", "warning") in got
    assert ("series-known", "warning") in got
    assert ("counter-rate", "error") in got


def test_warnings_only_exit_0_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = sorted({r for _, r, _, _ in EXPECTED})
    cfg = tmp_path / "lint.yaml"
    cfg.write_text("warnings:\n" + "".join(f"  {r}:\n" for r in rules))
    assert _run(["lint", "-c", str(cfg), str(COMMUNITY)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "0 error(s), 14 warning(s), 0 excluded"
    assert _run(["lint", str(COMMUNITY)]) == 1


def test_github_and_json_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["lint", "-o", "github", str(COMMUNITY)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EXPECTED)
    assert (f"::error file={COMMUNITY_REL},line=131,title=unique-panel-ids::dashboard \"vLLM (community)\" "
            "panel \"Waiting now\": id 4 is also the id of panel 'Requests'") in lines
    assert sum(line.startswith("::warning ") for line in lines) == 1
    assert _run(["lint", "-o", "json", str(COMMUNITY)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {(d["line"], d["rule"], d["severity"]) for d in data} == {(a, b, d) for a, b, _, d in EXPECTED}


def test_bad_config_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lint.yaml"
    cfg.write_text("exclusions:\n  no-such-rule: {}\n")
    assert _run(["lint", "-c", str(cfg), str(COMMUNITY)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {cfg}:2: exclusions.no-such-rule: no such rule (see `tritonobs lint --rules`)"


def test_alert_and_scaling_rules() -> None:
    rules = (
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Flappy\n    expr: up == 0\n    for: 30s\n    labels: {}\n"
        "    annotations:\n      runbook_url: docs/runbooks.md#flappy\n"
    )
    adapter = "rules:\n- seriesQuery: x{pod!=''}\n  name: {as: served_metric}\n  metricsQuery: sum(x)\n"
    hpa = ("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec:\n  metrics:\n"
           "  - type: Pods\n    pods:\n      metric: {name: other_metric}\n      target: {type: AverageValue, averageValue: '2'}\n")
    keda = ("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: k}\nspec:\n  triggers:\n"
            "  - type: prometheus\n    metadata:\n      query: sum by (pod) (x)\n      threshold: '2'\n")
    docs = docs_of(rules, "rules.yaml") + docs_of(adapter, "adapter.yaml") + docs_of(hpa, "hpa.yaml") + docs_of(keda, "k.yaml")
    got = sorted((f.file, f.line, f.rule, f.alert) for f in lint(docs, LintConfig(), StackSettings(30.0, 15.0)))
    assert got == [
        ("adapter.yaml", 1, "adapter-relist", ""),
        ("adapter.yaml", 4, "adapter-query", ""),
        ("hpa.yaml", 6, "hpa-metric-rule", ""),
        ("k.yaml", 4, "keda-null-fallback", ""),
        ("k.yaml", 7, "keda-null-fallback", ""),
        ("k.yaml", 8, "keda-one-series", ""),
        ("rules.yaml", 4, "alert-labels", "Flappy"),
        ("rules.yaml", 4, "alert-labels", "Flappy"),
        ("rules.yaml", 6, "alert-for", "Flappy"),
        ("rules.yaml", 9, "alert-runbook-url", "Flappy"),
    ]
    assert all(f.severity is Severity.error for f in lint(docs, LintConfig(), StackSettings()))
