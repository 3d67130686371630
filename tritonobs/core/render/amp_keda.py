"""Scaling on Amazon Managed Prometheus (monitoring.backend: amp): what KEDA and prometheus-adapter need.

KEDA (>= 2.13) signs its Prometheus queries itself: the trigger names the workspace URL *without* /api/v1
as `serverAddress` (the scaler appends /api/v1/query), the region as `awsRegion`, and refers to a
TriggerAuthentication with `podIdentity.provider: aws` (pkg/scalers/prometheus_scaler.go,
pkg/scalers/aws/aws_sigv4.go). That identity is a role to assume (`roleArn`) or whose pod's IRSA role to use
(`identityOwner: keda | workload`); KEDA refuses both at once, and the spec does too.

prometheus-adapter has no SigV4: a sidecar (awslabs/aws-sigv4-proxy) signs for it, and the adapter queries
`http://localhost:<port>/workspaces/<id>`. Rendered as Helm values to merge into the adapter's release
(chart >= 5 has `extraContainers`); the adapter's service account needs the IRSA role of `tritonobs iam`.
"""

from __future__ import annotations

from typing import Any

from tritonobs.core import amp
from tritonobs.core.model import Stack
from tritonobs.core.render import Artifact, KubeObject
from tritonobs.core.render.yamlfmt import to_yaml

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def _amp(stack: Stack) -> Any:
    mon = stack.spec.monitoring
    return mon.amp if mon.backend == "amp" else None


def trigger_authentication_name(stack: Stack) -> str:
    return f"{stack.scaledobject_name}-amp"


def amp_metadata(stack: Stack) -> dict[str, str]:
    """Trigger metadata for AMP (empty for an in-cluster Prometheus): the workspace, the region."""
    a = _amp(stack)
    if a is None:
        return {}
    return {"serverAddress": amp.workspace_url(a.region, a.workspace_id), "awsRegion": a.region}


def amp_auth_ref(stack: Stack) -> dict[str, Any]:
    return {"authenticationRef": {"name": trigger_authentication_name(stack)}} if _amp(stack) else {}


def amp_trigger(stack: Stack, trigger: dict[str, Any]) -> dict[str, Any]:
    """A Prometheus trigger made for an in-cluster Prometheus, pointed at the workspace when the backend is AMP."""
    if _amp(stack) is None:
        return trigger
    return {**trigger, "metadata": {**trigger["metadata"], **amp_metadata(stack)}, **amp_auth_ref(stack)}


def trigger_authentication(stack: Stack) -> KubeObject | None:
    a = _amp(stack)
    if a is None:
        return None
    identity: dict[str, str] = {"provider": "aws"}
    if a.keda_role_arn is not None:
        identity["roleArn"] = a.keda_role_arn
    elif a.keda_identity_owner is not None:
        identity["identityOwner"] = a.keda_identity_owner
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": trigger_authentication_name(stack), "namespace": stack.namespace, "labels": stack.labels},
        "spec": {"podIdentity": identity},
    }


def proxy_container(stack: Stack) -> dict[str, Any]:
    a = _amp(stack)
    host = amp.endpoint(a.region).removeprefix("https://")
    return {
        "name": "aws-sigv4-proxy",
        "image": a.sigv4_proxy_image,
        "args": ["--name", amp.SERVICE, "--region", a.region, "--host", host, "--port", f":{a.sigv4_proxy_port}"],
        "ports": [{"containerPort": a.sigv4_proxy_port, "name": "sigv4-proxy", "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }


def adapter_prometheus(stack: Stack) -> dict[str, Any] | None:
    """The chart's `prometheus.{url,port,path}` when the adapter reads AMP through its sidecar."""
    a = _amp(stack)
    if a is None:
        return None
    return {"url": "http://localhost", "port": a.sigv4_proxy_port, "path": f"/workspaces/{a.workspace_id}"}


def adapter_values(stack: Stack) -> dict[str, Any]:
    values: dict[str, Any] = {"prometheus": adapter_prometheus(stack), "extraContainers": [proxy_container(stack)]}
    a = _amp(stack)
    if a is not None and a.adapter_role_arn:
        values["serviceAccount"] = {"annotations": {IRSA_ANNOTATION: a.adapter_role_arn}}
    return values


def render(stack: Stack) -> list[Artifact]:
    if _amp(stack) is None or stack.spec.autoscaling.engine != "adapter":
        return []
    return [Artifact("adapter_rules/prometheus-adapter-amp-values.yaml", to_yaml(adapter_values(stack)))]
