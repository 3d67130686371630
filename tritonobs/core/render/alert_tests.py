"""promtool unit tests, one file per alert, generated from the spec so thresholds and names stay in sync.

Every test group starts the bad condition at T0 (after LEAD healthy scrapes, or at 0 for "absent" alerts),
then checks the alert is NOT firing one evaluation before T0 + `for` and IS firing at T0 + `for`, with its
exact labels and annotations. Series on the quiet side of the threshold sit next to the bad ones (or in a
second group) and must stay silent. Input series carry the labels real scrapes attach: ServiceMonitor
target labels on Triton, kube-state-metrics' HPA labels, dcgm-exporter's exported_* labels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.artifacts import Artifact
from tritonobs.core.config import duration_seconds
from tritonobs.core.model import SignalUse, Stack
from tritonobs.core.render import alerts as rules
from tritonobs.core.render.yamlfmt import to_yaml

LEAD = 10  # healthy scrapes before the condition starts
OTHER_NS = "other-team"
POD_HASH = "5d8f7c9b6"
POD_SUFFIXES = ("x2x7k", "q9v4m", "h3c8d")
Labels = dict[str, str]
Series = tuple[str, str]  # (series selector, promtool expanding notation)


@dataclass
class Case:
    name: str
    series: list[Series]
    expected: Sequence[tuple[Labels, float]]  # result labels (without alertname/severity) and $value
    start_s: float = -1  # when the condition becomes true; -1 = at T0


@dataclass(frozen=True)
class Ctx:
    stack: Stack
    step: float  # scrape and evaluation interval, seconds
    total: int = 0  # scrape index of the last sample

    @property
    def t0(self) -> float:
        return LEAD * self.step


# --- series helpers ---


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _sel(name: str, labels: Labels) -> str:
    return q.sel(name, [q.eq(k, v) for k, v in sorted(labels.items())])


def gauge(ctx: Ctx, before: float, after: float) -> str:
    """`before` for LEAD scrapes, then `after` to the end."""
    return f"{_num(before)}x{LEAD - 1} {_num(after)}x{ctx.total - LEAD}"


def counter(ctx: Ctx, slope_before: float, slope_after: float, start: float = 1000) -> str:
    """A counter rising by `slope_before` per scrape, then (from T0) by `slope_after`."""
    at_lead = start + slope_before * (LEAD - 1) + slope_after
    return f"{_num(start)}+{_num(slope_before)}x{LEAD - 1} {_num(at_lead)}+{_num(slope_after)}x{ctx.total - LEAD}"


def pod_name(stack: Stack, i: int) -> str:
    return f"{stack.triton.deployment}-{POD_HASH}-{POD_SUFFIXES[i]}"


def triton_target(stack: Stack, i: int, namespace: str | None = None) -> Labels:
    """Labels prometheus-operator gives a Triton pod scraped through our ServiceMonitor."""
    job, ns = rules.triton_job(stack), namespace or stack.namespace
    return {"namespace": ns, "pod": pod_name(stack, i), "job": job, "service": job, "instance": f"10.0.{i + 1}.17:8002",
            "endpoint": stack.triton.metrics_port_name, "container": "triton-inference-server"}


def per_model(stack: Stack, i: int, model: str, namespace: str | None = None) -> Labels:
    return {**triton_target(stack, i, namespace), "model": model, "version": "1"}


def ksm(stack: Stack, hpa: str, **extra: str) -> Labels:
    """kube-state-metrics' HPA series (honorLabels: namespace is the HPA's, pod the exporter's)."""
    name = "kube-prometheus-stack-kube-state-metrics"
    return {"namespace": stack.namespace, "horizontalpodautoscaler": hpa, "job": "kube-state-metrics", "service": name,
            "endpoint": "http", "container": "kube-state-metrics", "pod": f"{name}-6b9c8d7f5-q4w2e",
            "instance": "10.0.0.9:8080", **extra}


