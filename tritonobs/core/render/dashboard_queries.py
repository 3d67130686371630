"""The dashboards' PromQL, kept apart from panel layout (kubernetes-mixin style).

Every expression is built from the catalogue and the `promql` builders. Grafana template variables are
the only free parts: `$namespace`, `$pod`, `$model` (matchers defined once below), `$__rate_interval` for
every rate and `$__range` for totals over the dashboard's time range. `counter_problems` is the house rule
the panel helpers enforce: a counter is never plotted raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import promql_parser

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.expand import expand_grafana
from tritonobs.core.model import SignalUse, Stack

RATE = "$__rate_interval"
RANGE = "$__range"

NAMESPACE = q.eq("namespace", "$namespace")
POD = q.re_("pod", "$pod")
MODEL = q.re_("model", "$model")

POD_MATCHERS: tuple[str, ...] = (NAMESPACE, POD)  # series without a model label (GPU, CPU)
MODEL_MATCHERS: tuple[str, ...] = (NAMESPACE, POD, MODEL)  # per-model series, filtered by $model

BY_MODEL = ("model",)
BY_POD = ("pod",)


def one_model(name: str) -> tuple[str, ...]:
    """Matchers of the per-model rows: that model on the selected pods."""
    return (NAMESPACE, POD, q.eq("model", name))


# --- building blocks ---


def per_second(metric: c.Metric, matchers: Sequence[str], by: Sequence[str] = BY_MODEL) -> str:
    return q.sum_by(by, q.rate(q.sel(metric, matchers), RATE))


def total_in_range(metric: c.Metric, matchers: Sequence[str], by: Sequence[str] = BY_MODEL) -> str:
    """Counter increase over the dashboard's time range (reset-safe, unlike a raw cumulative counter)."""
    return q.sum_by(by, q.increase(q.sel(metric, matchers), RANGE))


def gauge_sum(metric: c.Metric, matchers: Sequence[str], by: Sequence[str] = BY_MODEL) -> str:
    return q.sum_by(by, q.sel(metric, matchers))


def us_to_ms(expr: str) -> str:
    return q.divide(expr, 1000)


def per_request_ms(duration: c.Metric, matchers: Sequence[str], by: Sequence[str] = BY_MODEL) -> str:
    """Average Triton stage time per request in ms: rate(sum µs) / clamp_min(rate(successes)), then µs -> ms."""
    assert duration.unit == "us", duration.name
    return us_to_ms(q.avg_from_counters(duration, c.NV_REQUEST_SUCCESS, matchers, RATE, by))


def quantile(qv: float, hist: c.Metric, matchers: Sequence[str], by: Sequence[str] = ()) -> str:
    return q.histogram_quantile(qv, hist, matchers, RATE, by)


# --- Triton per model (for decoupled vLLM models these only cover execute(): DESIGN.md) ---


