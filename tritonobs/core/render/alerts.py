"""Recording and alerting rules: a plain Prometheus rule file, a PrometheusRule, and promtool tests.

Groups, evaluated in this order (promtool tests pin it with `group_eval_order`):
- `tritonobs.signals`: one record per scaling signal in use, `pod:tritonobs_<signal>:sum`, the very per-pod
  expression the HPA (adapter) or KEDA evaluates; dashboards and the lab read these.
- `tritonobs.slo`: per model, the share of requests whose TTFT exceeded the SLO bucket, over the four
  windows of the multi-window burn-rate alerts.
- `tritonobs.triton`, `tritonobs.autoscaling`, `tritonobs.gpu`: the alerts. Thresholds come from
  `spec.alerts`, TTFT objectives from `spec.models[*].slo`; every alert links its section of docs/runbooks.md.

TTFT "bad event": vLLM only records TTFT in buckets, so a request counts as slow when it lies above the
bucket bound at or just above the model's `ttft_p95_seconds` (2.0 s -> the 2.5 s bucket with vLLM's bounds).
The alert is then lenient by at most one bucket, never stricter than the objective; the bound in use is on
every alert as label `ttft_slo_le`. The objective is a p95, so the error budget is 5% of requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Literal

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import Stack
from tritonobs.core.render import forecast

GROUP_SIGNALS = "tritonobs.signals"
GROUP_SLO = "tritonobs.slo"
GROUP_TRITON = "tritonobs.triton"
GROUP_AUTOSCALING = "tritonobs.autoscaling"
GROUP_GPU = "tritonobs.gpu"
ALERT_GROUPS = (GROUP_TRITON, GROUP_AUTOSCALING, GROUP_GPU)

RULES_FILE = "alerts/tritonobs-rules.yaml"
PROMETHEUS_RULE_FILE = "alerts/prometheusrule.yaml"
TESTS_DIR = "alerts/tests"

TTFT_QUANTILE = 0.95  # the SLO field is ttft_p95_seconds
TTFT_BUDGET = round(1 - TTFT_QUANTILE, 6)  # share of requests allowed above the objective
BUDGET_DAYS = 30
FAST_WINDOWS = ("1h", "5m")  # SRE workbook: long window, short window
SLOW_WINDOWS = ("6h", "30m")
SLO_WINDOWS = (*FAST_WINDOWS, *SLOW_WINDOWS)
SLO_LE_LABEL = "ttft_slo_le"
KSM_SCALING_ACTIVE = "ScalingActive"

Severity = Literal["critical", "warning"]
# dcgm-exporter names the node `Hostname`, its newest releases `hostname`: one of the two is empty.
NODE = "{{ $labels.Hostname }}{{ $labels.hostname }}"
_MODEL_BY = ("namespace", "model")


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str

    def rule(self, runbook_base_url: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{runbook_base_url}#{runbook_anchor(self.name)}",
            },
        }


def runbook_anchor(alert_name: str) -> str:
    """GitHub's anchor for a `## <AlertName>` heading."""
    return alert_name.lower()


# --- names and matchers ---


def triton_job(stack: Stack) -> str:
    """The `job` label of the Triton targets: prometheus-operator names it after the Service (no jobLabel)."""
    return stack.triton.metrics_service


def model_matchers(stack: Stack, models: tuple[str, ...] | None = None) -> list[str]:
    return [q.eq("namespace", stack.namespace), q.one_of("model", models or stack.model_names)]


def ttft_slo_bound(objective_seconds: float) -> float:
    """The TTFT bucket bound at or just above the objective (spec validation keeps it within the buckets)."""
    return min(b for b in c.VLLM_TTFT.buckets if b >= objective_seconds)


def ttft_record(window: str) -> str:
    return f"model:tritonobs_ttft_over_slo:ratio_rate{window}"


def burn_threshold(burn_rate: float) -> float:
    return round(burn_rate * TTFT_BUDGET, 9)


# --- recording rules ---


def signal_records(stack: Stack) -> list[dict[str, Any]]:
    return [
        {
            "record": use.signal.record,
            "expr": use.signal.per_pod(stack.signal_matchers(use), stack.rate_window, ["namespace", "pod"]),
        }
        for use in stack.signals
    ]


def slo_bounds(stack: Stack) -> dict[float, tuple[str, ...]]:
    """TTFT bucket bound -> models whose objective maps to it (one record per bound and window)."""
    out: dict[float, list[str]] = {}
    for m in stack.models:
        out.setdefault(ttft_slo_bound(m.ttft_p95_seconds), []).append(m.name)
    return {b: tuple(sorted(ms)) for b, ms in sorted(out.items())}


