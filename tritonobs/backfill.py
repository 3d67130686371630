"""Generated series for what the lab cannot produce: GPU (DCGM, Triton `nv_gpu_*`), kube-state-metrics, Karpenter.

The lab has no GPU, no kube-state-metrics and no Karpenter, yet dashboards and alerts read those series. This
module writes them as OpenMetrics text with the catalogue's real names, units and labels, for the lab's pods,
and loads them into the lab Prometheus' TSDB with `promtool tsdb create-blocks-from openmetrics`.

Every generated series carries `tritonobs_synthetic="true"` so nobody mistakes it for a measurement.

Timing rules (checked on Prometheus 2.42): blocks must be written *before* Prometheus starts and must end at
or before "now", because the head refuses samples older than the newest block's end (a block reaching into
the future would stop all scraping). Instant queries only look back 5 minutes, so these series vanish from
instant queries 5 minutes after the lab starts: readers use range queries (check-queries does).

`openmetrics()` is pure (times and pods are arguments); `backfill()` is the edge that runs promtool.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tritonobs.core import catalogue as c
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack

PROMTOOL = "/usr/bin/promtool"
SYNTHETIC_LABEL = "tritonobs_synthetic"
SYNTHETIC_SOURCES = ("dcgm", "kube-state-metrics", "karpenter")
DCGM_JOB = "nvidia-dcgm-exporter"
KSM_JOB = "kube-state-metrics"
KARPENTER_JOB = "karpenter"
A10G_MEMORY_MIB = 23028  # nvidia-smi total framebuffer of an A10G (g5)
A10G_NAME = "NVIDIA A10G"


@dataclass(frozen=True)
class LabPod:
    """A lab replica as Kubernetes would label it."""

    name: str
    namespace: str
    instance: str  # host:port of its metrics endpoint
    node: str


def synthetic_metrics() -> tuple[c.Metric, ...]:
    """Catalogue entries the lab cannot scrape: GPU series (both families) and cluster-side exporters."""
    return tuple(m for m in c.ALL if m.source in SYNTHETIC_SOURCES or (m.source == "triton" and "gpu_uuid" in m.labels))


def is_synthetic(name: str) -> bool:
    m = c.lookup(name)
    return m is not None and m in synthetic_metrics()


# --- waveforms: deterministic, smooth, different per series ---


def _phase(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * 2 * math.pi


def _wave(lo: float, hi: float, period: float = 600.0) -> Callable[[float, str], float]:
    def value(t: float, key: str) -> float:
        return lo + (hi - lo) * (0.5 + 0.5 * math.sin(2 * math.pi * t / period + _phase(key)))

    return value


def _const(v: float) -> Callable[[float, str], float]:
    return lambda t, key: v


_GiB = 1 << 30
_MEM_TOTAL = A10G_MEMORY_MIB * (1 << 20)
# vLLM preallocates gpu_memory_utilization (0.8) of the board at start, so "used" sits just above that.
_GAUGES: dict[str, Callable[[float, str], float]] = {
    c.DCGM_GPU_UTIL.name: _wave(35, 95),
    c.DCGM_POWER.name: _wave(90, 280),
    c.DCGM_FB_USED.name: _wave(0.8 * A10G_MEMORY_MIB, 0.82 * A10G_MEMORY_MIB, 900),
    c.DCGM_FB_FREE.name: _wave(0.18 * A10G_MEMORY_MIB, 0.2 * A10G_MEMORY_MIB, 900),
    c.DCGM_TEMP.name: _wave(45, 76, 1200),
    c.DCGM_XID.name: _const(0),
    c.NV_GPU_UTILIZATION.name: _wave(0.35, 0.95),
    c.NV_GPU_MEMORY_TOTAL.name: _const(_MEM_TOTAL),
    c.NV_GPU_MEMORY_USED.name: _wave(0.8 * _MEM_TOTAL, 0.82 * _MEM_TOTAL, 900),
    c.NV_GPU_POWER_USAGE.name: _wave(90, 280),
    c.NV_GPU_POWER_LIMIT.name: _const(300),
}
# Counters are integrals of a rate (per second): energy from the same power curve.
_COUNTER_RATES: dict[str, Callable[[float, str], float]] = {
    c.DCGM_ENERGY.name: lambda t, key: _GAUGES[c.DCGM_POWER.name](t, key) * 1000.0,  # mJ/s
    c.NV_ENERGY.name: lambda t, key: _GAUGES[c.NV_GPU_POWER_USAGE.name](t, key),  # J/s
}


@dataclass(frozen=True)
class _Series:
    metric: c.Metric
    labels: dict[str, str]


def _k8s_label(key: str) -> str:
    # kube-state-metrics sanitises label keys the same way Stack.node_pool_matcher expects.
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _gpu_uuid(pod: LabPod, gpu: int) -> str:
    h = hashlib.sha256(f"{pod.node}/{gpu}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _series(stack: Stack, pods: Sequence[LabPod]) -> Iterator[_Series]:
    t = stack.spec.triton
    gpus = range(stack.spec.gpu_pool.gpus_per_pod)
    # What a kube-prometheus ServiceMonitor scrape of the Triton pod would attach (see lab file_sd labels).
    triton_target = {"job": t.metrics_service, "service": t.metrics_service, "endpoint": t.metrics_port_name}
    for m in synthetic_metrics():
        if m.source == "dcgm":
            for pod in pods:
                for g in gpus:
                    yield _Series(
                        m,
                        {
                            "gpu": str(g),
                            "UUID": _gpu_uuid(pod, g),
                            "modelName": A10G_NAME,
                            "Hostname": pod.node,
                            "pod": pod.name,
                            "namespace": pod.namespace,
                            "container": "triton-inference-server",
                            "job": DCGM_JOB,
                            "instance": f"{pod.node}:9400",
                        },
                    )
        elif m.source == "triton":
            for pod in pods:
                for g in gpus:
                    yield _Series(
                        m,
                        {"gpu_uuid": _gpu_uuid(pod, g), "namespace": pod.namespace, "pod": pod.name,
                         "instance": pod.instance, **triton_target},
                    )
        else:
            yield from _cluster_series(stack, m, pods)


def _cluster_series(stack: Stack, m: c.Metric, pods: Sequence[LabPod]) -> Iterator[_Series]:
    ksm = {"job": KSM_JOB}
    hpa = {"namespace": stack.namespace, "horizontalpodautoscaler": stack.effective_hpa_name, **ksm}
    if m is c.KSM_HPA_CONDITION:
        for cond in ("AbleToScale", "ScalingActive", "ScalingLimited"):
            for status in ("true", "false", "unknown"):
                yield _Series(m, {**hpa, "condition": cond, "status": status})
    elif "horizontalpodautoscaler" in m.labels:
        yield _Series(m, hpa)
    elif m is c.KSM_NODE_LABELS:
        selector = {_k8s_label(k): v for k, v in stack.spec.gpu_pool.node_selector.items()}
        for node in sorted({p.node for p in pods}):
            yield _Series(m, {"node": node, **selector, **ksm})
    elif m is c.KSM_POD_READY:
        for pod in pods:
            for cond in ("true", "false", "unknown"):
                yield _Series(m, {"namespace": pod.namespace, "pod": pod.name, "condition": cond, **ksm})
    elif m.source == "karpenter":
        pool = stack.spec.gpu_pool
        values = {"nodepool": pool.nodepool, "instance_type": pool.instance_type}
        yield _Series(m, {k: values.get(k, "lab") for k in m.labels} | {"job": KARPENTER_JOB})
    else:
        # A catalogue entry added later: still present, with its declared labels filled in.
        yield _Series(m, {k: "lab" for k in m.labels} | ksm)


def _value_fn(stack: Stack, s: _Series, n_pods: int) -> tuple[Callable[[float, str], float], bool]:
    """(value or rate function, is_counter)."""
    name = s.metric.name
    if name in _GAUGES:
        return _GAUGES[name], False
    if name in _COUNTER_RATES:
        return _COUNTER_RATES[name], True
    a = stack.spec.autoscaling
    hpa_values = {
        c.KSM_HPA_CURRENT.name: n_pods,
        c.KSM_HPA_DESIRED.name: n_pods,
        c.KSM_HPA_MIN.name: a.min_replicas,
        c.KSM_HPA_MAX.name: a.max_replicas,
    }
    if name in hpa_values:
        return _const(hpa_values[name]), False
    if s.metric is c.KSM_HPA_CONDITION:
        healthy = {("AbleToScale", "true"), ("ScalingActive", "true"), ("ScalingLimited", "false")}
        return _const(1.0 if (s.labels["condition"], s.labels["status"]) in healthy else 0.0), False
    if s.metric is c.KSM_POD_READY:
        return _const(1.0 if s.labels["condition"] == "true" else 0.0), False
    if s.metric is c.KARPENTER_NODECLAIMS_CREATED:
        return _const(n_pods), False  # counter that stopped: one claim per lab pod's node
    if s.metric.type == "counter":
        return _const(0.0), False
    return _const(1.0), False


def _fmt_labels(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))


def _om_type(m: c.Metric) -> str:
    # OpenMetrics wants counters named *_total and info metrics *_info; these exporters do not follow that,
    # and the TSDB keeps no type anyway, so declare those as unknown rather than lie.
    if m.type == "counter" and m.name.endswith("_total"):
        return "counter"
    if m.type == "gauge":
        return "gauge"
    return "unknown"


def openmetrics(stack: Stack, pods: Sequence[LabPod], start: float, end: float, step: float) -> str:
    """OpenMetrics text with one sample per `step` seconds in [start, end], ending with `# EOF`."""
    if step <= 0 or end < start:
        raise ValueError("need step > 0 and end >= start")
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    by_metric: dict[str, list[_Series]] = {}
    for s in _series(stack, pods):
        by_metric.setdefault(s.metric.name, []).append(s)
    out: list[str] = []
    for name in sorted(by_metric):
        metric = by_metric[name][0].metric
        out.append(f"# HELP {name} {metric.help} ({metric.unit}; synthetic, generated by tritonobs for the lab)")
        out.append(f"# TYPE {name} {_om_type(metric)}")
        for s in by_metric[name]:
            labels = {**s.labels, SYNTHETIC_LABEL: "true"}
            key = _fmt_labels(labels)
            fn, counter = _value_fn(stack, s, len(pods))
            total = 0.0
            for t in times:
                if counter:
                    total += fn(t, key) * step
                v = total if counter else fn(t, key)
                out.append(f"{name}{{{key}}} {v:.6g} {t:.3f}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


def backfill(text: str, tsdb_dir: Path, promtool: str = PROMTOOL) -> None:
    """Write OpenMetrics `text` as TSDB blocks into `tsdb_dir` (load them by (re)starting Prometheus)."""
    if not Path(promtool).exists():
        raise ExternalError(promtool, "promtool not found: apt-get install -y prometheus")
    tsdb_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", dir=tsdb_dir.parent, delete=True) as f:
        f.write(text)
        f.flush()
        proc = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", f.name, str(tsdb_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise ExternalError(promtool, f"create-blocks-from openmetrics failed: {last}")