def queue_ms(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_request_ms(c.NV_QUEUE_DURATION, matchers)


def compute_ms(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_request_ms(c.NV_COMPUTE_INFER_DURATION, matchers)


def request_ms(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_request_ms(c.NV_REQUEST_DURATION, matchers)


def success_per_second(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_second(c.NV_REQUEST_SUCCESS, matchers)


def failure_per_second(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_second(c.NV_REQUEST_FAILURE, matchers, ("model", "reason"))


def requests_in_range(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return total_in_range(c.NV_REQUEST_SUCCESS, matchers)


def pending(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return gauge_sum(c.NV_PENDING_REQUESTS, matchers)


# --- GPU: DCGM exporter or Triton's nv_gpu_*, normalised to the same units ---


@dataclass(frozen=True)
class GpuSeries:
    """Per-GPU expressions in common units: utilisation 0-1, bytes, watts, joules."""

    source: str  # human name of the exporter
    device_label: str  # the label that tells GPUs of one pod apart
    utilization: str
    memory_used: str
    memory_total: str
    power: str
    power_avg: str  # one number for the gauge: mean draw over the selected GPUs
    energy_in_range: str

    @property
    def legend(self) -> str:
        return f"{{{{pod}}}} {{{{{self.device_label}}}}}"


def _dcgm() -> GpuSeries:
    by = ("pod", "gpu")
    mib = 1024 * 1024

    def of_pods(metric: c.Metric) -> str:
        # dcgm-exporter names the GPU's pod in `pod` or, scraped with honorLabels false, in `exported_pod`.
        return q.of_workload(metric, POD_MATCHERS)

    def g(metric: c.Metric) -> str:
        # max drops the exporter's extra labels (UUID, modelName, Hostname, container) without summing.
        return q.max_by(by, of_pods(metric))

    energy = q.of_workload(c.DCGM_ENERGY, POD_MATCHERS, over=lambda s: q.increase(s, RANGE))
    return GpuSeries(
        source="DCGM exporter",
        device_label="gpu",
        utilization=q.divide(g(c.DCGM_GPU_UTIL), 100),  # percent -> ratio
        memory_used=q.multiply(g(c.DCGM_FB_USED), mib),  # MiB -> bytes
        memory_total=q.multiply(f"{g(c.DCGM_FB_USED)} + {g(c.DCGM_FB_FREE)}", mib),
        power=g(c.DCGM_POWER),
        power_avg=q.agg("avg", of_pods(c.DCGM_POWER)),
        energy_in_range=q.divide(q.agg("sum", energy), 1000),  # mJ -> J
    )


def _triton() -> GpuSeries:
    by = ("pod", "gpu_uuid")

    def g(metric: c.Metric) -> str:
        return q.max_by(by, q.sel(metric, POD_MATCHERS))

    return GpuSeries(
        source="Triton nv_gpu_*",
        device_label="gpu_uuid",
        utilization=g(c.NV_GPU_UTILIZATION),
        memory_used=g(c.NV_GPU_MEMORY_USED),
        memory_total=g(c.NV_GPU_MEMORY_TOTAL),
        power=g(c.NV_GPU_POWER_USAGE),
        power_avg=q.agg("avg", q.sel(c.NV_GPU_POWER_USAGE, POD_MATCHERS)),
        energy_in_range=total_in_range(c.NV_ENERGY, POD_MATCHERS, ()),
    )


def gpu(stack: Stack) -> GpuSeries:
    return _dcgm() if stack.monitoring.gpu_metrics == "dcgm" else _triton()


# --- CPU (Triton's nv_cpu_*, per pod) ---


def cpu_utilization() -> str:
    return q.max_by(BY_POD, q.sel(c.NV_CPU_UTILIZATION, POD_MATCHERS))


def cpu_memory_used() -> str:
    return q.max_by(BY_POD, q.sel(c.NV_CPU_MEMORY_USED, POD_MATCHERS))


def cpu_memory_total() -> str:
    return q.max_by(BY_POD, q.sel(c.NV_CPU_MEMORY_TOTAL, POD_MATCHERS))


# --- vLLM engine ---


def tokens_per_second(metric: c.Metric, matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return per_second(metric, matchers)


def kv_cache(matchers: Sequence[str] = MODEL_MATCHERS) -> str:
    return q.max_by(("model", "pod"), q.sel(c.VLLM_KV_CACHE, matchers))


# --- autoscaling ---


def deployment_pods(stack: Stack) -> str:
    """Pods of the Triton Deployment (`<deployment>-<replicaset hash>-<id>`), whatever `$pod` says."""
    return q.re_("pod", q.name_regex(stack.triton.deployment) + "-.*")


def signal_per_pod(use: SignalUse) -> str:
    """The signal exactly as the HPA sees it per pod, restricted to the models that feed it."""
    return use.signal.per_pod((NAMESPACE, POD, q.one_of("model", use.models)), RATE, BY_POD)


def signal_hpa_average(stack: Stack, use: SignalUse) -> str:
    """What a Pods/AverageValue metric compares with the target: the mean over all the Deployment's pods
    (not only the ones picked in `$pod`)."""
    matchers = (NAMESPACE, deployment_pods(stack), q.one_of("model", use.models))
    return q.agg("avg", use.signal.per_pod(matchers, RATE, BY_POD))


def hpa_replicas(stack: Stack, metric: c.Metric) -> str:
    # max: two kube-state-metrics replicas (or a restart) must not double the count.
    return q.agg("max", q.sel(metric, (NAMESPACE, q.eq("horizontalpodautoscaler", stack.effective_hpa_name))))


def hpa_unable_to_scale(stack: Stack) -> str:
    m = (
        NAMESPACE,
        q.eq("horizontalpodautoscaler", stack.effective_hpa_name),
        q.eq("condition", "ScalingActive"),
        q.eq("status", "false"),
    )
    return q.agg("max", q.sel(c.KSM_HPA_CONDITION, m))


def pool_nodes(stack: Stack) -> str:
    return q.agg("count", q.sel(c.KSM_NODE_LABELS, stack.node_pool_matcher))


def ready_pods(stack: Stack) -> str:
    return q.agg(
        "sum", q.sel(c.KSM_POD_READY, (NAMESPACE, deployment_pods(stack), q.eq("condition", "true")))
    )


def nodeclaims_per_minute(stack: Stack) -> str:
    m = (q.eq("nodepool", stack.gpu_pool.nodepool),)
    return q.multiply(per_second(c.KARPENTER_NODECLAIMS_CREATED, m, ("nodepool",)), 60)


def launch_failures_per_minute(stack: Stack) -> str:
    m = (q.eq("nodepool", stack.gpu_pool.nodepool),)
    return q.multiply(per_second(c.KARPENTER_LAUNCH_FAILURES, m, ("nodepool", "instance_type")), 60)


# --- the house rule on counters ---

# Distinct probe windows tell `$__rate_interval` and `$__range` apart after expansion.
_RATE_PROBE = timedelta(seconds=7777)
_RANGE_PROBE = timedelta(seconds=8888)
_PROBE_VARS = {
    "__rate_interval": "7777s",
    "__range": "8888s",
    "namespace": "default",
    "pod": ".*",
    "model": ".*",
}
_WINDOW_OF = {"rate": (_RATE_PROBE, RATE), "increase": (_RANGE_PROBE, RANGE)}


def _is_counter(series: str) -> bool:
    metric = c.lookup(series)
    # Histogram series (_bucket/_sum/_count) are counters too.
    return metric is not None and metric.type in ("counter", "histogram")


def counter_problems(expr: str) -> list[str]:
    """Why `expr` breaks the counter rule: counters only as `rate(x[$__rate_interval])` or, for totals over
    the dashboard range, `increase(x[$__range])`; rate/increase only over counters. Empty when fine.

    Raises ValueError when the expression does not parse."""
    problems: list[str] = []

    def raw(vs: Any) -> None:
        if vs.name and _is_counter(vs.name):
            problems.append(f"counter {vs.name} used without rate(...[{RATE}])")

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            raw(node)
        elif isinstance(node, promql_parser.MatrixSelector):
            raw(node.vector_selector)
        elif isinstance(node, promql_parser.Call):
            fn = node.func.name
            first, rest = (node.args[0], node.args[1:]) if node.args else (None, [])
            if fn in _WINDOW_OF and isinstance(first, promql_parser.MatrixSelector):
                vs = first.vector_selector
                window, shown = _WINDOW_OF[fn]
                if vs.name and not _is_counter(vs.name):
                    problems.append(f"{fn}() over {vs.name}, which is not a counter")
                elif first.range != window:
                    problems.append(f"{fn}({vs.name}) must use the window [{shown}]")
            elif first is not None:
                visit(first)
            for arg in rest:
                visit(arg)
        elif isinstance(node, promql_parser.AggregateExpr):
            visit(node.expr)
            if node.param is not None:
                visit(node.param)
        elif isinstance(node, promql_parser.BinaryExpr):
            visit(node.lhs)
            visit(node.rhs)
        elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
            visit(node.expr)

    visit(promql_parser.parse(expand_grafana(expr, _PROBE_VARS)))
    return problems
