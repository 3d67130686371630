"""Cross-artifact checks: problems no single renderer can see. Pure; returns a list of problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser

from tritonobs.core import catalogue
from tritonobs.core.queries import Query, all_queries, parse_ready
from tritonobs.core.render import Bundle


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def series_names(expr: str) -> list[str]:
    """Metric names of every vector selector in a PromQL expression (raises ValueError on bad syntax)."""
    names: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def check_queries(queries: Sequence[Query], recorded: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for query in queries:
        where = f"{query.origin} {query.where}"
        try:
            names = series_names(parse_ready(query))
        except ValueError as e:
            problems.append(Problem(where, f"PromQL does not parse: {e}"))
            continue
        for name in names:
            if catalogue.lookup(name) is None and name not in recorded:
                problems.append(Problem(where, f"references {name!r}, which is not in the metric catalogue"))
    return problems


def check_hpa_metrics(bundle: Bundle) -> list[Problem]:
    """Every Pods metric the HPA reads must be served by an adapter rule (else the HPA shows <unknown>)."""
    if bundle.keda:
        return []
    served = {r["name"]["as"] for r in bundle.adapter_rules}
    problems = []
    hpa_name = bundle.autoscaler["metadata"]["name"]
    for m in bundle.autoscaler["spec"]["metrics"]:
        if m["type"] == "External":
            problems += check_external_metric(bundle, hpa_name, m["external"])
            continue
        name = m["pods"]["metric"]["name"]
        if name not in served:
            problems.append(Problem(f"HPA {hpa_name}", f"metric {name!r} has no prometheus-adapter rule"))
    for r in bundle.adapter_rules:
        mq = r["metricsQuery"]
        if "<<.LabelMatchers>>" not in mq or "<<.GroupBy>>" not in mq:
            problems.append(Problem(f"adapter rule {r['name']['as']}", "metricsQuery lacks LabelMatchers/GroupBy"))
    return problems


def check_external_metric(bundle: Bundle, hpa_name: str, metric: dict[str, Any]) -> list[Problem]:
    """An External metric of the HPA must be served by exactly one external rule, whose series carries the
    labels the HPA selects (else external.metrics.k8s.io returns nothing and the HPA shows <unknown>)."""
    name = metric["metric"]["name"]
    where = f"HPA {hpa_name} external metric {name!r}"
    rules = [r for r in bundle.external_rules if r["name"]["as"] == name]
    if len(rules) != 1:
        return [Problem(where, f"served by {len(rules)} prometheus-adapter external rules (need exactly 1)")]
    rule = rules[0]
    problems: list[Problem] = []
    record = rule["name"]["matches"].strip("^$").replace("\\", "")
    recorded = {r["record"] for g in bundle.rule_groups["groups"] for r in g["rules"] if "record" in r}
    if record not in recorded:
        problems.append(Problem(where, f"the adapter rule reads {record!r}, which no recording rule writes"))
    labels = bundle.floor_labels
    for key, value in metric["metric"].get("selector", {}).get("matchLabels", {}).items():
        if labels.get(key) != value:
            problems.append(Problem(where, f"selects {key}={value!r}, but the recorded floor has {key}={labels.get(key)!r}"))
    mq = rule["metricsQuery"]
    if "<<.LabelMatchers>>" not in mq or "<<.Series>>" not in mq:
        problems.append(Problem(f"adapter external rule {name}", "metricsQuery lacks <<.Series>>/<<.LabelMatchers>>"))
    if rule.get("resources", {}).get("overrides", {}).get("namespace") != {"resource": "namespace"}:
        problems.append(Problem(f"adapter external rule {name}", "not namespaced: the HPA's namespace would not apply"))
    return problems


def run_all(bundle: Bundle) -> list[Problem]:
    """The cross-artifact checks, over what was rendered (nothing is rendered again here)."""
    recorded = {r["record"] for g in bundle.rule_groups["groups"] for r in g["rules"] if "record" in r}
    return check_hpa_metrics(bundle) + check_queries(all_queries(bundle), recorded)
