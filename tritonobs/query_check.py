"""Run every rendered query against a live Prometheus and say which return data (`tritonobs check-queries`).

Each query is made concrete the way its consumer would make it:
- dashboards: Grafana variables expanded (namespace, pods, models, `$__rate_interval` from the scrape interval);
- adapter rules: pods discovered as prometheus-adapter discovers them (series of the rule's `seriesQuery`),
  then `<<.LabelMatchers>>`/`<<.GroupBy>>` expanded for those pods and evaluated as an *instant* query, as the
  adapter does; each pod must get exactly one finite value, or the HPA shows `<unknown>`/garbage;
- recording rules, alerts and KEDA triggers: as written.
Everything but adapter rules is evaluated as a *range* query over a lookback window: data a while ago counts,
and backfilled series (older than the 5-minute instant-query lookback) stay visible.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Literal

from tritonobs import backfill
from tritonobs.core import promql as q
from tritonobs.core.artifacts import DashboardSource
from tritonobs.core.checks import series_names
from tritonobs.core.config import duration_seconds
from tritonobs.core.expand import expand_adapter, expand_grafana
from tritonobs.core.model import Stack
from tritonobs.core.queries import Query, all_queries, dashboard_queries
from tritonobs.core.render import adapter_rules, render
from tritonobs.prom.client import PrometheusClient, QueryError

Status = Literal["data", "empty", "error"]
Provenance = Literal["live", "synthetic", "mixed"]


@dataclass(frozen=True)
class CheckResult:
    origin: str
    where: str
    expr: str  # as sent to Prometheus
    status: Status
    expect_data: bool
    series: int = 0
    provenance: Provenance = "live"
    detail: str = ""
    per_pod: dict[str, int] = field(default_factory=dict)  # adapter rules: values returned per pod

    @property
    def ok(self) -> bool:
        if self.status == "error":
            return False
        if self.origin == "adapter":
            return self.status == "data" and bool(self.per_pod) and all(n == 1 for n in self.per_pod.values()) \
                and not self.detail
        return self.status == "data" or not self.expect_data

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Window:
    end: float
    lookback: float
    step: float

    @property
    def start(self) -> float:
        return self.end - self.lookback


def default_window(stack: Stack, lookback: float, end: float) -> Window:
    # ~300 points per series keeps 100 range queries cheap; never finer than a scrape.
    return Window(end=end, lookback=lookback, step=max(stack.scrape_seconds, lookback / 300))


def rate_interval(stack: Stack, step: float) -> str:
    """Grafana's $__rate_interval: max($__interval + scrape interval, 4 x scrape interval)."""
    return q.duration(max(step + stack.scrape_seconds, 4 * stack.scrape_seconds))


def provenance(expr: str) -> Provenance:
    try:
        names = series_names(expr)
    except ValueError:
        return "live"
    synthetic = [backfill.is_synthetic(n) for n in names]
    if synthetic and all(synthetic):
        return "synthetic"
    return "mixed" if any(synthetic) else "live"


def discover_pods(client: PrometheusClient, stack: Stack, series_query: str, at: float) -> list[str]:
    """Pods of the stack's namespace that have series of `series_query` in the last relist interval
    (at least two scrapes, so a 1 s lab relist does not miss the latest sample)."""
    since = max(stack.scrape_seconds * 2, _relist_seconds(stack))
    found = client.series(series_query, start=at - since, end=at)
    return sorted({s["pod"] for s in found if s.get("namespace") == stack.namespace and s.get("pod")})


def _relist_seconds(stack: Stack) -> float:
    return duration_seconds(stack.spec.monitoring.adapter_relist_interval)


def _range_check(client: PrometheusClient, query: Query, expr: str, window: Window) -> CheckResult:
    def result(status: Status, series: int = 0, detail: str = "") -> CheckResult:
        return CheckResult(query.origin, query.where, expr, status, query.expect_data, series, provenance(expr), detail)

    try:
        found = client.query_range(expr, window.start, window.end, window.step)
    except QueryError as e:
        return result("error", detail=e.detail)
    with_points = [s for s in found if any(not math.isnan(v) for v in s.values())]
    if with_points:
        return result("data", len(with_points))
    return result("empty", detail="only NaN values" if found else "")


