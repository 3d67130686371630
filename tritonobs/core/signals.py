"""The scaling signals: named choices in the spec, each one PromQL expression per pod.

`per_pod(matchers, window, by)` returns one series per value of `by` (normally `pod`). The same builder
feeds the adapter rule (matchers = `<<.LabelMatchers>>`, by = `<<.GroupBy>>`), KEDA (by = () to get one
series), dashboards and the lab. Values are per pod and summed over the models that use the signal:
an unweighted average over models would dilute a hot model by an idle one (docs/facts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q

PerPod = Callable[[Sequence[str], str, Sequence[str]], str]


def _waiting(m: Sequence[str], w: str, by: Sequence[str]) -> str:
    return q.sum_by(by, q.sel(c.VLLM_WAITING, m))


def _inflight(m: Sequence[str], w: str, by: Sequence[str]) -> str:
    # Two sums joined on the grouping labels: running + waiting = every request the engine holds.
    return f"{q.sum_by(by, q.sel(c.VLLM_RUNNING, m))} + {q.sum_by(by, q.sel(c.VLLM_WAITING, m))}"


def _ttft_p90(m: Sequence[str], w: str, by: Sequence[str]) -> str:
    hq = q.histogram_quantile(0.9, c.VLLM_TTFT, m, w, by)
    # No first token in the window gives NaN, which the adapter cannot turn into a quantity. That happens
    # on an idle pod (TTFT 0 is right) and on a saturated one whose requests all still wait (0 would be
    # exactly wrong: the signal-truth bench saw it read 0 under 4x overload). `>= 0` drops NaN; `or`
    # supplies, from the waiting gauge every pod has, the largest bucket bound when requests wait, else 0.
    top = q.number(c.VLLM_TTFT.buckets[-1])
    fallback = f"({q.sum_by(by, q.sel(c.VLLM_WAITING, m))} > bool 0) * {top}"
    on = f"on ({', '.join(by)}) " if by else ""
    return f"({hq} >= 0) or {on}({fallback})"


def _queue_time_avg(m: Sequence[str], w: str, by: Sequence[str]) -> str:
    # Average Triton queue time per request in seconds: cumulative µs rated, divided by successes rated.
    avg_us = q.avg_from_counters(c.NV_QUEUE_DURATION, c.NV_REQUEST_SUCCESS, m, w, by)
    return f"({avg_us}) / 1e6"


def _queue_compute_ratio(m: Sequence[str], w: str, by: Sequence[str]) -> str:
    # The reference blueprint's signal, aggregated per pod before dividing.
    return q.ratio(
        q.sum_by(by, q.rate(q.sel(c.NV_QUEUE_DURATION, m), w)),
        q.sum_by(by, q.rate(q.sel(c.NV_COMPUTE_INFER_DURATION, m), w)),
    )


@dataclass(frozen=True)
class Signal:
    name: str
    title: str
    unit: str  # Grafana unit id
    description: str
    default_target: float
    series_metric: c.Metric  # the series the adapter discovers pods through (seriesQuery)
    per_pod: PerPod
    sees_vllm_queue: bool  # False for the Triton-side signals: blind to vLLM's queue (DESIGN.md)

    @property
    def adapter_metric(self) -> str:
        """Name exposed through custom.metrics.k8s.io and referenced by the HPA."""
        return f"tritonobs_{self.name}"

    @property
    def record(self) -> str:
        """Recording-rule name holding the per-pod value (level:metric:operations convention)."""
        return f"pod:tritonobs_{self.name}:sum"


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal(
            "waiting_requests",
            "Waiting requests per pod",
            "short",
            "Requests queued inside vLLM (not yet in the running batch), summed over models per pod.",
            2.0,
            c.VLLM_WAITING,
            _waiting,
            True,
        ),
        Signal(
            "inflight_requests",
            "In-flight requests per pod",
            "short",
            "Requests held by vLLM (running + waiting), summed over models per pod.",
            8.0,
            c.VLLM_RUNNING,
            _inflight,
            True,
        ),
        Signal(
            "ttft_p90",
            "TTFT p90 per pod",
            "s",
            "90th percentile time to first token over the rate window, per pod (0 when idle).",
            1.0,
            c.VLLM_RUNNING,
            _ttft_p90,
            True,
        ),
        Signal(
            "queue_time_avg",
            "Triton queue time per request",
            "s",
            "Average Triton queue time per request (sum over models per pod). Blind to vLLM's own queue.",
            0.05,
            c.NV_QUEUE_DURATION,
            _queue_time_avg,
            False,
        ),
        Signal(
            "queue_compute_ratio",
            "Triton queue/compute ratio",
            "short",
            "Triton queue time over compute time per pod (the reference blueprint's signal). Blind to vLLM's queue.",
            1.0,
            c.NV_QUEUE_DURATION,
            _queue_compute_ratio,
            False,
        ),
    )
}
