"""The HorizontalPodAutoscaler (autoscaling/v2) for the Triton Deployment: one Pods metric per signal.

Pods metrics only support AverageValue (sum of pod values / target). With several metrics the HPA takes
the largest recommendation. Behavior is written out in full so the manifest says what the cluster does.
"""

from __future__ import annotations

from typing import Any

from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import ScalingRules, Stack
from tritonobs.core.render import forecast
from tritonobs.core.render.quantity import quantity


def scaling_rules(r: ScalingRules) -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": r.stabilization_window_seconds,
        "selectPolicy": r.select_policy,
        "policies": [{"type": p.type, "value": p.value, "periodSeconds": p.period_seconds} for p in r.policies],
    }


def behavior(stack: Stack) -> dict[str, Any]:
    a = stack.autoscaling
    return {"scaleUp": scaling_rules(a.scale_up), "scaleDown": scaling_rules(a.scale_down)}


def scale_target_ref(stack: Stack) -> dict[str, str]:
    """The Triton Deployment, as both the HPA and KEDA's ScaledObject name it."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": stack.triton.deployment}


def hpa(stack: Stack) -> KubeObject:
    a = stack.autoscaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": stack.hpa_name, "namespace": stack.namespace, "labels": stack.labels},
        "spec": {
            "scaleTargetRef": scale_target_ref(stack),
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": use.signal.adapter_metric},
                        "target": {"type": "AverageValue", "averageValue": quantity(use.target)},
                    },
                }
                for use in stack.signals
            ]
            # The predictive floor comes second: the HPA takes the larger recommendation.
            + [forecast.hpa_metric(stack, floor) for floor in stack.scale_ahead.floors],
            "behavior": behavior(stack),
        },
    }
