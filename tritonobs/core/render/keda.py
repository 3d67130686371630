"""KEDA ScaledObject: one Prometheus trigger per signal, each query aggregated to exactly one series.

The query sums the per-pod signal over pods; KEDA's HPA divides by replicas (AverageValue), so the
threshold is per pod, like the adapter path. `ignoreNullValues: "false"` makes a lost series an error
(and the fallback replicas apply) instead of silently reading 0.

The fallback keeps the current replica count when it is higher (`behavior: currentReplicasIfHigher`, KEDA
>= 2.17; apply checks the installed KEDA): KEDA's default `static` fallback would scale a busy Deployment
down to `fallback.replicas` during a metrics outage. `cooldownPeriod` and `activationThreshold` are not
rendered: KEDA applies them only between 0 and 1 replica, and tritonobs never scales to zero
(`min_replicas` >= 1); scale-down pacing is the HPA behavior's.
"""

from __future__ import annotations

from tritonobs.core import promql as q
from tritonobs.core.model import SignalUse, Stack
from tritonobs.core.render import Artifact, KubeObject, amp_keda, forecast
from tritonobs.core.render.amp_keda import amp_auth_ref, amp_metadata, amp_trigger
from tritonobs.core.render.hpa import behavior, scale_target_ref
from tritonobs.core.render.yamlfmt import to_yaml, to_yaml_docs

FALLBACK_BEHAVIOR = "currentReplicasIfHigher"


def trigger_query(stack: Stack, use: SignalUse) -> str:
    # Only the Deployment's pods (`<deployment>-<hash>-<id>`): KEDA divides by the target's replicas, so a
    # pod of another workload serving the same models must not add to the numerator.
    pods = q.re_("pod", f"{q.name_regex(stack.spec.triton.deployment)}-.+")
    return q.agg("sum", use.signal.per_pod(stack.signal_matchers(use, pods), stack.rate_window, ["pod"]))


def scaled_object(stack: Stack) -> KubeObject:
    a = stack.spec.autoscaling
    k = a.keda
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": stack.scaledobject_name, "namespace": stack.namespace, "labels": stack.labels},
        "spec": {
            "scaleTargetRef": scale_target_ref(stack),
            "pollingInterval": k.polling_interval_seconds,
            "minReplicaCount": a.min_replicas,
            "maxReplicaCount": a.max_replicas,
            "fallback": {
                "failureThreshold": k.fallback.failure_threshold,
                "replicas": k.fallback.replicas,
                "behavior": FALLBACK_BEHAVIOR,
            },
            "advanced": {"horizontalPodAutoscalerConfig": {"name": stack.keda_hpa_name, "behavior": behavior(stack)}},
            "triggers": [
                {
                    "type": "prometheus",
                    "name": use.signal.adapter_metric.replace("_", "-"),
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": k.server_address,
                        "query": trigger_query(stack, use),
                        # KEDA parses it as a float (strconv.ParseFloat), not as a quantity.
                        "threshold": q.number(use.target),
                        "ignoreNullValues": "false",
                        **amp_metadata(stack),
                    },
                    **amp_auth_ref(stack),
                }
                for use in stack.signals
            ]
            # The predictive floor's trigger: the same record the adapter's external rule serves.
            + [amp_trigger(stack, forecast.keda_trigger(stack, floor, k.server_address))
               for floor in stack.scale_ahead.floors],
        },
    }


def objects(stack: Stack) -> list[KubeObject]:
    if stack.spec.autoscaling.engine != "keda":
        return []
    auth = amp_keda.trigger_authentication(stack)
    return ([auth] if auth else []) + [scaled_object(stack)]


def render(stack: Stack) -> list[Artifact]:
    if stack.spec.autoscaling.engine != "keda":
        return []
    objs = objects(stack)
    return [Artifact("adapter_rules/keda-scaledobject.yaml", to_yaml(objs[0]) if len(objs) == 1 else to_yaml_docs(objs))]

