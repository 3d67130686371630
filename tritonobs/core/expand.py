"""PromQL templates expanded the way their consumer expands them: Grafana variables to concrete values, and
prometheus-adapter's `<<.LabelMatchers>>`/`<<.GroupBy>>` exactly as the adapter does for a list of pods."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tritonobs.core import promql as q

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
