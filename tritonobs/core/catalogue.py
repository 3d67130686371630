"""The one metric catalogue: every series any tritonobs artifact reads, with type, unit and labels.

Renderers never write a metric name as a literal: they take it from here, so a rename is one edit and
`checks.py` can prove that every query only references known series (docs/facts.md is the source of truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram", "info"]
Source = Literal["triton", "vllm", "dcgm", "kube-state-metrics", "karpenter", "prometheus"]

_HIST_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Metric:
    name: str
    type: MetricType
    unit: str  # human unit: "us", "s", "W", "J", "ratio", "requests", "tokens", ...
    labels: tuple[str, ...]
    help: str
    source: Source
    buckets: tuple[float, ...] = ()  # histogram upper bounds (finite), as the exporter declares them

    def __str__(self) -> str:
        return self.name

    @property
    def bucket(self) -> str:
        assert self.type == "histogram", self.name
        return self.name + "_bucket"

    @property
    def sum(self) -> str:
        assert self.type == "histogram", self.name
        return self.name + "_sum"

    @property
    def count(self) -> str:
        assert self.type == "histogram", self.name
        return self.name + "_count"


_MV = ("model", "version")


def _m(name: str, type_: MetricType, unit: str, labels: tuple[str, ...], help_: str, source: Source) -> Metric:
    return Metric(name, type_, unit, labels, help_, source)


# --- Triton (per model; for decoupled vLLM models these only cover execute(), see DESIGN.md) ---
NV_REQUEST_SUCCESS = _m("nv_inference_request_success", "counter", "requests", _MV, "successful requests", "triton")
NV_REQUEST_FAILURE = _m(
    "nv_inference_request_failure", "counter", "requests", (*_MV, "reason"), "failed requests by reason", "triton"
)
NV_INFERENCE_COUNT = _m("nv_inference_count", "counter", "inferences", _MV, "inferences performed", "triton")
NV_EXEC_COUNT = _m("nv_inference_exec_count", "counter", "executions", _MV, "model executions (batches)", "triton")
NV_REQUEST_DURATION = _m(
    "nv_inference_request_duration_us", "counter", "us", _MV, "cumulative end-to-end request time", "triton"
)
NV_QUEUE_DURATION = _m("nv_inference_queue_duration_us", "counter", "us", _MV, "cumulative queue time", "triton")
NV_COMPUTE_INPUT_DURATION = _m(
    "nv_inference_compute_input_duration_us", "counter", "us", _MV, "cumulative input processing time", "triton"
)
NV_COMPUTE_INFER_DURATION = _m(
    "nv_inference_compute_infer_duration_us", "counter", "us", _MV, "cumulative compute time", "triton"
)
NV_COMPUTE_OUTPUT_DURATION = _m(
    "nv_inference_compute_output_duration_us", "counter", "us", _MV, "cumulative output processing time", "triton"
)
NV_PENDING_REQUESTS = _m(
    "nv_inference_pending_request_count", "gauge", "requests", _MV, "requests queued in Triton", "triton"
)
NV_GPU_UTILIZATION = _m("nv_gpu_utilization", "gauge", "ratio", ("gpu_uuid",), "GPU utilization 0-1", "triton")
NV_GPU_MEMORY_TOTAL = _m("nv_gpu_memory_total_bytes", "gauge", "bytes", ("gpu_uuid",), "GPU memory", "triton")
NV_GPU_MEMORY_USED = _m("nv_gpu_memory_used_bytes", "gauge", "bytes", ("gpu_uuid",), "GPU memory used", "triton")
NV_GPU_POWER_USAGE = _m("nv_gpu_power_usage", "gauge", "W", ("gpu_uuid",), "GPU power draw", "triton")
NV_GPU_POWER_LIMIT = _m("nv_gpu_power_limit", "gauge", "W", ("gpu_uuid",), "GPU power limit", "triton")
NV_ENERGY = _m("nv_energy_consumption", "counter", "J", ("gpu_uuid",), "GPU energy since start", "triton")
NV_CPU_UTILIZATION = _m("nv_cpu_utilization", "gauge", "ratio", (), "CPU utilization 0-1", "triton")
NV_CPU_MEMORY_TOTAL = _m("nv_cpu_memory_total_bytes", "gauge", "bytes", (), "CPU memory", "triton")
NV_CPU_MEMORY_USED = _m("nv_cpu_memory_used_bytes", "gauge", "bytes", (), "CPU memory used", "triton")

# --- vLLM engine, exported through Triton custom metrics by our model.py ---
VLLM_RUNNING = _m("vllm:num_requests_running", "gauge", "requests", _MV, "requests in the running batch", "vllm")
VLLM_WAITING = _m("vllm:num_requests_waiting", "gauge", "requests", _MV, "requests waiting for the batch", "vllm")
VLLM_KV_CACHE = _m("vllm:kv_cache_usage_perc", "gauge", "ratio", _MV, "KV-cache blocks in use, 0-1", "vllm")
VLLM_PROMPT_TOKENS = _m("vllm:prompt_tokens_total", "counter", "tokens", _MV, "prompt tokens processed", "vllm")
VLLM_GENERATION_TOKENS = _m(
    "vllm:generation_tokens_total", "counter", "tokens", _MV, "tokens generated", "vllm"
)
# Histogram bounds: vLLM's own since 0.8.4 (vllm/v1/metrics/loggers.py), which tritonobs' model.py declares
# (a test keeps them equal). TTFT reaches 2560 s and request latency 7680 s, so a long queue still lands
# below +Inf. Triton's official vllm_backend still declares vLLM's pre-0.8.4 sets (TTFT to 10 s, e2e to 60 s,
# TPOT to 2.5 s; src/utils/metrics.py): every bound of those is also a bound here, so a query that reads
# one `le` works on both (the TTFT SLO bound must then be one of the older set: spec validation checks it).
VLLM_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                     20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
VLLM_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                     40.0, 80.0)
VLLM_REQUEST_LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                                120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
VLLM_BACKEND_TTFT_BUCKETS = VLLM_TTFT_BUCKETS[: VLLM_TTFT_BUCKETS.index(10.0) + 1]
VLLM_TTFT = Metric(
    "vllm:time_to_first_token_seconds", "histogram", "s", _MV, "time to first token", "vllm", VLLM_TTFT_BUCKETS
)
VLLM_TPOT = Metric(
    "vllm:time_per_output_token_seconds", "histogram", "s", _MV, "time per output token", "vllm", VLLM_TPOT_BUCKETS
)
VLLM_E2E = Metric(
    "vllm:e2e_request_latency_seconds", "histogram", "s", _MV, "end-to-end request latency", "vllm",
    VLLM_REQUEST_LATENCY_BUCKETS,
)
# Time waited in vLLM's own queue: the queue Triton cannot see (tritonobs' model.py; vLLM's server >= 0.6.4).
VLLM_QUEUE_TIME = Metric(
    "vllm:request_queue_time_seconds", "histogram", "s", _MV, "time waited in vLLM's queue", "vllm",
    VLLM_REQUEST_LATENCY_BUCKETS,
)

# --- DCGM exporter (GPU per device) ---
_DCGM = ("gpu", "UUID", "modelName", "Hostname", "pod", "namespace", "container")
DCGM_GPU_UTIL = _m("DCGM_FI_DEV_GPU_UTIL", "gauge", "percent", _DCGM, "GPU utilization 0-100", "dcgm")
DCGM_POWER = _m("DCGM_FI_DEV_POWER_USAGE", "gauge", "W", _DCGM, "GPU power draw", "dcgm")
DCGM_FB_USED = _m("DCGM_FI_DEV_FB_USED", "gauge", "MiB", _DCGM, "framebuffer memory used", "dcgm")
DCGM_FB_FREE = _m("DCGM_FI_DEV_FB_FREE", "gauge", "MiB", _DCGM, "framebuffer memory free", "dcgm")
DCGM_ENERGY = _m("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "mJ", _DCGM, "energy since boot", "dcgm")
DCGM_TEMP = _m("DCGM_FI_DEV_GPU_TEMP", "gauge", "celsius", _DCGM, "GPU temperature", "dcgm")
DCGM_XID = _m("DCGM_FI_DEV_XID_ERRORS", "gauge", "code", _DCGM, "last XID error code (0 = none)", "dcgm")

# --- kube-state-metrics ---
_HPA = ("namespace", "horizontalpodautoscaler")
KSM_HPA_CURRENT = _m(
    "kube_horizontalpodautoscaler_status_current_replicas", "gauge", "replicas", _HPA, "HPA current", "kube-state-metrics"
)
KSM_HPA_DESIRED = _m(
    "kube_horizontalpodautoscaler_status_desired_replicas", "gauge", "replicas", _HPA, "HPA desired", "kube-state-metrics"
)
KSM_HPA_MIN = _m(
    "kube_horizontalpodautoscaler_spec_min_replicas", "gauge", "replicas", _HPA, "HPA min", "kube-state-metrics"
)
KSM_HPA_MAX = _m(
    "kube_horizontalpodautoscaler_spec_max_replicas", "gauge", "replicas", _HPA, "HPA max", "kube-state-metrics"
)
KSM_HPA_CONDITION = _m(
    "kube_horizontalpodautoscaler_status_condition",
    "gauge",
    "bool",
    (*_HPA, "condition", "status"),
    "HPA conditions (ScalingActive false = metric unavailable)",
    "kube-state-metrics",
)
KSM_NODE_LABELS = _m(
    "kube_node_labels", "info", "nodes", ("node",), "node labels (needs --metric-labels-allowlist)", "kube-state-metrics"
)
KSM_POD_READY = _m(
    "kube_pod_status_ready", "gauge", "bool", ("namespace", "pod", "condition"), "pod Ready", "kube-state-metrics"
)

# --- Karpenter ---
KARPENTER_NODECLAIMS_CREATED = _m(
    "karpenter_nodeclaims_created_total", "counter", "nodeclaims", ("nodepool",), "NodeClaims created", "karpenter"
)
KARPENTER_LAUNCH_FAILURES = _m(
    "karpenter_cloudprovider_instance_launch_failures_total",
    "counter",
    "launches",
    ("nodepool", "instance_type"),
    "failed instance launches (capacity)",
    "karpenter",
)

# --- Prometheus itself ---
UP = _m("up", "gauge", "bool", ("job", "instance", "namespace", "pod"), "scrape target healthy", "prometheus")

ALL: tuple[Metric, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Metric))
BY_NAME: dict[str, Metric] = {m.name: m for m in ALL}


def lookup(series_name: str) -> Metric | None:
    """The catalogue entry a series name belongs to (histogram `_bucket/_sum/_count` included)."""
    if series_name in BY_NAME:
        return BY_NAME[series_name]
    for suffix in _HIST_SUFFIXES:
        base = series_name.removesuffix(suffix)
        if base != series_name and base in BY_NAME and BY_NAME[base].type == "histogram":
            return BY_NAME[base]
    return None