def slo_records(stack: Stack) -> list[dict[str, Any]]:
    rules = []
    for window in SLO_WINDOWS:
        for bound, models in slo_bounds(stack).items():
            slow = q.hist_fraction_above(c.VLLM_TTFT, bound, model_matchers(stack, models), window, _MODEL_BY)
            # The bound travels as a label so alerts can say which threshold was counted.
            rules.append({"record": ttft_record(window), "expr": slow, "labels": {SLO_LE_LABEL: f"{bound:g}"}})
    return rules


# --- alerts ---


def _any(exprs: list[str]) -> str:
    return reduce(lambda a, b: q.join(a, "or", b), exprs)


def triton_alerts(stack: Stack) -> list[Alert]:
    t = stack.alerts
    ns = stack.namespace
    w = stack.rate_window
    m = model_matchers(stack)
    up = q.sel(c.UP, [q.eq("namespace", ns), q.eq("job", triton_job(stack))])
    fail = q.sum_by(_MODEL_BY, q.rate(q.sel(c.NV_REQUEST_FAILURE, m), w))
    success = q.sum_by(_MODEL_BY, q.rate(q.sel(c.NV_REQUEST_SUCCESS, m), w))
    failing = q.join(f"{fail} > 0", "unless", f"{success} > 0", on=_MODEL_BY)
    # Triton counts a decoupled request as done at hand-off; vLLM completions show a stuck engine (for the
    # models whose engine gauges exist: tritonobs' model.py, not Triton's vllm_backend).
    gauges = model_matchers(stack, stack.gauge_models) if stack.gauge_models else []
    held = q.sum_by(_MODEL_BY, q.sel(c.VLLM_RUNNING, gauges))
    completed = q.sum_by(_MODEL_BY, q.rate(q.sel(c.VLLM_E2E.count, gauges), w))
    stuck = q.join(f"{held} > 0", "unless", f"{completed} > 0", on=_MODEL_BY)
    waiting = q.sum_by(["namespace", "pod"], q.sel(c.VLLM_WAITING, gauges))
    alerts = [
        Alert(
            "TritonMetricsTargetDown",
            GROUP_TRITON,
            f"{up} == 0",
            t.target_down_for,
            "warning",
            "Triton metrics target {{ $labels.pod }} is down",
            f"Prometheus has failed to scrape {{{{ $labels.instance }}}} (pod {{{{ $labels.pod }}}}, job "
            f"{{{{ $labels.job }}}}) for {t.target_down_for}. The HPA treats the pod's scaling signal as missing "
            "and dashboards under-count its load.",
        ),
        Alert(
            "TritonMetricsTargetMissing",
            GROUP_TRITON,
            q.absent(up),
            t.target_down_for,
            "critical",
            "No Triton metrics target in {{ $labels.namespace }}",
            f"Prometheus has no target for job {{{{ $labels.job }}}} in namespace {{{{ $labels.namespace }}}} "
            f"for {t.target_down_for}: the ServiceMonitor {stack.service_monitor_name} selects nothing or is not "
            "loaded. Every Triton metric, and so autoscaling, is blind.",
        ),
        Alert(
            "TritonModelNoSuccess",
            GROUP_TRITON,
            q.join(failing, "or", stuck) if gauges else failing,
            t.no_success_for,
            "critical",
            "Model {{ $labels.model }} gets requests but completes none",
            f"Model {{{{ $labels.model }}}} in {{{{ $labels.namespace }}}} has had requests for {t.no_success_for} "
            "(failing in Triton, or held by the vLLM engine) and not one completed successfully.",
        ),
        Alert(
            "TritonModelFailureRatioHigh",
            GROUP_TRITON,
            f"{q.ratio(fail, f'{success} + {fail}')} > {q.number(t.failure_ratio)}",
            t.failure_for,
            "critical",
            "Model {{ $labels.model }} fails {{ $value | humanizePercentage }} of requests",
            f"{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.model }}}} in "
            f"{{{{ $labels.namespace }}}} failed over the last {w} (threshold {t.failure_ratio:.4g}, "
            f"for {t.failure_for}).",
        ),
        _burn_alert(stack, "TritonTTFTBudgetBurnFast", FAST_WINDOWS, t.ttft_burn_fast, t.ttft_burn_fast_for),
        _burn_alert(stack, "TritonTTFTBudgetBurnSlow", SLOW_WINDOWS, t.ttft_burn_slow, t.ttft_burn_slow_for),
    ]
    if not gauges:
        return alerts
    return [
        *alerts,
        Alert(
            "TritonVllmWaitingHigh",
            GROUP_TRITON,
            f"{waiting} > {q.number(t.waiting_requests_high)}",
            t.waiting_for,
            "warning",
            "{{ $value | humanize }} requests waiting in vLLM on {{ $labels.pod }}",
            f"Pod {{{{ $labels.pod }}}} holds {{{{ $value | humanize }}}} requests waiting inside vLLM (summed over "
            f"models), above {t.waiting_requests_high:g} for {t.waiting_for}. New requests wait a full batch turn "
            "before their first token: replicas are missing or not yet Ready.",
        ),
    ]


