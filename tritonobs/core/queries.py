"""Every PromQL query the rendered artifacts will run, with where it comes from.

Used by the cross-artifact checks (syntax, catalogue) and by `check-queries` against a live Prometheus.
Templates are expanded the way their consumer expands them: Grafana variables to concrete values, and
prometheus-adapter's `<<.LabelMatchers>>`/`<<.GroupBy>>` exactly as the adapter does for a list of pods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tritonobs.core import promql as q
from tritonobs.core.model import Stack
from tritonobs.core.render import DashboardSource

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


def all_queries(stack: Stack, dashboards: Sequence[DashboardSource]) -> list[Query]:
    from tritonobs.core.render import adapter_rules, alerts, forecast, keda
    from tritonobs.core.render import dashboards as dash

    out: list[Query] = []
    for src in dashboards:
        out += dashboard_queries(dash.build_json(stack, src))
    out += rule_queries(alerts.rule_groups(stack))
    if stack.spec.autoscaling.engine == "adapter":
        for r in adapter_rules.rules(stack):
            out.append(Query("adapter", r["name"]["as"], r["metricsQuery"]))
        # External rules expanded as the adapter does for the HPA's External metric (namespace + selector).
        selector = {"deployment": stack.spec.triton.deployment}
        for floor, r in zip(stack.scale_ahead.floors, forecast.external_rules(stack), strict=True):
            expr = expand_adapter_external(r["metricsQuery"], floor.floor_record, stack.namespace, selector)
            out.append(Query("external", r["name"]["as"], expr))
    else:
        for use in stack.signals:
            out.append(Query("keda", use.signal.adapter_metric, keda.trigger_query(stack, use)))
        for floor in stack.scale_ahead.floors:
            out.append(Query("keda", floor.external_metric, forecast.keda_query(stack, floor)))
    return out


# --- template expansion ---

GRAFANA_DEFAULTS = {
    "__rate_interval": "2m",
    "__interval": "30s",
    "__range": "1h",
    "datasource": "prometheus",
}


def expand_grafana(expr: str, variables: dict[str, str]) -> str:
    """Replace $var, ${var} and [[var]] the way Grafana does for a single (or regex-joined) value."""
    values = {**GRAFANA_DEFAULTS, **variables}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", sub, expr)


def expand_adapter(expr: str, namespace: str, pods: Sequence[str], group_by: str = "pod") -> str:
    """Expand a metricsQuery exactly as prometheus-adapter does for a namespaced pods request.

    Upstream `pkg/naming/metrics_query.go` (metricsQuery.Build): LabelMatchers joins, with "," and no space,
    the HPA metric selector's matchers (none here), `namespace="ns"`, then the resource label: `pod="a"`
    (LabelEq) for one name, `pod=~"a|b"` (LabelMatches) for several, names joined with "|" unescaped.
    GroupBy is the resource label, `pod`. The adapter never builds a query for zero names.
    """
    if not pods:
        raise ValueError("prometheus-adapter builds no query for an empty list of pods")
    pod = q.eq("pod", pods[0]) if len(pods) == 1 else q.re_("pod", "|".join(pods))
    matchers = f"{q.eq('namespace', namespace)},{pod}"
    fields = {"LabelMatchers": matchers, "GroupBy": group_by}
    # Go templates allow spaces inside the action: `<< .GroupBy >>` is the same field.
    return re.sub(r"<<\s*\.(LabelMatchers|GroupBy)\s*>>", lambda m: fields[m.group(1)], expr)


def expand_adapter_external(expr: str, series: str, namespace: str, selector: dict[str, str]) -> str:
    """Expand an external rule's metricsQuery for an HPA External metric in `namespace` with a matchLabels
    `selector`: LabelMatchers are the selector's matchers and, the rule being namespaced, `namespace="ns"`."""
    matchers = ",".join([*(q.eq(k, v) for k, v in sorted(selector.items())), q.eq("namespace", namespace)])
    fields = {"LabelMatchers": matchers, "Series": series}
    return re.sub(r"<<\s*\.(LabelMatchers|Series)\s*>>", lambda m: fields[m.group(1)], expr)


def parse_ready(query: Query, namespace: str = "default") -> str:
    """A query made concrete enough to parse (used for syntax and catalogue checks)."""
    if query.origin == "adapter":
        return expand_adapter(query.expr, namespace, ["pod-0"])
    if query.origin == "dashboard":
        return expand_grafana(query.expr, {"namespace": namespace, "pod": ".*", "model": ".*", "job": ".*"})
    return query.expr
