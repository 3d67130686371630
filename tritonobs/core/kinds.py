"""The Kubernetes kinds tritonobs touches, as static data: API paths, prune scope, RBAC. Pure (no client).

Paths are built from this table rather than from discovery so `tritonobs rbac` can say, without a cluster,
exactly which resources the code calls; discovery is only asked whether a kind is served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The ownership labels are the resolved model's (it puts them on every object); re-exported for the edges.
from tritonobs.core.model import MANAGED_BY as MANAGED_BY
from tritonobs.core.model import PART_OF as PART_OF
from tritonobs.core.model import Stack

FIELD_MANAGER = "tritonobs"
HELM_RELEASE = "meta.helm.sh/release-name"  # the annotation Helm puts on every object of a release


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    @property
    def base(self) -> str:
        """`/api/v1` for the core group, `/apis/<group>/<version>` otherwise."""
        return f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.base}/namespaces/{namespace}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def path(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{name}"

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


SERVICE_MONITOR = Kind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors")
PROMETHEUS_RULE = Kind("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
# Helm keeps each release revision in a Secret (its default storage driver); apply reads the
# prometheus-adapter release's values from it to merge our rules into them.
SECRET = Kind("v1", "Secret", "secrets")
# apply reads KEDA's ScaledObject CRD to learn whether the installed KEDA knows `fallback.behavior`.
CRD = Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
SCALED_OBJECT = Kind("keda.sh/v1alpha1", "ScaledObject", "scaledobjects")
# KEDA's credentials for the AMP trigger (monitoring.backend: amp): pod identity, no secret in it.
TRIGGER_AUTHENTICATION = Kind("keda.sh/v1alpha1", "TriggerAuthentication", "triggerauthentications")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
POD = Kind("v1", "Pod", "pods")
# verify reads the load Job (its completions) and its pods' logs (the client records of each share).
JOB = Kind("batch/v1", "Job", "jobs")
NODE = Kind("v1", "Node", "nodes", namespaced=False)
API_SERVICE = Kind("apiregistration.k8s.io/v1", "APIService", "apiservices", namespaced=False)
# Karpenter's record of a node it launches (verify times a node from it when the CRD is served).
NODECLAIM = Kind("karpenter.sh/v1", "NodeClaim", "nodeclaims", namespaced=False)

PRIORITY_CLASS = Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False)

# Every kind tritonobs may ever render: prune lists all of them, so switching engines (adapter -> KEDA)
# removes the HPA the old spec created.
MANAGED: tuple[Kind, ...] = (SERVICE_MONITOR, PROMETHEUS_RULE, CONFIG_MAP, HPA, SCALED_OBJECT, TRIGGER_AUTHENTICATION)
# Warm GPU capacity (gpu_pool.warm_nodes): in prune's scope only while the spec asks for warm nodes, so a stack
# without them never needs the right to list and delete Deployments beside Triton's. Turning warm nodes off
# therefore leaves the two objects behind: README "Scaling ahead of load" says how to remove them.
WARM: tuple[Kind, ...] = (PRIORITY_CLASS, DEPLOYMENT)
_BY_KEY: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in (*MANAGED, *WARM)}
# Dependency order of what apply sends: what scrapes and records first, what reads the metrics (HPA/KEDA)
# last. Prune goes the other way.
APPLY_RANK: dict[str, int] = {
    SERVICE_MONITOR.kind: 0,
    PROMETHEUS_RULE.kind: 1,
    CONFIG_MAP.kind: 2,
    PRIORITY_CLASS.kind: 2,  # before the placeholder Deployment whose pods name it
    DEPLOYMENT.kind: 3,
    TRIGGER_AUTHENTICATION.kind: 3,  # before the ScaledObject that refers to it
    HPA.kind: 4,
    SCALED_OBJECT.kind: 4,
}


def managed(stack: Stack) -> tuple[Kind, ...]:
    """The kinds prune lists for this stack."""
    return (*MANAGED, *WARM) if stack.scale_ahead.warm_nodes else MANAGED


def apply_ordered(objects: Iterable[Mapping[str, Any]]) -> list[Any]:
    return sorted(objects, key=lambda o: APPLY_RANK.get(str(o.get("kind")), 2))

CUSTOM_METRICS_GROUP = "custom.metrics.k8s.io"
CUSTOM_METRICS_VERSION = "v1beta1"
CUSTOM_METRICS_API_SERVICE = f"{CUSTOM_METRICS_VERSION}.{CUSTOM_METRICS_GROUP}"


def kind_of(obj: Mapping[str, Any]) -> Kind:
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"{key[1]} ({key[0]}) is not a kind tritonobs manages: add it to core/kinds.py") from None


def selector(stack: Stack) -> str:
    """The label selector of everything this stack owns: both labels, never one alone."""
    return f"{MANAGED_BY}=tritonobs,{PART_OF}={stack.name}"


def owned_by(obj: Mapping[str, Any], stack: Stack) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == "tritonobs" and labels.get(PART_OF) == stack.name


def namespaces(stack: Stack, objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Namespaces prune looks in: Triton's, monitoring's, and wherever a rendered object lives."""
    found = {stack.namespace, stack.spec.monitoring.namespace}
    found |= {o["metadata"]["namespace"] for o in objects if o.get("metadata", {}).get("namespace")}
    return sorted(found)


def ref(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name`, how every line of apply output names an object."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta.get("name"))
    return f"{obj.get('kind')} {where}"
