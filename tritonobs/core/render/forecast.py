"""The predictive floor: recording rules, the adapter's external rule, the HPA's External metric, KEDA's trigger.

For each signal in use that adds up over pods (scaleahead.Floor), three records in group `tritonobs.forecast`,
evaluated in order within the group:

    total     = the signal summed over the Deployment's pods            (what the reactive HPA sees, in total)
    forecast  = predict_linear(total[window], lookahead)                (least-squares line, `lookahead` ahead)
    floor     = forecast where it is above total, else total            (max of the two; never below today)

The HPA reads `floor` as an External metric with an AverageValue target of one replica's capacity
(target x (1 - headroom)), so it asks for ceil(floor / capacity) replicas; the per-pod reactive signal stays
its first metric and the HPA takes the larger recommendation. KEDA reads the same record in a second trigger.

Every record carries `deployment` (a static rule label) beside `namespace`: the external metric is selected
by both, so two Deployments in one namespace never read each other's floor.
"""

from __future__ import annotations

import re
from typing import Any

from tritonobs.core import promql as q
from tritonobs.core.model import Stack
from tritonobs.core.render.adapter_merge import owner_filter
from tritonobs.core.render.quantity import quantity
from tritonobs.core.scaleahead import Floor

GROUP_FORECAST = "tritonobs.forecast"
BY = ("namespace",)  # the records' grouping (plus the static `deployment` rule label)


def floor_labels(stack: Stack) -> dict[str, str]:
    """Labels of every forecast record: what the HPA's external metric selects."""
    return {"namespace": stack.namespace, "deployment": stack.triton.deployment}


def _use(stack: Stack, floor: Floor) -> Any:
    return next(u for u in stack.signals if u.name == floor.signal)


def _own(stack: Stack, record: str) -> str:
    return q.sel(record, [q.eq(k, v) for k, v in sorted(floor_labels(stack).items())])


def total_expr(stack: Stack, floor: Floor) -> str:
    use = _use(stack, floor)
    # The Deployment's pods only (`<deployment>-<hash>-<id>`), as KEDA's trigger: another workload serving the
    # same models must not add to this Deployment's load.
    pods = q.re_("pod", f"{q.name_regex(stack.triton.deployment)}-.+")
    inner = use.signal.per_pod(stack.signal_matchers(use, pods), stack.rate_window, list(BY))
    return f"# {use.signal.title}, summed over the Deployment's pods: the load the floor forecasts.\n{inner}"


def forecast_expr(stack: Stack, floor: Floor) -> str:
    sa = stack.scale_ahead
    window = q.duration(sa.forecast_window_seconds)
    return (
        f"# The total's least-squares line over the last {window} (one lookahead; shorter windows chase noise),\n"
        f"# read {q.number(sa.lookahead_seconds)} s ahead (the lookahead: by default the pool's cold start), so a\n"
        "# replica ordered now is Ready when that load arrives. Below the total when the load falls.\n"
        f"predict_linear({_own(stack, floor.total_record)}[{window}], {q.number(sa.lookahead_seconds)})"
    )


def floor_expr(stack: Stack, floor: Floor) -> str:
    total, forecast = _own(stack, floor.total_record), _own(stack, floor.forecast_record)
    return (
        "# max(total, forecast): the forecast where it is above the current total, else the total. A falling\n"
        "# forecast never pulls the floor below today's load; without a forecast (< 2 samples) the total stands.\n"
        f"({forecast} > {total})\nor\n{total}"
    )


def records(stack: Stack) -> list[dict[str, Any]]:
    deployment = {"deployment": stack.triton.deployment}
    out: list[dict[str, Any]] = []
    for floor in stack.scale_ahead.floors:
        out += [
            {"record": floor.total_record, "expr": total_expr(stack, floor), "labels": deployment},
            {"record": floor.forecast_record, "expr": forecast_expr(stack, floor)},
            {"record": floor.floor_record, "expr": floor_expr(stack, floor)},
        ]
    return out


def rule_group(stack: Stack) -> dict[str, Any] | None:
    rules = records(stack)
    return {"name": GROUP_FORECAST, "rules": rules} if rules else None


# --- prometheus-adapter (external.metrics.k8s.io) ---


def external_rule(stack: Stack, floor: Floor) -> dict[str, Any]:
    deployment = q.eq("deployment", stack.triton.deployment)
    return {
        # The static `deployment` matcher is repeated in metricsQuery, as the adapter requires.
        "seriesQuery": q.sel(floor.floor_record, [q.ne("namespace", ""), deployment]),
        "seriesFilters": [owner_filter(stack.name)],
        # Namespaced: the adapter adds the HPA's namespace to <<.LabelMatchers>>.
        "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
        "name": {"matches": f"^{re.escape(floor.floor_record)}$", "as": floor.external_metric},
        # One series (the HPA sums every value an external metric returns).
        "metricsQuery": f"max by (namespace, deployment) (<<.Series>>{{<<.LabelMatchers>>,{deployment}}})",
    }


def external_rules(stack: Stack) -> list[dict[str, Any]]:
    if stack.autoscaling.engine != "adapter":
        return []
    return [external_rule(stack, f) for f in stack.scale_ahead.floors]


# --- HPA and KEDA ---


def hpa_metric(stack: Stack, floor: Floor) -> dict[str, Any]:
    """External metric, AverageValue: desired = ceil(floor / capacity) (one replica's share of the load)."""
    return {
        "type": "External",
        "external": {
            "metric": {"name": floor.external_metric, "selector": {"matchLabels": {"deployment": stack.triton.deployment}}},
            "target": {"type": "AverageValue", "averageValue": quantity(floor.capacity)},
        },
    }


def keda_query(stack: Stack, floor: Floor) -> str:
    # `sum` of one series: KEDA needs exactly one element.
    return q.agg("sum", _own(stack, floor.floor_record))


def keda_trigger(stack: Stack, floor: Floor, server_address: str) -> dict[str, Any]:
    return {
        "type": "prometheus",
        "name": floor.external_metric.replace("_", "-"),
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": server_address,
            "query": keda_query(stack, floor),
            "threshold": q.number(floor.capacity),
            "ignoreNullValues": "false",
        },
    }
