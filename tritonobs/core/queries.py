"""Every PromQL query the rendered artifacts will run, with where it comes from.

Used by the cross-artifact checks (syntax, catalogue) and by `check-queries` against a live Prometheus.
Templates are expanded the way their consumer expands them: Grafana variables to concrete values, and
prometheus-adapter's `<<.LabelMatchers>>`/`<<.GroupBy>>` exactly as the adapter does for a list of pods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from tritonobs.core.expand import expand_adapter, expand_adapter_external, expand_grafana
from tritonobs.core.render import Bundle

Origin = Literal["dashboard", "alert", "record", "adapter", "external", "keda"]


@dataclass(frozen=True)
class Query:
    origin: Origin
    where: str  # dashboard/panel title, rule name, adapter metric name
    expr: str  # as rendered (may hold Grafana variables or adapter template fields)
    expect_data: bool = True  # False for alert expressions (empty = not firing) and lab-absent sources


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    for panel in _panels(dashboard.get("panels", [])):
        for t in panel.get("targets", []):
            if t.get("expr"):
                yield Query("dashboard", f"{dashboard.get('title')} / {panel.get('title')}", t["expr"])


def rule_queries(groups: dict[str, Any]) -> Iterator[Query]:
    for g in groups.get("groups", []):
        for r in g.get("rules", []):
            if "record" in r:
                yield Query("record", r["record"], r["expr"])
            else:
                yield Query("alert", r["alert"], r["expr"], expect_data=False)


def all_queries(bundle: Bundle) -> list[Query]:
    """Every query of a rendered bundle: dashboards, recording and alerting rules, then the scaling queries
    (the adapter's metricsQuery and its external rules, or KEDA's trigger queries)."""
    out: list[Query] = []
    for board in bundle.dashboards.values():
        out += dashboard_queries(board)
    out += rule_queries(bundle.rule_groups)
    for r in bundle.adapter_rules:
        out.append(Query("adapter", r["name"]["as"], r["metricsQuery"]))
    if bundle.keda:
        for t in bundle.autoscaler["spec"]["triggers"]:
            out.append(Query("keda", t["name"], t["metadata"]["query"]))
    else:
        out += external_queries(bundle)
    return out


def external_queries(bundle: Bundle) -> list[Query]:
    """The adapter's external rules expanded as the adapter does for the HPA's External metrics (the HPA's
    namespace and the metric's matchLabels selector; <<.Series>> is the series the rule's seriesQuery finds)."""
    rules = {r["name"]["as"]: r for r in bundle.external_rules}
    namespace = bundle.autoscaler["metadata"]["namespace"]
    out: list[Query] = []
    for m in bundle.autoscaler["spec"]["metrics"]:
        if m["type"] != "External" or m["external"]["metric"]["name"] not in rules:
            continue  # an External metric without its rule: the cross-artifact check reports it
        metric = m["external"]["metric"]
        rule = rules[metric["name"]]
        series = rule["seriesQuery"].split("{", 1)[0]
        selector = metric.get("selector", {}).get("matchLabels", {})
        out.append(Query("external", metric["name"], expand_adapter_external(rule["metricsQuery"], series, namespace,
                                                                              selector)))
    return out


def parse_ready(query: Query, namespace: str = "default") -> str:
    """A query made concrete enough to parse (used for syntax and catalogue checks)."""
    if query.origin == "adapter":
        return expand_adapter(query.expr, namespace, ["pod-0"])
    if query.origin == "dashboard":
        return expand_grafana(query.expr, {"namespace": namespace, "pod": ".*", "model": ".*", "job": ".*"})
    return query.expr
