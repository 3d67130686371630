"""Triton overview: the seed dashboard's four views, computed correctly, plus requests, GPU and CPU.

The seed plotted raw cumulative counters; here every per-request time is rate(sum) / rate(count) in ms,
and the request total is reset-safe over the dashboard's time range.
"""

from grafanalib.core import Dashboard

from tritonobs.core.model import Stack
from tritonobs.core.render import dashboard_queries as dq
from tritonobs.core.render.panels import Section, Series, dashboard, gauge, stat, text, timeseries

SLUG = "triton-overview"

DECOUPLED_NOTE = (
    "**Triton timings for decoupled vLLM models.** Triton records queue, compute and request time when a "
    "model's `execute()` returns. A vLLM model returns as soon as it has handed the request to the engine, "
    "so these timings measure the hand-off, not the LLM: they stay near zero while requests pile up inside "
    "vLLM. Use the *LLM* dashboard (TTFT, waiting requests, KV cache) to see the engine."
)
TRITON_SCOPE = " For decoupled vLLM models this covers only execute() (the hand-off to the engine)."


def build(stack: Stack) -> Dashboard:
    gpu = dq.gpu(stack)
    limit = stack.alerts.gpu_power_limit_watts
    by_model = "{{model}}"

    seed = Section(
        "Seed views",
        [
            text(
                "About Triton timings",
                content=DECOUPLED_NOTE,
                description="Why Triton's per-model timings read near zero for vLLM models (DESIGN.md).",
            ),
            gauge(
                "Average GPU power",
                unit="watt",
                description=f"Mean power draw over the selected pods' GPUs ({gpu.source}). "
                f"The scale ends at the board limit, {limit:g} W.",
                series=[Series(gpu.power_avg, "mean")],
                min_value=0,
                max_value=limit,
                steps=[(0.8 * limit, "orange"), (stack.alerts.gpu_power_ratio * limit, "red")],
                w=6,
            ),
            timeseries(
                "Compute time per request",
                unit="ms",
                description="Average Triton compute (infer) time per successful request: "
                "rate of cumulative µs over rate of successes, in ms." + TRITON_SCOPE,
                series=[Series(dq.compute_ms(), by_model)],
                w=6,
            ),
            timeseries(
                "Queue time per request",
                unit="ms",
                description="Average time a request waited in Triton's queue before reaching the backend: "
                "rate of cumulative µs over rate of successes, in ms." + TRITON_SCOPE,
                series=[Series(dq.queue_ms(), by_model)],
                w=6,
            ),
            stat(
                "Inference requests",
                unit="short",
                description="Successful inference requests over the dashboard's time range, per model "
                "(increase of the counter, so pod restarts do not reset it).",
                series=[Series(dq.requests_in_range(), by_model)],
                w=6,
                h=8,
            ),
        ],
    )
    requests = Section(
        "Requests",
        [
            timeseries(
                "Successful requests",
                unit="reqps",
                description="Successful inference requests per second, per model.",
                series=[Series(dq.success_per_second(), by_model)],
                w=8,
            ),
            timeseries(
                "Failed requests by reason",
                unit="reqps",
                description="Failed requests per second, per model and reason "
                "(REJECTED: timed out in the scheduler; CANCELED: cancelled in the core; BACKEND: failed in the model; "
                "OTHER: anything else).",
                series=[Series(dq.failure_per_second(), "{{model}} {{reason}}")],
                w=8,
            ),
            timeseries(
                "Pending requests in Triton",
                unit="short",
                description="Requests queued in Triton, not yet handed to a backend instance (a gauge)."
                + TRITON_SCOPE,
                series=[Series(dq.pending(), by_model)],
                w=8,
            ),
            timeseries(
                "Request time per request",
                unit="ms",
                description="Average end-to-end Triton request time per successful request, in ms."
                + TRITON_SCOPE,
                series=[Series(dq.request_ms(), by_model)],
                w=24,
                h=7,
            ),
        ],
    )
    gpus = Section(
        f"GPU ({gpu.source})",
        [
            timeseries(
                "GPU utilisation",
                unit="percentunit",
                description=f"Share of time each GPU was busy, per pod and GPU ({gpu.source}).",
                series=[Series(gpu.utilization, gpu.legend)],
                min_value=0,
                w=8,
            ),
            timeseries(
                "GPU memory",
                unit="bytes",
                description="GPU memory in use and in total, per pod and GPU. vLLM reserves "
                "gpu_memory_utilization of it for weights and KV cache at start.",
                series=[
                    Series(gpu.memory_used, f"{gpu.legend} used"),
                    Series(gpu.memory_total, f"{gpu.legend} total"),
                ],
                min_value=0,
                w=8,
            ),
            timeseries(
                "GPU power",
                unit="watt",
                description=f"Power draw per pod and GPU ({gpu.source}); the dashed line is the board limit.",
                series=[Series(gpu.power, gpu.legend)],
                steps=[(limit, "red")],
                threshold_style="dashed",
                min_value=0,
                w=8,
            ),
            stat(
                "GPU energy",
                unit="joule",
                description="Energy used by the selected pods' GPUs over the dashboard's time range.",
                series=[Series(gpu.energy_in_range, "energy")],
                w=24,
                h=4,
            ),
        ],
    )
    cpu = Section(
        "CPU (Triton nv_cpu_*)",
        [
            timeseries(
                "CPU utilisation",
                unit="percentunit",
                description="CPU utilisation of each Triton pod's host as Triton reports it (0-1).",
                series=[Series(dq.cpu_utilization(), "{{pod}}")],
                min_value=0,
                w=12,
            ),
            timeseries(
                "CPU memory",
                unit="bytes",
                description="Host memory used and in total, as each Triton pod reports it.",
                series=[
                    Series(dq.cpu_memory_used(), "{{pod}} used"),
                    Series(dq.cpu_memory_total(), "{{pod}} total"),
                ],
                min_value=0,
                w=12,
            ),
        ],
    )
    return dashboard(
        stack,
        SLUG,
        title="Triton overview",
        description="Triton per-model requests and timings, GPU and CPU of the Triton pods.",
        sections=[seed, requests, gpus, cpu],
        tags=["triton"],
    )
