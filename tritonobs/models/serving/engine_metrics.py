"""The engine's state and request timings as Triton custom metrics, named and bucketed as vLLM's own.

Shipped beside model.py (one source: model_repository/<model>/1/ links here), which loads it at initialize.
Every call here happens on model.py's loop thread: Triton 2.51's Python backend crashes when several threads
update custom metrics at once (docs/facts.md).
"""

from __future__ import annotations

import gc
import math
from typing import Any

import triton_python_backend_utils as pb_utils

# vLLM's bucket bounds since 0.8.4 (vllm/v1/metrics/loggers.py; buckets.py from 0.30): TTFT up to 2560 s and
# latency up to 7680 s, so a long queue still lands in a bucket below +Inf. Dashboards and alerts read
# these bounds from tritonobs' metric catalogue, which a test keeps equal to these.
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0]
REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                           120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]


class _EmulatedHistogram:
    """A Prometheus histogram built from counters: <name>_bucket{le}, <name>_sum, <name>_count.

    The Python backend gained MetricFamily.HISTOGRAM in 24.08 (python_backend PR #374); the seed's
    24.06 image lacks it. The exposition is the same series PromQL sees from a native histogram."""

    def __init__(self, name: str, description: str, labels: dict[str, str], buckets: list[float]) -> None:
        counter = pb_utils.MetricFamily.COUNTER
        self.families = [pb_utils.MetricFamily(name=f"{name}_{part}", description=description, kind=counter)
                         for part in ("bucket", "sum", "count")]
        bucket_family, sum_family, count_family = self.families
        self._buckets = [(bound, bucket_family.Metric(labels={**labels, "le": _le(bound)}))
                         for bound in [*buckets, math.inf]]
        self._sum = sum_family.Metric(labels=labels)
        self._count = count_family.Metric(labels=labels)

    def observe(self, value: float) -> None:
        for bound, metric in self._buckets:
            if value <= bound:
                metric.increment(1)
        self._sum.increment(value)
        self._count.increment(1)


class _NativeHistogram:
    def __init__(self, name: str, description: str, labels: dict[str, str], buckets: list[float]) -> None:
        family = pb_utils.MetricFamily(name=name, description=description, kind=pb_utils.MetricFamily.HISTOGRAM)
        self.families = [family]
        self._metric = family.Metric(labels=labels, buckets=buckets)

    def observe(self, value: float) -> None:
        self._metric.observe(value)


def _le(bound: float) -> str:
    """A bucket bound as Triton's own histograms print it (prometheus-cpp: '0.5', '1', '+Inf')."""
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


_GAUGES = (
    ("vllm:num_requests_running", "Requests in the engine's running batch."),
    ("vllm:num_requests_waiting", "Requests waiting in the engine's queue for a place in the batch."),
    ("vllm:kv_cache_usage_perc", "KV-cache usage, 0-1 (1 = full)."),
)


class EngineMetrics:
    """Every custom metric of one model instance. Families stay referenced here until close(): a family
    Python frees while Triton still holds it makes later updates fail, and one freed after the stub's
    channel is gone (interpreter exit) crashes the stub (docs/facts.md)."""

    def __init__(self, labels: dict[str, str], histogram_mode: str) -> None:
        native = hasattr(pb_utils.MetricFamily, "HISTOGRAM")
        if histogram_mode == "native" and not native:
            raise pb_utils.TritonModelException("histogram_mode native: this Triton has no MetricFamily.HISTOGRAM")
        histogram = _NativeHistogram if native and histogram_mode != "emulated" else _EmulatedHistogram
        self._labels = labels
        gauge, counter = pb_utils.MetricFamily.GAUGE, pb_utils.MetricFamily.COUNTER
        self._gauge_families = [pb_utils.MetricFamily(name=n, description=d, kind=gauge) for n, d in _GAUGES]
        self._gauges: list[Any] | None = None  # created on the first readable state, deleted when unreadable
        self._counter_families = [
            pb_utils.MetricFamily(name="vllm:prompt_tokens_total", description="Prompt tokens prefilled.", kind=counter),
            pb_utils.MetricFamily(name="vllm:generation_tokens_total", description="Tokens generated.", kind=counter),
        ]
        self.prompt_tokens: Any = self._counter_families[0].Metric(labels=labels)
        self.generation_tokens: Any = self._counter_families[1].Metric(labels=labels)
        self.ttft: Any = histogram("vllm:time_to_first_token_seconds", "Time to first token.", labels, TTFT_BUCKETS)
        self.tpot: Any = histogram("vllm:time_per_output_token_seconds", "Time per output token.", labels, TPOT_BUCKETS)
        self.e2e: Any = histogram("vllm:e2e_request_latency_seconds", "End-to-end request latency.", labels,
                             REQUEST_LATENCY_BUCKETS)
        self.queue: Any = histogram("vllm:request_queue_time_seconds", "Time waited in the engine's queue.", labels,
                               REQUEST_LATENCY_BUCKETS)

    @property
    def gauges_shown(self) -> bool:
        return self._gauges is not None

    def show_state(self, stats: Any) -> None:
        """Set the gauges, or delete them when the state cannot be read: an absent series makes the HPA
        show <unknown> and TritonScalingSignalAbsent fire; a 0 would quietly scale the pool down."""
        if stats is None:
            self._gauges = None  # deleting a Metric removes its series from /metrics
            return
        if self._gauges is None:
            self._gauges = [family.Metric(labels=self._labels) for family in self._gauge_families]
        for metric, value in zip(self._gauges, stats, strict=True):
            metric.set(float(value))

    def close(self) -> None:
        """Delete every metric while the stub can still tell Triton (model unload), on the loop thread."""
        self._gauges = None
        for name in ("prompt_tokens", "generation_tokens", "ttft", "tpot", "e2e", "queue"):
            setattr(self, name, None)
        self._gauge_families = []
        self._counter_families = []
        gc.collect()
