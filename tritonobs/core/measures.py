"""What a verification run takes from the stack: the PromQL it samples (built from the catalogue and the
rendered adapter rule) and the RunInfo its budgets and report are judged by. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.expand import expand_adapter, expand_adapter_external
from tritonobs.core.model import SignalUse, Stack, resolve
from tritonobs.core.render.adapter_rules import rule
from tritonobs.core.render.forecast import external_rule
from tritonobs.core.scaleahead import Floor
from tritonobs.core.signals import SIGNALS
from tritonobs.core.timeline import RunInfo

# The SLO is stated at p95 (models[].slo.ttft_p95_seconds); p90 is drawn beside it.
SLO_QUANTILE = 0.95


def _model_matchers(stack: Stack) -> list[str]:
    return [q.eq("namespace", stack.namespace), q.one_of("model", stack.model_names)]


def ttft_quantile(stack: Stack, quantile: float) -> str:
    """TTFT quantile over every pod and model of the stack, over the stack's rate window."""
    return q.histogram_quantile(quantile, c.VLLM_TTFT, _model_matchers(stack), stack.rate_window)


def engine_waiting(stack: Stack) -> str:
    """Requests waiting inside the engines, summed over every pod and model of the stack."""
    return q.sum_by((), q.sel(c.VLLM_WAITING, _model_matchers(stack)))


def completed_per_second(stack: Stack) -> str:
    """Requests finished per second (the load an external generator achieved, as the engines saw it)."""
    return q.sum_by((), q.rate(q.sel(c.VLLM_E2E.count, _model_matchers(stack)), stack.rate_window))


def adapter_query(stack: Stack, use: SignalUse, pods: Sequence[str]) -> str:
    """The signal's adapter metricsQuery expanded exactly as prometheus-adapter does for these pods."""

    return expand_adapter(rule(stack, use)["metricsQuery"], stack.namespace, list(pods))


def external_query(stack: Stack, floor: Floor, *, forecast: bool = True) -> str:
    """The predictive floor's external rule expanded as prometheus-adapter does for the HPA's External metric
    (forecast False: the same over the total record, which carries the same labels)."""
    selector = {"deployment": stack.spec.triton.deployment}
    series = floor.floor_record if forecast else floor.total_record
    return expand_adapter_external(external_rule(stack, floor)["metricsQuery"], series, stack.namespace, selector)


def slo_seconds(stack: Stack) -> float:
    """The strictest TTFT objective among the models (the run is judged against the tightest one)."""
    return min(m.slo.ttft_p95_seconds for m in stack.spec.models)


def run_info(stack: Stack, *, mode: Literal["lab", "cluster"], hpa: str, profile: str, started_at: float,
             time_factor: float = 1.0) -> RunInfo:
    """The run as the report states it: the HPA's first signal and target, bounds, SLO and GPU pool."""
    use = stack.signals[0]
    pool = stack.spec.gpu_pool
    return RunInfo(
        mode=mode,
        stack=stack.name,
        namespace=stack.namespace,
        hpa=hpa,
        signal=use.name,
        target=use.target,
        min_replicas=stack.spec.autoscaling.min_replicas,
        max_replicas=stack.spec.autoscaling.max_replicas,
        slo_ttft_seconds=slo_seconds(stack),
        gpus_per_node=pool.gpus_per_node,
        gpus_per_pod=pool.gpus_per_pod,
        hourly_price_usd=pool.hourly_price_usd,
        time_factor=time_factor,
        profile=profile,
        started_at=started_at,
    )


def with_signal(stack: Stack, signal: str, target: float | None = None) -> Stack:
    """The stack with every model scaled on `signal` (target from the spec, else the catalogue default)."""

    spec = stack.spec
    chosen = target if target is not None else spec.autoscaling.targets.get(signal, SIGNALS[signal].default_target)  # type: ignore[call-overload]
    models = [m.model_copy(update={"scaling_signal": signal}) for m in spec.models]
    autoscaling = spec.autoscaling.model_copy(update={"targets": {signal: float(chosen)}})
    return resolve(spec.model_copy(update={"models": models, "autoscaling": autoscaling}))
