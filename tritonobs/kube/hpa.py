"""Read the HPA the stack scales with, wait until it reports metric values, explain why when it doesn't.

"Reports a value" means `status.currentMetrics` holds a current value for every metric in its spec —
what `kubectl get hpa` shows instead of `<unknown>`. With KEDA the HPA is KEDA's `keda-hpa-<name>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritonobs.core import kinds
from tritonobs.core.model import Stack
from tritonobs.kube import custom_metrics
from tritonobs.kube.client import JsonObj, Kube

POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Reading:
    name: str
    target: str | None
    current: str | None  # None is the `<unknown>` of kubectl


@dataclass(frozen=True)
class HpaState:
    name: str
    found: bool
    readings: tuple[Reading, ...] = ()
    current_replicas: int | None = None
    desired_replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    conditions: tuple[dict[str, Any], ...] = field(default=())

    @property
    def reporting(self) -> bool:
        return self.found and bool(self.readings) and all(r.current is not None for r in self.readings)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "found": self.found,
            "metrics": [{"name": r.name, "target": r.target, "current": r.current} for r in self.readings],
            "current_replicas": self.current_replicas,
            "desired_replicas": self.desired_replicas,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
        }


def _source(metric: JsonObj) -> JsonObj:
    """The type-specific part of a metric spec/status: `pods`, `external`, `object`, `resource`, ..."""
    kind = str(metric.get("type", "")).lower()
    kind = {"containerresource": "containerResource"}.get(kind, kind)
    return dict(metric.get(kind) or {})


def _name(metric: JsonObj) -> str:
    src = _source(metric)
    return str((src.get("metric") or {}).get("name") or src.get("name") or "")


def _value(values: JsonObj) -> str | None:
    for key in ("averageValue", "value", "averageUtilization"):
        if values.get(key) is not None:
            return str(values[key])
    return None


def state_of(hpa: JsonObj | None, name: str) -> HpaState:
    if hpa is None:
        return HpaState(name, False)
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    current = {(m.get("type"), _name(m)): _value(_source(m).get("current") or {}) for m in status.get("currentMetrics") or []}
    readings = tuple(
        Reading(_name(m), _value(_source(m).get("target") or {}), current.get((m.get("type"), _name(m))))
        for m in spec.get("metrics") or []
    )
    return HpaState(
        name,
        True,
        readings,
        status.get("currentReplicas"),
        status.get("desiredReplicas"),
        spec.get("minReplicas"),
        spec.get("maxReplicas"),
        tuple(status.get("conditions") or ()),
    )


def read(kube: Kube, stack: Stack) -> HpaState:
    name = stack.effective_hpa_name
    return state_of(kube.get(kinds.HPA, name, stack.namespace), name)


def wait_reporting(
    kube: Kube,
    stack: Stack,
    timeout_seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_poll: Callable[[HpaState, float], None] | None = None,
) -> HpaState:
    """Poll until the HPA reports every metric or the time is up; returns the last state seen."""
    deadline = clock() + timeout_seconds
    while True:
        state = read(kube, stack)
        remaining = deadline - clock()
        if on_poll:
            on_poll(state, max(remaining, 0.0))
        if state.reporting or remaining <= 0:
            return state
        sleep(min(POLL_SECONDS, remaining))


def explain(kube: Kube, stack: Stack, state: HpaState) -> list[str]:
    """The likely causes of `<unknown>`, most specific first."""
    ns = stack.namespace
    if not state.found:
        if stack.spec.autoscaling.engine == "keda":
            return [
                f"KEDA has not created HPA {ns}/{state.name}: is the KEDA operator running? "
                f"(kubectl -n {ns} describe scaledobject {stack.scaledobject_name})"
            ]
        return [f"HPA {ns}/{state.name} does not exist (was it deleted after apply?)"]
    causes: list[str] = []
    for c in state.conditions:
        if c.get("type") in ("ScalingActive", "AbleToScale") and c.get("status") == "False":
            causes.append(f"{c['type']}=False ({c.get('reason')}): {c.get('message')}")
    if not state.conditions:
        causes.append("the HPA controller has not evaluated it yet (it syncs every 15 s; is kube-controller-manager healthy?)")
    if stack.spec.autoscaling.engine == "keda":
        so = kube.get(kinds.SCALED_OBJECT, stack.scaledobject_name, ns) or {}
        for c in (so.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") != "True":
                causes.append(f"ScaledObject Ready={c.get('status')} ({c.get('reason')}): {c.get('message')}")
        return causes
    served = custom_metrics.served_pod_metrics(kube)
    floors = {f.external_metric for f in stack.scale_ahead.floors}
    for r in state.readings:
        if r.current is not None:
            continue
        if r.name in floors:  # the predictive floor: an External metric from a recording rule
            causes.append(
                f"no value for the External metric {r.name}: are the recording rules of group tritonobs.forecast "
                f"loaded (PrometheusRule {stack.spec.monitoring.namespace}/{stack.prometheus_rule_name}), and does the "
                f"adapter serve it (externalRules; one relist interval, {stack.spec.monitoring.adapter_relist_interval})? "
                "Until it has one the HPA scales up on its other metric but does not scale down"
            )
            continue
        if served is None:
            causes.append("the custom metrics API is not served (prometheus-adapter down or not registered)")
        elif r.name not in served:
            causes.append(
                f"no adapter rule serves pods/{r.name}: apply the adapter rules and wait one relist interval "
                f"({stack.spec.monitoring.adapter_relist_interval})"
            )
        elif not custom_metrics.pod_values(kube, stack, r.name):
            causes.append(
                f"the adapter serves {r.name} but has no series for the pods of {stack.spec.triton.deployment}: "
                "is the ServiceMonitor scraping them (up == 1), and does model.py export the vllm: gauges?"
            )
        else:
            causes.append(f"the adapter returns {r.name} for the pods: the HPA should read it at its next sync")
    return list(dict.fromkeys(causes))
