"""KEDA ScaledObject: one Prometheus trigger per signal, each query aggregated to exactly one series.

The query sums the per-pod signal over pods; KEDA's HPA divides by replicas (AverageValue), so the
threshold is per pod, like the adapter path. `ignoreNullValues: "false"` makes a lost series an error
(and the fallback replicas apply) instead of silently reading 0.
"""

from __future__ import annotations

from tritonobs import promql as q
from tritonobs.model import SignalUse, Stack
from tritonobs.render import Artifact, KubeObject
from tritonobs.render.hpa import behavior
from tritonobs.render.quantity import quantity
from tritonobs.render.yamlfmt import to_yaml


def trigger_query(stack: Stack, use: SignalUse) -> str:
    return q.agg("sum", use.signal.per_pod(stack.signal_matchers(use), stack.rate_window, ["pod"]))


def scaled_object(stack: Stack) -> KubeObject:
    a = stack.spec.autoscaling
    k = a.keda
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": stack.scaledobject_name, "namespace": stack.namespace, "labels": stack.labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": stack.spec.triton.deployment},
            "pollingInterval": k.polling_interval_seconds,
            "cooldownPeriod": k.cooldown_period_seconds,
            "minReplicaCount": a.min_replicas,
            "maxReplicaCount": a.max_replicas,
            "fallback": {"failureThreshold": k.fallback.failure_threshold, "replicas": k.fallback.replicas},
            "advanced": {"horizontalPodAutoscalerConfig": {"name": stack.keda_hpa_name, "behavior": behavior(stack)}},
            "triggers": [
                {
                    "type": "prometheus",
                    "name": use.signal.adapter_metric.replace("_", "-"),
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": k.server_address,
                        "query": trigger_query(stack, use),
                        "threshold": quantity_text(use.target),
                        "activationThreshold": quantity_text(k.activation_threshold),
                        "ignoreNullValues": "false",
                    },
                }
                for use in stack.signals
            ],
        },
    }


def quantity_text(value: float) -> str:
    """KEDA parses thresholds as floats, not quantities."""
    return f"{value:g}" if value != int(value) else str(int(value))


def objects(stack: Stack) -> list[KubeObject]:
    return [scaled_object(stack)] if stack.spec.autoscaling.engine == "keda" else []


def render(stack: Stack) -> list[Artifact]:
    if stack.spec.autoscaling.engine != "keda":
        return []
    return [Artifact("adapter_rules/keda-scaledobject.yaml", to_yaml(scaled_object(stack)))]


__all__ = ["quantity", "scaled_object", "trigger_query"]