def _burn_alert(stack: Stack, name: str, windows: tuple[str, str], burn: float, for_: str) -> Alert:
    long, short = windows
    threshold = q.number(burn_threshold(burn))
    ns = [q.eq("namespace", stack.namespace)]
    expr = q.join(
        f"{q.sel(ttft_record(long), ns)} > {threshold}",
        "and",
        f"{q.sel(ttft_record(short), ns)} > {threshold}",
        on=_MODEL_BY,
    )
    return Alert(
        name,
        GROUP_TRITON,
        expr,
        for_,
        "critical",
        f"Model {{{{ $labels.model }}}} burns its TTFT error budget {burn:g}x too fast",
        f"{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.model }}}} in "
        f"{{{{ $labels.namespace }}}} waited more than {{{{ $labels.{SLO_LE_LABEL} }}}}s for their first token "
        f"over the last {long} (and the last {short}). The p95 objective allows {TTFT_BUDGET:.0%}: at {burn:g}x "
        f"that rate the {BUDGET_DAYS}-day budget is gone in {BUDGET_DAYS / burn:.1f} days.",
    )


def autoscaling_alerts(stack: Stack) -> list[Alert]:
    t = stack.alerts
    ns = q.eq("namespace", stack.namespace)
    hpa_name = stack.effective_hpa_name
    hpa = [ns, q.eq("horizontalpodautoscaler", hpa_name)]
    absent = [
        q.label_replace(q.absent(q.sel(use.signal.record, [ns])), "signal", use.name, "namespace", ".*")
        for use in stack.signals
    ]
    # The predictive floor's record too: while its External metric has no value the HPA never scales down.
    absent += [
        q.label_replace(q.absent(q.sel(f.floor_record, [ns, q.eq("deployment", stack.triton.deployment)])),
                        "signal", f"{f.signal}_floor", "namespace", ".*")
        for f in stack.scale_ahead.floors
    ]
    inactive = q.sel(c.KSM_HPA_CONDITION, [*hpa, q.eq("condition", KSM_SCALING_ACTIVE), q.eq("status", "false")])
    at_max = q.join(
        q.sel(c.KSM_HPA_CURRENT, hpa), ">=", q.sel(c.KSM_HPA_MAX, hpa), on=["namespace", "horizontalpodautoscaler"]
    )
    above = _any(
        [f"{q.agg('avg', q.sel(use.signal.record, [ns]), ['namespace'])} > {q.number(use.target)}" for use in stack.signals]
    )
    targets = ", ".join(f"{use.name} {use.target:g}" for use in stack.signals)
    return [
        Alert(
            "TritonScalingSignalAbsent",
            GROUP_AUTOSCALING,
            _any(absent),
            t.signal_absent_for,
            "critical",
            "Scaling signal {{ $labels.signal }} is absent in {{ $labels.namespace }}",
            f"Prometheus has had no {{{{ $labels.signal }}}} series for namespace {{{{ $labels.namespace }}}} for "
            f"{t.signal_absent_for}: the HPA {hpa_name} shows <unknown> and the Deployment will not scale.",
        ),
        Alert(
            "TritonHpaScalingInactive",
            GROUP_AUTOSCALING,
            f"{inactive} == 1",
            t.signal_absent_for,
            "critical",
            f"HPA {hpa_name} cannot read its metric",
            f"kube-state-metrics has reported {KSM_SCALING_ACTIVE}=false on HPA {{{{ $labels.horizontalpodautoscaler }}}} "
            f"for {t.signal_absent_for}: the metrics API returned no value (`kubectl get hpa` shows <unknown>), "
            "so the Deployment will not scale.",
        ),
        Alert(
            "TritonHpaMaxedOut",
            GROUP_AUTOSCALING,
            q.join(at_max, "and", above, on=["namespace"]),
            t.hpa_maxed_for,
            "warning",
            f"HPA {hpa_name} is at its maximum and still over target",
            f"HPA {{{{ $labels.horizontalpodautoscaler }}}} has run {{{{ $value | humanize }}}} replicas, its "
            f"maximum, for {t.hpa_maxed_for} while the scaling signal stays above target ({targets} per pod). "
            "Requests queue and TTFT grows: raise max_replicas or the g5 NodePool limits.",
        ),
    ]