def _adapter_check(client: PrometheusClient, stack: Stack, query: Query, series_query: str, at: float) -> CheckResult:
    pods = discover_pods(client, stack, series_query, at)
    if not pods:
        return CheckResult(query.origin, query.where, query.expr, "empty", query.expect_data,
                           provenance=provenance(series_query), detail=f"no pods found by seriesQuery {series_query}")
    expr = expand_adapter(query.expr, stack.namespace, pods)
    try:
        samples = client.query(expr, at=at)
    except QueryError as e:
        return CheckResult(query.origin, query.where, expr, "error", query.expect_data, detail=e.detail)
    counts = Counter(s.labels.get("pod", "") for s in samples)
    per_pod = {pod: counts.get(pod, 0) for pod in pods}
    # The adapter keeps the last value per pod label and drops the rest: anything but exactly one
    # finite value per requested pod is a wrong (or missing) number on the HPA.
    problems = [f"{p}: {n} values" for p, n in per_pod.items() if n != 1]
    problems += [f"unrequested series {dict(s.labels)}" for s in samples if s.labels.get("pod", "") not in per_pod]
    problems += [f"{s.labels.get('pod', '?')}: value {s.value} (not a number the HPA can use)"
                 for s in samples if math.isnan(s.value) or math.isinf(s.value)]
    return CheckResult(query.origin, query.where, expr, "data" if samples else "empty", query.expect_data,
                       len(samples), provenance(expr), "; ".join(problems), per_pod)


def _dashboard_variables(dashboard: dict[str, Any], fixed: dict[str, str]) -> dict[str, str]:
    """Our concrete values, then each template variable's saved current value ("All" -> every value)."""
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name = var.get("name")
        current = (var.get("current") or {}).get("value")
        if not name or current is None:
            continue
        if isinstance(current, list):
            current = "|".join(str(v) for v in current)
        values[name] = ".*" if current in ("$__all", "") else str(current)
    return {**values, **fixed}


def run_checks(
    client: PrometheusClient,
    stack: Stack,
    dashboards: Sequence[DashboardSource],
    *,
    lookback: float = 900.0,
    now: float | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Evaluate every query of the stack; raises ExternalError only when Prometheus cannot be reached."""

    at = time.time() if now is None else now
    window = default_window(stack, lookback, at)
    bundle = render(stack, list(dashboards))
    # With KEDA no adapter rule is rendered, but their seriesQuery still names the stack's pods.
    series_queries = {r["name"]["as"]: r["seriesQuery"] for r in bundle.adapter_rules or adapter_rules.rules(stack)}
    pods = sorted({p for sq in series_queries.values() for p in discover_pods(client, stack, sq, at)})
    fixed = {
        "namespace": stack.namespace,
        "pod": "|".join(pods) or ".*",
        "model": "|".join(stack.model_names),
        "__rate_interval": rate_interval(stack, window.step),
        "__interval": q.duration(window.step),
        "__range": q.duration(window.lookback),
    }
    jobs: list[tuple[Query, Callable[[], CheckResult]]] = []
    for board in bundle.dashboards.values():
        variables = _dashboard_variables(board, fixed)
        for query in dashboard_queries(board):
            expr = expand_grafana(query.expr, variables)
            jobs.append((query, partial(_range_check, client, query, expr, window)))
    for query in all_queries(bundle):
        if query.origin == "dashboard":
            continue  # above, with the dashboard's variables
        if query.origin == "adapter":
            jobs.append((query, partial(_adapter_check, client, stack, query, series_queries[query.where], at)))
        else:
            jobs.append((query, partial(_range_check, client, query, query.expr, window)))
    results = []
    for query, job in jobs:
        if on_progress:
            on_progress(f"{query.origin} {query.where}")
        results.append(job())
    return results
