"""LLM view: what the vLLM engine does per model (latency quantiles, tokens, queue, KV cache).

These series come from our model.py through Triton's custom metrics; unlike Triton's own per-model
timings they see the engine's queue and generation. Each model of the spec gets its own row so its TTFT
objective can be drawn as a line on its own panel.
"""

from collections.abc import Sequence

from grafanalib.core import Dashboard, Panel

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.catalogue import Metric
from tritonobs.core.model import Model, Stack
from tritonobs.core.render import dashboard_queries as dq
from tritonobs.core.render.panels import Section, Series, bargauge, dashboard, stat, timeseries

SLUG = "llm"
QUANTILES = (0.5, 0.9, 0.95, 0.99)
BY_MODEL = "{{model}}"


def _quantiles(hist: Metric, matchers: Sequence[str], quantiles: Sequence[float] = QUANTILES) -> list[Series]:
    return [Series(dq.quantile(qv, hist, matchers), f"p{round(qv * 100)}") for qv in quantiles]


def _gauge_panels(stack: Stack) -> list[Panel]:
    """Running/waiting/KV-cache panels: only models whose engine exports the gauges (tritonobs' model.py; Triton's
    vllm_backend has none), so a panel never shows a model as idle that simply reports nothing."""
    if not stack.gauge_models:
        return []
    matchers = dq.MODEL_MATCHERS
    if stack.gauge_models != stack.model_names:
        matchers = (*matchers, q.one_of("model", stack.gauge_models))
    return [
        timeseries(
            "Running requests",
            unit="short",
            description="Requests in vLLM's running batch, summed over the selected pods, per model.",
            series=[Series(dq.gauge_sum(c.VLLM_RUNNING, matchers), BY_MODEL)],
            w=8,
        ),
        timeseries(
            "Waiting requests",
            unit="short",
            description="Requests queued inside vLLM, waiting for a place in the batch (the default "
            "scaling signal), summed over the selected pods, per model.",
            series=[Series(dq.gauge_sum(c.VLLM_WAITING, matchers), BY_MODEL)],
            w=8,
        ),
        timeseries(
            "KV-cache usage",
            unit="percentunit",
            description="Share of KV-cache blocks in use per model and pod. Near 1, vLLM preempts "
            "requests and new ones wait.",
            series=[Series(dq.kv_cache(matchers), "{{model}} {{pod}}")],
            steps=[(0.9, "orange")],
            threshold_style="dashed",
            min_value=0,
            w=8,
        ),
        bargauge(
            "KV-cache usage now",
            unit="percentunit",
            description="Current KV-cache usage per model and pod, to spot one pod running full "
            "while others idle (uneven load balancing).",
            series=[Series(dq.kv_cache(matchers), "{{model}} {{pod}}")],
            min_value=0,
            max_value=1,
            steps=[(0.9, "orange"), (0.98, "red")],
            w=24,
            h=5,
        ),
    ]


def _selected_models(stack: Stack) -> Section:
    return Section(
        "Selected models ($model)",
        [
            timeseries(
                "Prompt tokens",
                unit="suffix:tok/s",
                description="Prompt (prefill) tokens processed per second, per model.",
                series=[Series(dq.tokens_per_second(c.VLLM_PROMPT_TOKENS), BY_MODEL)],
                w=12,
            ),
            timeseries(
                "Generated tokens",
                unit="suffix:tok/s",
                description="Output tokens generated per second, per model.",
                series=[Series(dq.tokens_per_second(c.VLLM_GENERATION_TOKENS), BY_MODEL)],
                w=12,
            ),
            *_gauge_panels(stack),
        ],
    )


def _model_row(model: Model) -> Section:
    matchers = dq.one_model(model.name)
    slo = model.ttft_p95_seconds
    return Section(
        f"{model.name} ({model.hf_model_id}); TTFT objective p95 <= {slo:g} s",
        [
            timeseries(
                f"{model.name}: time to first token",
                unit="s",
                description=f"TTFT quantiles over the rate window. The dashed line is the objective: 95% of "
                f"requests within {slo:g} s.",
                series=_quantiles(c.VLLM_TTFT, matchers),
                steps=[(slo, "red")],
                threshold_style="dashed",
                min_value=0,
                w=9,
            ),
            timeseries(
                f"{model.name}: time per output token",
                unit="s",
                description="Time per output token (decode speed) quantiles over the rate window.",
                series=_quantiles(c.VLLM_TPOT, matchers),
                min_value=0,
                w=9,
            ),
            stat(
                f"{model.name}: TTFT p95 now",
                unit="s",
                description=f"95th percentile TTFT now; red above the objective ({slo:g} s).",
                series=_quantiles(c.VLLM_TTFT, matchers, (0.95,)),
                steps=[(slo, "red")],
                w=6,
                h=8,
            ),
            timeseries(
                f"{model.name}: end-to-end latency",
                unit="s",
                description="End-to-end request latency quantiles (first byte in to last token out).",
                series=_quantiles(c.VLLM_E2E, matchers),
                min_value=0,
                w=12 if model.backend == "tritonobs" else 24,
                h=7,
            ),
            *([] if model.backend != "tritonobs" else [timeseries(
                f"{model.name}: time in vLLM's queue",
                unit="s",
                description="How long requests waited in vLLM's own queue before their first scheduling "
                "(quantiles over the rate window): the queue Triton's queue-time metrics cannot see.",
                series=_quantiles(c.VLLM_QUEUE_TIME, matchers),
                min_value=0,
                w=12,
                h=7,
            )]),
        ],
    )


def build(stack: Stack) -> Dashboard:
    return dashboard(
        stack,
        SLUG,
        title="LLM engine",
        description="vLLM engine metrics per model: TTFT, time per output token, end-to-end latency and "
        "queue time quantiles, tokens per second, running and waiting requests, KV-cache usage.",
        sections=[_selected_models(stack), *(_model_row(m) for m in stack.models)],
        tags=["vllm"],
    )
