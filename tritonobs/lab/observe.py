"""Reading the lab's Prometheus: is every replica scraped yet, and the scaling signals per pod (the lab
run's live table, verify --lab, the benchmarks)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack
from tritonobs.core.signals import SIGNALS
from tritonobs.prom.client import PrometheusClient


def scraped_pods(client: PrometheusClient, stack: Stack) -> set[str]:
    """Pods of the stack's namespace whose last scrape succeeded."""
    expr = f"{q.sel(c.UP, [q.eq('namespace', stack.namespace)])} == 1"
    return {s.labels.get("pod", "") for s in client.query(expr)}


def wait_scraped(client: PrometheusClient, stack: Stack, pods: Iterable[str], timeout: float = 20.0) -> None:
    """file_sd changes reach the scrape loop within seconds: wait until every pod is scraped, so the first
    reading sees their series instead of treating them as missing. ExternalError (exit 3) on timeout."""
    want = set(pods)
    deadline = time.monotonic() + timeout
    while not want <= scraped_pods(client, stack):
        if time.monotonic() > deadline:
            missing = sorted(want - scraped_pods(client, stack))
            raise ExternalError(client.url, f"Prometheus did not scrape {', '.join(missing)} within {timeout:.0f}s")
        time.sleep(0.5)


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
