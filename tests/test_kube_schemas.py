"""Every Kubernetes object we render validates: built-in kinds against the real OpenAPI schemas of
Kubernetes 1.29 and 1.33 (kubernetes-validate, strict), CRD kinds against the upstream CRD schemas of KEDA and
prometheus-operator (tests/crd_schema.py; kubernetes-validate has none and would silently pass them)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests import crd_schema
from tests.conftest import DASHBOARDS, VARIANTS, variant_stack
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import kube_objects

BUILTIN_GROUPS = {"v1", "apps/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1", "batch/v1", "scheduling.k8s.io/v1"}

# Required paths per CRD kind (from the CRDs of prometheus-operator and KEDA).
CRD_REQUIRED: dict[tuple[str, str], list[tuple[str, ...]]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): [("spec", "selector"), ("spec", "endpoints")],
    ("monitoring.coreos.com/v1", "PrometheusRule"): [("spec", "groups")],
    ("keda.sh/v1alpha1", "ScaledObject"): [("spec", "scaleTargetRef", "name"), ("spec", "triggers")],
    ("keda.sh/v1alpha1", "TriggerAuthentication"): [("spec", "podIdentity", "provider")],
}


def _get(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def validate(obj: dict[str, Any], version: str) -> None:
    api, kind = obj["apiVersion"], obj["kind"]
    if api in BUILTIN_GROUPS:
        kubernetes_validate.validate(obj, version, strict=True)
        return
    required = CRD_REQUIRED.get((api, kind))
    assert required is not None, f"no structural check for CRD {api} {kind}: add one"
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(obj, version, strict=True)
    for path in required:
        assert _get(obj, path), f"{kind}: {'.'.join(path)} is empty"
    crd_schema.validate(obj)  # KEDA's / prometheus-operator's CRD schema (cloudcoil model packages)


@pytest.mark.parametrize("version", ["1.29", "1.33"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_objects_validate(variant: str, version: str) -> None:
    stack = variant_stack(variant)
    objs = kube_objects(stack, load_dashboards(DASHBOARDS))
    assert objs
    for obj in objs:
        validate(obj, version)
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "tritonobs"
        assert labels["app.kubernetes.io/part-of"] == stack.name


def test_validator_catches_a_wrong_hpa() -> None:
    stack = variant_stack("example")
    hpa = next(o for o in kube_objects(stack, load_dashboards(DASHBOARDS)) if o["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["metrics"][0]["pods"]["target"]["type"] = "Utilization"
    hpa["spec"]["metrics"][0]["pods"]["target"]["bogus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(hpa, "1.33")