def gpu_series(stack: Stack, metric: c.Metric) -> str:
    """DCGM series of the GPUs the stack's pods use, `namespace`/`pod` naming the Triton pod (as dcgm-exporter
    labels them directly, or as exported_* behind a ServiceMonitor with honorLabels false)."""
    return q.of_workload(metric, [q.eq("namespace", stack.namespace)])


def gpu_alerts(stack: Stack) -> list[Alert]:
    t = stack.alerts
    ns = [q.eq("namespace", stack.namespace)]
    dcgm_gpu = "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) of pod {{ $labels.pod }}"
    if stack.monitoring.gpu_metrics == "dcgm":
        power_expr = f"({gpu_series(stack, c.DCGM_POWER)}) / {q.number(t.gpu_power_limit_watts)}"
        power_gpu, limit = dcgm_gpu, f"its {t.gpu_power_limit_watts:g} W board limit"
    else:
        power_expr = f"{q.sel(c.NV_GPU_POWER_USAGE, ns)} / {q.sel(c.NV_GPU_POWER_LIMIT, ns)}"
        power_gpu, limit = "GPU {{ $labels.gpu_uuid }} of pod {{ $labels.pod }}", "its power limit"
    alerts = [
        Alert(
            "TritonGpuPowerNearLimit",
            GROUP_GPU,
            f"{power_expr} > {q.number(t.gpu_power_ratio)}",
            t.gpu_for,
            "warning",
            "GPU of {{ $labels.pod }} at {{ $value | humanizePercentage }} of its power limit",
            f"{power_gpu} has drawn {{{{ $value | humanizePercentage }}}} of {limit} for {t.gpu_for} "
            f"(threshold {t.gpu_power_ratio:.4g}): clocks are being capped, so tokens/s per GPU drop.",
        )
    ]
    if stack.monitoring.gpu_metrics != "dcgm":
        return alerts  # temperature and XID exist only in DCGM; no alert that could never fire
    return [
        *alerts,
        Alert(
            "TritonGpuTemperatureHigh",
            GROUP_GPU,
            f"({gpu_series(stack, c.DCGM_TEMP)}) > {q.number(t.gpu_temp_celsius)}",
            t.gpu_for,
            "warning",
            "GPU of {{ $labels.pod }} at {{ $value | humanize }} °C",
            f"{dcgm_gpu} has run at {{{{ $value | humanize }}}} °C, above {t.gpu_temp_celsius:g} °C, for "
            f"{t.gpu_for}. The GPU throttles near its slowdown temperature.",
        ),
        Alert(
            "TritonGpuXidError",
            GROUP_GPU,
            f"({gpu_series(stack, c.DCGM_XID)}) > 0",
            t.gpu_xid_for,
            "critical",
            "XID {{ $value | humanize }} on a GPU of {{ $labels.pod }}",
            f"{dcgm_gpu} reported XID error {{{{ $value | humanize }}}} (node {NODE}). "
            "Hardware XIDs (48, 63, 64, 74, 79, 94, 95) need the node replaced; 13, 31, 43 are usually the model "
            "process itself.",
        ),
    ]


def alerts(stack: Stack) -> list[Alert]:
    return [*triton_alerts(stack), *autoscaling_alerts(stack), *gpu_alerts(stack)]


def rule_groups(stack: Stack, all_alerts: Sequence[Alert] | None = None) -> dict[str, Any]:
    """{"groups": [{"name": ..., "rules": [{"record"|"alert": ..., "expr": ...}, ...]}]}; `all_alerts`: the
    stack's alerts when the caller has them already (the bundle), else made here."""
    base = stack.alerts.runbook_base_url
    groups = [{"name": GROUP_SIGNALS, "rules": signal_records(stack)}]
    floor_group = forecast.rule_group(stack)  # the predictive floor's records (autoscaling.predictive)
    groups += [floor_group] if floor_group else []
    groups.append({"name": GROUP_SLO, "rules": slo_records(stack)})
    all_alerts = alerts(stack) if all_alerts is None else all_alerts
    for group in ALERT_GROUPS:
        rules = [a.rule(base) for a in all_alerts if a.group == group]
        if rules:
            groups.append({"name": group, "rules": rules})
    return {"groups": groups}


def prometheus_rule(stack: Stack, groups: dict[str, Any] | None = None) -> KubeObject:
    """The rule groups (rendered once by the caller, or here) as the PrometheusRule the operator loads."""
    mon = stack.monitoring
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": stack.prometheus_rule_name,
            "namespace": mon.namespace,
            # kube-prometheus-stack only loads rules carrying its release label (docs/facts.md).
            "labels": {**stack.labels, "release": mon.prometheus_release},
        },
        "spec": groups if groups is not None else rule_groups(stack),
    }