def dcgm(stack: Stack, gpu: int, pod_index: int, honor_labels: bool = False, namespace: str | None = None) -> Labels:
    """A DCGM series for GPU `gpu` used by a Triton pod; honorLabels false renames pod/namespace to exported_*."""
    ns = namespace or stack.namespace
    base = {"gpu": str(gpu), "UUID": f"GPU-3f2a9c1e-0d4b-4e8a-9b1c-5a6d7e8f90{gpu:02d}", "modelName": "NVIDIA A10G",
            "Hostname": f"ip-10-0-{pod_index + 1}-23.us-west-2.compute.internal", "DCGM_FI_DRIVER_VERSION": "535.183.01",
            "job": "nvidia-dcgm-exporter", "service": "nvidia-dcgm-exporter", "endpoint": "gpu-metrics",
            "instance": f"10.0.{pod_index + 1}.23:9400"}
    user = {"pod": pod_name(stack, pod_index), "namespace": ns, "container": "triton-inference-server"}
    if honor_labels:
        return {**base, **user}
    exporter = {"pod": f"nvidia-dcgm-exporter-{POD_SUFFIXES[pod_index]}", "namespace": "gpu-operator"}
    return {**base, **exporter, **{f"exported_{k}": v for k, v in user.items()}}


def as_alerted(labels: Labels) -> Labels:
    """DCGM labels after the alert's relabelling (namespace/pod name the GPU's user)."""
    if "exported_namespace" not in labels:
        return labels
    return {**labels, "namespace": labels["exported_namespace"], "pod": labels["exported_pod"]}


