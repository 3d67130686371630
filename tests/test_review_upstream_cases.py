"""The port against grafana/dashboard-linter's own rule tests (lint/rule_*_test.go at 4d0844b): the same
dashboards give the same results and messages (upstream prefixes `Dashboard '…', panel '…', target idx '0'`,
which our findings carry as fields)."""

from __future__ import annotations

import json

import pytest

from tritonobs.review.findings import Doc
from tritonobs.review.lint import lint_dashboard
from tritonobs.review.lint_config import LintConfig

PROM_DS = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"}


def _dash(expr: str, ds: bool = True, panel_type: str = "singlestat") -> Doc:
    d = {"title": "dashboard", "templating": {"list": [PROM_DS] if ds else []},
         "panels": [{"type": panel_type, "title": "panel", "targets": [{"expr": expr}]}]}
    return Doc("d.json", "dashboard", json.loads(json.dumps(d)))


def _messages(doc: Doc, rule: str) -> list[str]:
    cfg = LintConfig(job_instance="on")
    return [f.message for f in lint_dashboard(doc, cfg, set()) if f.rule == rule]


@pytest.mark.parametrize("matcher", ["job", "instance"])
@pytest.mark.parametrize(("expr", "message"), [
    ('sum(rate(foo{M=~"$M"}[5m]))', None),
    ('sum(rate(foo{M="integrations/bar", M=~"$M"}[5m]))', None),
    ('sum(rate(foo{M=~"$M", M="integrations/bar"}[5m]))', None),
    ("sum(rate(foo[5m]))", "invalid PromQL query 'sum(rate(foo[5m]))': M selector not found"),
    ('sum(rate(foo{M="$M"}[5m]))', "invalid PromQL query 'sum(rate(foo{M=\"$M\"}[5m]))': M selector is =, not =~"),
    ('sum(rate(foo{M=~"$foo"}[5m]))', "invalid PromQL query 'sum(rate(foo{M=~\"$foo\"}[5m]))': M selector is $foo, not $M"),
])
def test_target_job_instance(matcher: str, expr: str, message: str | None) -> None:
    expr = expr.replace("M", matcher) if matcher else expr
    expected = [message.replace("M", matcher)] if message else []
    assert _messages(_dash(expr), f"target-{matcher}-rule") == expected


@pytest.mark.parametrize(("expr", "ds", "message"), [
    ("sum(rate(foo[5m]))", False, None),  # no Prometheus datasource variable: the rule does not run
    ('sum(rate(foo{job=~"$job",instance=~"$instance"}[$__rate_interval]))', True, None),
    ('sum(rate(foo{job=~"$job",instance=~"$instance"}[$__rate_interval]))/sum(rate(bar{job=~"$job",instance=~"$instance"}[$__rate_interval]))', True, None),
    ('sum(rate(foo{job=~"$job",instance=~"$instance"}[5m]))', True,
     "invalid PromQL query 'sum(rate(foo{job=~\"$job\",instance=~\"$instance\"}[5m]))': should use $__rate_interval"),
    ('sum(increase(foo{job=~"$job",instance=~"$instance"}[$__range]))', True, None),
    ('sum(irate(foo{job=~"$job",instance=~"$instance"}[$__interval]))', True,
     "invalid PromQL query 'sum(irate(foo{job=~\"$job\",instance=~\"$instance\"}[$__interval]))': should use $__rate_interval"),
])
def test_target_rate_interval(expr: str, ds: bool, message: str | None) -> None:
    assert _messages(_dash(expr, ds), "target-rate-interval-rule") == ([message] if message else [])


@pytest.mark.parametrize(("expr", "message"), [
    ("something_total", "counter metric 'something_total' is not aggregated with rate, irate, or increase"),
    ("something_total[$__rate_interval]", "counter metric 'something_total' is not aggregated with rate, irate, or increase"),
    ("increase(something_total[$__rate_interval])", None),
    ("something_total / rate(somethingelse_total[$__rate_interval])",
     "counter metric 'something_total' is not aggregated with rate, irate, or increase"),
    ("rate(something_total[$__rate_interval]) / somethingelse_total",
     "counter metric 'somethingelse_total' is not aggregated with rate, irate, or increase"),
])
def test_target_counter_agg(expr: str, message: str | None) -> None:
    assert _messages(_dash(expr, panel_type="timeseries"), "target-counter-agg-rule") == ([message] if message else [])


@pytest.mark.parametrize(("variables", "messages"), [
    ([], ["does not have a templated data source"]),
    ([{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"}], []),
    ([{"name": "prometheus_datasource", "label": "Prometheus data source", "type": "datasource", "query": "prometheus"}], []),
    ([{"name": "ds", "label": "Data source", "type": "datasource", "query": "prometheus"}],
     ["templated data source variable named 'ds', should be named 'prometheus_datasource', or 'datasource'"]),
])
def test_template_datasource(variables: list[dict[str, str]], messages: list[str]) -> None:
    doc = Doc("d.json", "dashboard", {"title": "dashboard", "templating": {"list": variables}, "panels": []})
    assert _messages(doc, "template-datasource-rule") == messages
