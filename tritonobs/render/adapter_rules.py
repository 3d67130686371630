"""prometheus-adapter rules: one rule per scaling signal in use, as the adapter's config and as Helm values.

Every metricsQuery carries `<<.LabelMatchers>>` and groups `by (<<.GroupBy>>)`: without either the adapter
returns one series for many pods (or none) and the HPA shows `<unknown>` (FACTS.md). The seriesQuery's
static selector (namespace, models) is repeated in the metricsQuery, as the adapter requires.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tritonobs import promql as q
from tritonobs.model import SignalUse, Stack
from tritonobs.render import Artifact, KubeObject
from tritonobs.render.yamlfmt import to_yaml

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
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{re.escape(use.signal.series_metric.name)}$", "as": use.signal.adapter_metric},
        "metricsQuery": metrics_query,
    }


def rules(stack: Stack) -> list[dict[str, Any]]:
    return [rule(stack, use) for use in stack.signals]


def adapter_config(stack: Stack) -> dict[str, Any]:
    return {"rules": rules(stack)}


def prometheus_values(url: str) -> dict[str, Any]:
    """The chart's `prometheus.{url,port,path}`: it starts the adapter with `url:port` + `path`, so every
    part is written out (a port or path left to `--reuse-values` or the chart default 9090 would be wrong)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return {"url": f"{parts.scheme}://{host}", "port": port, "path": parts.path.rstrip("/")}


def helm_values(stack: Stack) -> dict[str, Any]:
    """Values fragment for the prometheus-adapter chart (4.x): our rules only, relist from the spec."""
    mon = stack.spec.monitoring
    return {
        "metricsRelistInterval": mon.adapter_relist_interval,
        "prometheus": prometheus_values(mon.prometheus_url),
        "rules": {"default": False, "custom": rules(stack)},
    }


def objects(stack: Stack) -> list[KubeObject]:
    """The adapter's ConfigMap, when the adapter reads a ConfigMap we own (not a Helm-managed one)."""
    if stack.spec.autoscaling.engine != "adapter" or stack.spec.monitoring.adapter_install != "configmap":
        return []
    mon = stack.spec.monitoring
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": mon.adapter_release, "namespace": mon.namespace, "labels": stack.labels},
            "data": {CONFIG_KEY: to_yaml(adapter_config(stack))},
        }
    ]


def render(stack: Stack) -> list[Artifact]:
    if stack.spec.autoscaling.engine != "adapter":
        return []
    return [
        Artifact("adapter_rules/prometheus-adapter-config.yaml", to_yaml(adapter_config(stack))),
        Artifact("adapter_rules/prometheus-adapter-values.yaml", to_yaml(helm_values(stack))),
    ]