def ttft_histogram(ctx: Ctx, labels: Labels, bound: float, slow_after: int, per_scrape: int = 20) -> list[Series]:
    """TTFT buckets from T0 on: `per_scrape` requests per scrape, `slow_after` of them above `bound`."""
    fast = per_scrape - slow_after
    series = [(_sel(c.VLLM_TTFT.count, labels), counter(ctx, 0, per_scrape))]
    below = [b for b in c.VLLM_TTFT.buckets if b < bound]
    for le in c.VLLM_TTFT.buckets:
        # Fast requests land at/below `bound` (half of them one bucket lower), slow ones above it.
        n = (fast // 2 if le == below[-1] else 0) if le < bound else (fast if le == bound else per_scrape)
        series.append((_sel(c.VLLM_TTFT.bucket, {**labels, "le": f"{le:g}"}), counter(ctx, 0, n)))
    series.append((_sel(c.VLLM_TTFT.bucket, {**labels, "le": "+Inf"}), counter(ctx, 0, per_scrape)))
    return series


# --- signal levels (for the autoscaling alerts) ---


def signal_series(ctx: Ctx, use: SignalUse, pod: int, high: bool, namespace: str | None = None) -> list[Series]:
    """Series making `use`'s per-pod value clearly above (high) or below (low) its target on pod `pod`."""
    out: list[Series] = []
    for model in use.models:
        lb = per_model(ctx.stack, pod, model, namespace)
        name = use.name
        if name in ("waiting_requests", "inflight_requests"):
            level = math.ceil(use.target) + 1 if high else 0
            out.append((_sel(c.VLLM_WAITING.name, lb), gauge(ctx, level, level)))
            out.append((_sel(c.VLLM_RUNNING.name, lb), gauge(ctx, level, level)))
        elif name == "ttft_p90":
            # Nothing waits: without new first tokens the signal's fallback reads 0, not the top bucket.
            out.append((_sel(c.VLLM_WAITING.name, lb), gauge(ctx, 0, 0)))
            if high:  # every request in the bucket above the target: p90 interpolates above it
                bound = rules.ttft_slo_bound(use.target)
                for le in (*c.VLLM_TTFT.buckets, math.inf):
                    n = 10 if le > bound else 0
                    le_text = "+Inf" if le == math.inf else f"{le:g}"
                    out.append((_sel(c.VLLM_TTFT.bucket, {**lb, "le": le_text}), f"0+{n}x{ctx.total}"))
        else:  # Triton queue signals: success/compute rates fixed, queue time scaled to 2x target or 0
            out.append((_sel(c.NV_REQUEST_SUCCESS.name, lb), f"1000+10x{ctx.total}"))
            out.append((_sel(c.NV_COMPUTE_INFER_DURATION.name, lb), f"1000+1000000x{ctx.total}"))
            per_request_us = 2 * use.target * 1e6 if name == "queue_time_avg" else 2 * use.target * 1e5
            queue = round(per_request_us * 10) if high else 0
            out.append((_sel(c.NV_QUEUE_DURATION.name, lb), f"1000+{queue}x{ctx.total}"))
    return out


def signals_series(ctx: Ctx, high: bool, pods: tuple[int, ...] = (0, 1), namespace: str | None = None) -> list[Series]:
    return [s for use in ctx.stack.signals for p in pods for s in signal_series(ctx, use, p, high, namespace)]


# --- cases per alert ---


def _target_down(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    up = [(_sel(c.UP.name, triton_target(s, 0)), gauge(ctx, 1, 1)), (_sel(c.UP.name, triton_target(s, 1)), gauge(ctx, 1, 0))]
    return [Case("one of two Triton targets stops answering", up, [(triton_target(s, 1), 0)])]


def _target_missing(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    others = [
        (_sel(c.UP.name, triton_target(s, 0, OTHER_NS)), gauge(ctx, 1, 1)),
        (_sel(c.UP.name, {**ksm(s, "x"), "namespace": "monitoring"}), gauge(ctx, 1, 1)),
    ]
    expected = {"job": rules.triton_job(s), "namespace": s.namespace}
    return [Case("no Triton target in the namespace (only elsewhere)", others, [(expected, 1)], start_s=0)]


def _no_success(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    m = (s.gauge_models or s.model_names)[0]  # "held but never completed" needs the running gauge
    lb = per_model(s, 0, m)
    fail = {**lb, "reason": "BACKEND"}
    out = {"namespace": s.namespace, "model": m}
    failing = [(_sel(c.NV_REQUEST_SUCCESS.name, lb), counter(ctx, 0, 0)), (_sel(c.NV_REQUEST_FAILURE.name, fail), counter(ctx, 0, 2))]
    stuck = [(_sel(c.VLLM_RUNNING.name, lb), gauge(ctx, 0, 3)), (_sel(c.VLLM_E2E.count, lb), counter(ctx, 0, 0))]
    busy = [(_sel(c.VLLM_RUNNING.name, lb), gauge(ctx, 0, 3)), (_sel(c.VLLM_E2E.count, lb), counter(ctx, 0, 2))]
    mixed = [(_sel(c.NV_REQUEST_SUCCESS.name, lb), counter(ctx, 0, 1)), (_sel(c.NV_REQUEST_FAILURE.name, fail), counter(ctx, 0, 5))]
    if not s.gauge_models:  # Triton's vllm_backend only: no running gauge, so only Triton failures count
        return [Case("every request fails in Triton", failing, [(out, 0)]), Case("quiet", mixed, [])]
    return [
        Case("every request fails in Triton", failing, [(out, 0)]),
        Case("vLLM holds requests but completes none", stuck, [(out, 0)]),
        Case("busy engine that completes requests stays quiet", busy + mixed, []),
    ]


def _failure_ratio(ctx: Ctx) -> list[Case]:
    s, m = ctx.stack, ctx.stack.model_names[0]
    thr = s.alerts.failure_ratio
    lb = per_model(s, 0, m)

    def traffic(failed: int) -> list[Series]:  # 100 requests per scrape from T0, `failed` of them failing
        return [
            (_sel(c.NV_REQUEST_SUCCESS.name, lb), counter(ctx, 0, 100 - failed)),
            (_sel(c.NV_REQUEST_FAILURE.name, {**lb, "reason": "BACKEND"}), counter(ctx, 0, failed)),
            (_sel(c.NV_REQUEST_FAILURE.name, {**lb, "reason": "REJECTED"}), counter(ctx, 0, 0)),
        ]

    high, low = min(100, math.floor(thr * 100) + 1), max(0, math.ceil(thr * 100) - 1)
    return [
        Case(f"{high}% failing", traffic(high), [({"namespace": s.namespace, "model": m}, high / 100)]),
        Case(f"{low}% failing stays quiet", traffic(low), []),
    ]


def _burn(ctx: Ctx, burn: float) -> list[Case]:
    s = ctx.stack
    threshold, per_scrape = rules.burn_threshold(burn), 20
    high = min(per_scrape, math.floor(threshold * per_scrape) + 1)
    low = max(0, math.ceil(threshold * per_scrape) - 1)
    first, *rest = s.models

    def models(slow_first: int) -> list[Series]:  # the other models idle: an idle model must read 0, not 1
        out = ttft_histogram(ctx, per_model(s, 0, first.name), rules.ttft_slo_bound(first.ttft_p95_seconds), slow_first)
        for m in rest:
            out += ttft_histogram(ctx, per_model(s, 0, m.name), rules.ttft_slo_bound(m.ttft_p95_seconds), 0, 0)
        return out

    labels = {"namespace": s.namespace, "model": first.name, rules.SLO_LE_LABEL: f"{rules.ttft_slo_bound(first.ttft_p95_seconds):g}"}
    return [
        Case(f"{high} of {per_scrape} requests over the SLO bucket", models(high), [(labels, high / per_scrape)]),
        Case(f"{low} of {per_scrape} over the SLO bucket stays quiet", models(low), []),
    ]


def _waiting(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    thr = s.alerts.waiting_requests_high
    high, low = math.floor(thr) + 5, max(0, math.ceil(thr) - 5)
    series: list[Series] = []
    models = s.gauge_models
    for pod, total in ((0, high), (1, low)):
        shares = [total // len(models)] * len(models)
        shares[0] += total - sum(shares)  # summed over models per pod, like the scaling signal
        for m, n in zip(models, shares, strict=True):
            series.append((_sel(c.VLLM_WAITING.name, per_model(s, pod, m)), gauge(ctx, 0, n)))
    return [Case(f"{high} waiting on one pod, {low} on another", series, [({"namespace": s.namespace, "pod": pod_name(s, 0)}, high)])]


def _signal_absent(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    expected = [({"namespace": s.namespace, "signal": use.name}, 1) for use in s.signals]
    deployment = s.triton.deployment
    expected += [({"namespace": s.namespace, "deployment": deployment, "signal": f"{f.signal}_floor"}, 1)
                 for f in s.scale_ahead.floors]
    return [
        Case("signal series only in another namespace", signals_series(ctx, False, namespace=OTHER_NS), expected, start_s=0),
        Case("signal present stays quiet", signals_series(ctx, False), []),
    ]


def _scaling_inactive(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    cond = {"condition": rules.KSM_SCALING_ACTIVE}
    bad = ksm(s, s.effective_hpa_name, **cond, status="false")
    series = [
        (_sel(c.KSM_HPA_CONDITION.name, bad), gauge(ctx, 0, 1)),
        (_sel(c.KSM_HPA_CONDITION.name, ksm(s, s.effective_hpa_name, **cond, status="true")), gauge(ctx, 1, 0)),
        (_sel(c.KSM_HPA_CONDITION.name, ksm(s, "another-app", **cond, status="false")), gauge(ctx, 1, 1)),
    ]
    return [Case("ScalingActive turns false on our HPA (another HPA's is ignored)", series, [(bad, 1)])]


def _hpa_maxed(ctx: Ctx) -> list[Case]:
    s = ctx.stack
    top = s.autoscaling.max_replicas
    hpa = ksm(s, s.effective_hpa_name)
    replicas = [
        (_sel(c.KSM_HPA_CURRENT.name, hpa), gauge(ctx, top - 1, top)),
        (_sel(c.KSM_HPA_MAX.name, hpa), gauge(ctx, top, top)),
        (_sel(c.KSM_HPA_MIN.name, hpa), gauge(ctx, s.autoscaling.min_replicas, s.autoscaling.min_replicas)),
    ]
    # A comparison matched `on (namespace, horizontalpodautoscaler)` keeps only those labels.
    kept = {k: hpa[k] for k in ("namespace", "horizontalpodautoscaler")}
    return [
        Case("at max replicas with the signal above target", replicas + signals_series(ctx, True), [(kept, top)]),
        Case("at max replicas with the signal under target stays quiet", replicas + signals_series(ctx, False), []),
    ]


def _gpu_power(ctx: Ctx) -> list[Case]:
    s, t = ctx.stack, ctx.stack.alerts
    limit = t.gpu_power_limit_watts
    high = math.ceil(t.gpu_power_ratio * limit) + 1
    if s.monitoring.gpu_metrics == "triton":
        hot, cool = ({**triton_target(s, i), "gpu_uuid": dcgm(s, i, i)["UUID"]} for i in (0, 1))
        series = [
            (_sel(c.NV_GPU_POWER_USAGE.name, hot), gauge(ctx, 100, high)),
            (_sel(c.NV_GPU_POWER_LIMIT.name, hot), gauge(ctx, limit, limit)),
            (_sel(c.NV_GPU_POWER_USAGE.name, cool), gauge(ctx, 100, 100)),
            (_sel(c.NV_GPU_POWER_LIMIT.name, cool), gauge(ctx, limit, limit)),
        ]
        return [Case("one GPU near its limit", series, [(hot, high / limit)])]
    hot_exported, hot_honored = dcgm(s, 0, 0), dcgm(s, 1, 1, honor_labels=True)
    series = [
        (_sel(c.DCGM_POWER.name, hot_exported), gauge(ctx, 100, high)),
        (_sel(c.DCGM_POWER.name, hot_honored), gauge(ctx, 100, high)),
        (_sel(c.DCGM_POWER.name, dcgm(s, 2, 0)), gauge(ctx, 100, 100)),
        (_sel(c.DCGM_POWER.name, dcgm(s, 3, 2, namespace=OTHER_NS)), gauge(ctx, 100, high)),
    ]
    expected = [(as_alerted(hot_exported), high / limit), (hot_honored, high / limit)]
    return [Case("GPUs of our pods near the limit (another namespace's ignored)", series, expected)]


def _dcgm_level(metric: c.Metric, high: float, normal: float) -> Callable[[Ctx], list[Case]]:
    def build(ctx: Ctx) -> list[Case]:
        s = ctx.stack
        bad = dcgm(s, 0, 0)
        series = [
            (_sel(metric.name, bad), gauge(ctx, normal, high)),
            (_sel(metric.name, dcgm(s, 1, 1)), gauge(ctx, normal, normal)),
            (_sel(metric.name, dcgm(s, 2, 2, namespace=OTHER_NS)), gauge(ctx, normal, high)),
        ]
        return [Case(f"{metric.name} of one GPU goes to {high:g}", series, [(as_alerted(bad), high)])]

    return build


def builders(stack: Stack) -> dict[str, Callable[[Ctx], list[Case]]]:
    t = stack.alerts
    built = {
        "TritonMetricsTargetDown": _target_down,
        "TritonMetricsTargetMissing": _target_missing,
        "TritonModelNoSuccess": _no_success,
        "TritonModelFailureRatioHigh": _failure_ratio,
        "TritonTTFTBudgetBurnFast": lambda ctx: _burn(ctx, t.ttft_burn_fast),
        "TritonTTFTBudgetBurnSlow": lambda ctx: _burn(ctx, t.ttft_burn_slow),
        "TritonVllmWaitingHigh": _waiting,
        "TritonScalingSignalAbsent": _signal_absent,
        "TritonHpaScalingInactive": _scaling_inactive,
        "TritonHpaMaxedOut": _hpa_maxed,
        "TritonGpuPowerNearLimit": _gpu_power,
        "TritonGpuTemperatureHigh": _dcgm_level(c.DCGM_TEMP, math.floor(t.gpu_temp_celsius) + 3, 60),
        "TritonGpuXidError": _dcgm_level(c.DCGM_XID, 79, 0),
    }
    if not stack.gauge_models:  # no engine gauges, no waiting alert (rules.triton_alerts)
        del built["TritonVllmWaitingHigh"]
    return built


# --- Prometheus template expansion (the subset our annotations use) ---

_TEMPLATE = re.compile(r"\{\{\s*(?:\$labels\.(\w+)|\$value\s*\|\s*(\w+))\s*\}\}")


def humanize(v: float) -> str:
    """Prometheus' `humanize`: 4 significant digits with an SI prefix."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}"


def expand(template: str, labels: Labels, value: float) -> str:
    """Expand `{{ $labels.x }}` (missing -> "", as Prometheus' missingkey=zero) and `{{ $value | fn }}`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return labels.get(m.group(1), "")
        fn = {"humanize": humanize, "humanizePercentage": lambda v: f"{v * 100:.4g}%"}[m.group(2)]
        return fn(value)

    out = _TEMPLATE.sub(sub, template)
    if "{{" in out:
        raise ValueError(f"template construct not supported by the test generator: {template!r}")
    return out


# --- files ---


def _exp_alert(alert: rules.Alert, labels: Labels, value: float, runbook_base: str) -> dict[str, Any]:
    full = {**labels, "severity": alert.severity}
    ann = alert.rule(runbook_base)["annotations"]
    return {
        "exp_labels": full,
        # Prometheus expands annotations with the expression's labels only (no rule labels).
        "exp_annotations": {k: expand(v, labels, value) for k, v in ann.items()},
    }


def test_file(stack: Stack, alert: rules.Alert, groups: list[str]) -> dict[str, Any]:
    """promtool's test file for one alert; `groups`: the rule groups' names, in evaluation order."""
    step = stack.scrape_seconds
    for_s = duration_seconds(alert.for_)
    ctx = Ctx(stack, step, total=LEAD + math.ceil(for_s / step) + 2)
    tests = []
    for case in builders(stack)[alert.name](ctx):
        fire = (ctx.t0 if case.start_s < 0 else case.start_s) + for_s
        exp = [_exp_alert(alert, lb, v, stack.alerts.runbook_base_url) for lb, v in case.expected]
        tests.append(
            {
                "name": f"{alert.name}: {case.name}",
                "interval": stack.monitoring.scrape_interval,
                "input_series": [{"series": sel, "values": values} for sel, values in case.series],
                "alert_rule_test": [
                    {"eval_time": q.duration(fire - step), "alertname": alert.name, "exp_alerts": []},
                    {"eval_time": q.duration(fire), "alertname": alert.name, "exp_alerts": exp},
                ],
            }
        )
    return {
        "rule_files": [f"../{rules.RULES_FILE.rsplit('/', 1)[1]}"],
        "evaluation_interval": stack.monitoring.scrape_interval,
        "group_eval_order": groups,
        "tests": tests,
    }


def render(
    stack: Stack, groups: dict[str, Any] | None = None, alerts: Sequence[rules.Alert] | None = None
) -> list[Artifact]:
    """One test file per alert. The bundle passes the rule groups and alerts it rendered (render once); alone
    (tests), they are rendered here."""
    names = [g["name"] for g in (groups if groups is not None else rules.rule_groups(stack))["groups"]]
    return [
        Artifact(f"{rules.TESTS_DIR}/{a.name}.test.yaml", to_yaml(test_file(stack, a, names)))
        for a in (alerts if alerts is not None else rules.alerts(stack))
    ]
