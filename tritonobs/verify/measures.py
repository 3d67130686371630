"""The PromQL a verification run samples, built from the catalogue and the rendered adapter rule. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from tritonobs import catalogue as c
from tritonobs import promql as q
from tritonobs.model import SignalUse, Stack
from tritonobs.queries import expand_adapter

# The SLO is stated at p95 (models[].slo.ttft_p95_seconds); p90 is drawn beside it.
SLO_QUANTILE = 0.95


def _model_matchers(stack: Stack) -> list[str]:
    return [q.eq("namespace", stack.namespace), q.one_of("model", stack.model_names)]


def ttft_quantile(stack: Stack, quantile: float) -> str:
    """TTFT quantile over every pod and model of the stack, over the stack's rate window."""
    return q.histogram_quantile(quantile, c.VLLM_TTFT, _model_matchers(stack), stack.rate_window)


def completed_per_second(stack: Stack) -> str:
    """Requests finished per second (the load an external generator achieved, as the engines saw it)."""
    return q.sum_by((), q.rate(q.sel(c.VLLM_E2E.count, _model_matchers(stack)), stack.rate_window))


def adapter_query(stack: Stack, use: SignalUse, pods: Sequence[str]) -> str:
    """The signal's adapter metricsQuery expanded exactly as prometheus-adapter does for these pods."""
    from tritonobs.render.adapter_rules import rule

    return expand_adapter(rule(stack, use)["metricsQuery"], stack.namespace, list(pods))


def slo_seconds(stack: Stack) -> float:
    """The strictest TTFT objective among the models (the run is judged against the tightest one)."""
    return min(m.slo.ttft_p95_seconds for m in stack.spec.models)


def with_signal(stack: Stack, signal: str, target: float | None = None) -> Stack:
    """The stack with every model scaled on `signal` (target from the spec, else the catalogue default)."""
    from tritonobs.model import resolve
    from tritonobs.signals import SIGNALS

    spec = stack.spec
    chosen = target if target is not None else spec.autoscaling.targets.get(signal, SIGNALS[signal].default_target)  # type: ignore[call-overload]
    models = [m.model_copy(update={"scaling_signal": signal}) for m in spec.models]
    autoscaling = spec.autoscaling.model_copy(update={"targets": {signal: float(chosen)}})
    return resolve(spec.model_copy(update={"models": models, "autoscaling": autoscaling}))
