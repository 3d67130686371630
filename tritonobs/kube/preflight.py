"""Preflight: is the cluster ready for this stack? Errors stop `apply`; warnings are printed and apply goes on.

Checked, in order: the API server answers (else ExternalError naming it, exit 3); the Triton Deployment
exists (by name, else found through its Helm release label to suggest the right name); every kind we are
about to apply is served (the prometheus-operator / KEDA CRDs); the metrics API the HPA reads is registered
and, for a Helm-installed adapter, already serves our metric names; and nobody else manages the
Deployment's replicas (another HPA, the Triton chart's own HPA under our HPA's name, or a field manager
such as helm pinning spec.replicas).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tritonobs.core import kinds
from tritonobs.core.model import Stack
from tritonobs.kube import custom_metrics
from tritonobs.kube.client import JsonObj, Kube

HELM_INSTANCE = "app.kubernetes.io/instance"
EXTERNAL_METRICS_API_SERVICE = "v1beta1.external.metrics.k8s.io"
# Managers allowed to own spec.replicas: the HPA controller writes it through the scale subresource.
REPLICA_MANAGERS = {"kube-controller-manager", kinds.FIELD_MANAGER}

_CRD_HINT = {
    "monitoring.coreos.com": "install the prometheus-operator CRDs (kube-prometheus-stack)",
    "keda.sh": "install KEDA (helm install keda kedacore/keda -n keda --create-namespace)",
}


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    message: str
    spec_key: tuple[str, ...] | None = None  # the spec field to fix, for a file:line pointer


@dataclass(frozen=True)
class Report:
    deployment: JsonObj | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]


def run(kube: Kube, stack: Stack, objects: Sequence[JsonObj]) -> Report:
    kube.version()  # unreachable or credentials rejected: ExternalError naming the endpoint, exit 3
    findings: list[Finding] = []
    deployment = _deployment(kube, stack, findings)
    findings += _kinds_served(kube, objects)
    findings += _metrics_api(kube, stack)
    if deployment is not None:
        findings += _replica_owners(kube, stack, deployment)
    return Report(deployment, tuple(findings))


def _deployment(kube: Kube, stack: Stack, findings: list[Finding]) -> JsonObj | None:
    t = stack.spec.triton
    found = kube.get(kinds.DEPLOYMENT, t.deployment, t.namespace)
    if found is not None:
        return found
    by_release = kube.list(kinds.DEPLOYMENT, t.namespace, label_selector=f"{HELM_INSTANCE}={t.release}")
    names = sorted(str(d["metadata"]["name"]) for d in by_release)
    if names:
        message = (
            f"Deployment {t.namespace}/{t.deployment} not found, but Helm release {t.release!r} has "
            f"{', '.join(names)}: set triton.deployment to it"
        )
    else:
        message = (
            f"Deployment {t.namespace}/{t.deployment} not found, and no Deployment in {t.namespace} carries "
            f"{HELM_INSTANCE}={t.release}: install the Triton Helm release first, or fix triton.namespace/release"
        )
    findings.append(Finding("error", message, ("triton", "deployment")))
    return None


def _kinds_served(kube: Kube, objects: Sequence[JsonObj]) -> list[Finding]:
    out: list[Finding] = []
    seen: set[kinds.Kind] = set()
    for obj in objects:
        kind = kinds.kind_of(obj)
        if kind in seen:
            continue
        seen.add(kind)
        if not kube.served(kind):
            hint = _CRD_HINT.get(kind.group, "install the CRD that serves it")
            out.append(Finding("error", f"the cluster does not serve {kind.kind} ({kind.api_version}): {hint}"))
    return out


def _condition(obj: JsonObj, kind: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return {}


def _api_service(kube: Kube, name: str, install: str) -> list[Finding]:
    svc = kube.get(kinds.API_SERVICE, name)
    if svc is None:
        return [Finding("error", f"APIService {name} is not registered: {install}")]
    available = _condition(svc, "Available")
    if available and available.get("status") != "True":
        return [
            Finding(
                "warning",
                f"APIService {name} is not Available ({available.get('reason')}: {available.get('message')}); "
                "the HPA will read <unknown> until it is",
            )
        ]
    return []


def _metrics_api(kube: Kube, stack: Stack) -> list[Finding]:
    mon = stack.spec.monitoring
    if stack.spec.autoscaling.engine == "keda":
        return _api_service(kube, EXTERNAL_METRICS_API_SERVICE, "install KEDA (its metrics server registers it)")
    out = _api_service(
        kube,
        kinds.CUSTOM_METRICS_API_SERVICE,
        f"install prometheus-adapter in {mon.namespace} (release {mon.adapter_release!r})",
    )
    if (out and out[0].level == "error") or mon.adapter_install != "helm":
        return out  # with adapter_install: configmap we are about to apply the rules ourselves
    served = custom_metrics.served_pod_metrics(kube) or set()
    missing = sorted(use.signal.adapter_metric for use in stack.signals if use.signal.adapter_metric not in served)
    if missing:
        out.append(
            Finding(
                "warning",
                f"the custom metrics API does not serve pods/{', pods/'.join(missing)} yet: apply the adapter "
                f"rules with the helm command below, then allow one relist interval ({mon.adapter_relist_interval})",
            )
        )
    return out


def _owns_replicas(entry: JsonObj) -> bool:
    fields = entry.get("fieldsV1") or {}
    return "f:replicas" in (fields.get("f:spec") or {})


def _replica_owners(kube: Kube, stack: Stack, deployment: JsonObj) -> list[Finding]:
    t = stack.spec.triton
    out: list[Finding] = []
    for hpa in kube.list(kinds.HPA, t.namespace):
        name = hpa["metadata"]["name"]
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        release = (hpa["metadata"].get("annotations") or {}).get(kinds.HELM_RELEASE)
        if name == stack.hpa_name and release and stack.spec.autoscaling.engine == "adapter":
            # The Triton chart's own HPA has our name: apply would conflict with Helm, and win only until
            # the next `helm upgrade` puts the chart's metric back.
            out.append(
                Finding(
                    "warning",
                    f"HorizontalPodAutoscaler {t.namespace}/{name} belongs to Helm release {release!r}: disable "
                    "the chart's autoscaling (e.g. --set autoscaling.enabled=false), or every helm upgrade "
                    "reverts the HPA tritonobs applies",
                )
            )
            continue
        if name == stack.effective_hpa_name or target.get("kind") != "Deployment" or target.get("name") != t.deployment:
            continue
        out.append(
            Finding(
                "warning",
                f"HorizontalPodAutoscaler {t.namespace}/{name} also scales Deployment {t.deployment}: two HPAs "
                "fight over replicas; delete it",
            )
        )
    for entry in (deployment.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager"))
        if _owns_replicas(entry) and manager not in REPLICA_MANAGERS:
            out.append(
                Finding(
                    "warning",
                    f"field manager {manager!r} owns spec.replicas of Deployment {t.deployment}: every "
                    f"{manager} run resets the replica count the HPA chose (for Helm, leave replicaCount "
                    "unset or make the chart omit replicas when autoscaling)",
                )
            )
    return out
