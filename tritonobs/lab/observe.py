"""Reading the scaling signals per pod from the lab's Prometheus (lab run's live table, the benchmark)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tritonobs import promql as q
from tritonobs.model import Stack
from tritonobs.prom.client import PrometheusClient
from tritonobs.signals import SIGNALS


def signal_expr(stack: Stack, name: str, models: Sequence[str] | None = None) -> str:
    """The signal's per-pod PromQL, as the recording rule and adapter evaluate it, for the given models."""
    matchers = [q.eq("namespace", stack.namespace), q.one_of("model", models or stack.model_names)]
    return SIGNALS[name].per_pod(matchers, stack.rate_window, ["pod"])


def per_pod(client: PrometheusClient, expr: str, at: float | None = None) -> dict[str, float]:
    """{pod: value} of an instant query grouped by pod (NaN kept: it is what the adapter would read)."""
    return {s.labels.get("pod", ""): s.value for s in client.query(expr, at=at)}


def signals_by_pod(client: PrometheusClient, stack: Stack, names: Sequence[str],
                   models: Sequence[str] | None = None, at: float | None = None) -> dict[str, dict[str, float]]:
    return {name: per_pod(client, signal_expr(stack, name, models), at) for name in names}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    return f"{value:.3g}"
