"""prometheus-adapter rules: one rule per scaling signal in use, each marked as this stack's.

What is rendered (`adapter_rules/prometheus-adapter-config.yaml`) is this stack's rules only, for review: the
adapter is shared, so `tritonobs apply` merges them into its live rule list (render/adapter_merge.py; the
Helm values or the ConfigMap are built from the cluster at apply time, never from the spec alone).

Every metricsQuery carries `<<.LabelMatchers>>` and groups `by (<<.GroupBy>>)`: without either the adapter
returns one series for many pods (or none) and the HPA shows `<unknown>` (docs/facts.md). The seriesQuery's
static selector (namespace, models) is repeated in the metricsQuery, as the adapter requires.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tritonobs.core import promql as q
from tritonobs.core.model import SignalUse, Stack
from tritonobs.core.render.adapter_merge import owner_filter

LABEL_MATCHERS = "<<.LabelMatchers>>"
GROUP_BY = "<<.GroupBy>>"
CONFIG_KEY = "config.yaml"


def rule(stack: Stack, use: SignalUse) -> dict[str, Any]:
    static = stack.signal_matchers(use)
    series = q.sel(use.signal.series_metric, [*static, q.ne("pod", "")])
    # The namespace matcher comes from the HPA's object via LabelMatchers; the model filter is static.
    metrics_query = use.signal.per_pod([LABEL_MATCHERS, q.one_of("model", use.models)], stack.rate_window, [GROUP_BY])
    return {
        "seriesQuery": series,
        "seriesFilters": [owner_filter(stack.name)],
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{re.escape(use.signal.series_metric.name)}$", "as": use.signal.adapter_metric},
        "metricsQuery": metrics_query,
    }


def rules(stack: Stack) -> list[dict[str, Any]]:
    return [rule(stack, use) for use in stack.signals]


def prometheus_values(url: str) -> dict[str, Any]:
    """The chart's `prometheus.{url,port,path}` for a URL: it starts the adapter with `url:port` + `path`.
    apply compares the adapter release's values with this (it leaves a shared adapter's settings alone)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return {"url": f"{parts.scheme}://{host}", "port": port, "path": parts.path.rstrip("/")}
