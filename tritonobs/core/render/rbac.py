"""The minimal RBAC for `tritonobs apply` (with --prune and --wait), `tritonobs status` and `tritonobs verify`
on a cluster. Pure.

Exactly the calls the code makes (a test records them against the emulated API server and compares):
- apply: get + patch every rendered object; `create` too, because the API server authorizes an apply
  that creates an object as a create;
- prune: list + delete every kind tritonobs may render, in every namespace the stack uses;
- preflight: get/list the Triton Deployment, list HPAs (who else scales it), get the metrics APIService;
- wait/status: get the HPA, get our custom metrics for the pods, list pods, list the GPU nodes;
- the shared prometheus-adapter (engine adapter): with `adapter_install: helm`, list the Helm release's
  storage Secrets in the adapter's namespace (Helm keeps a release's values there; this is the same access
  `helm upgrade` itself needs, and RBAC cannot narrow a list to Helm's labels); with `configmap`, get and
  apply the adapter's ConfigMap;
- KEDA (engine keda): get the ScaledObject CRD, whose schema tells whether KEDA knows fallback.behavior;
- verify: get the HPA, list pods and GPU nodes, and list Karpenter's NodeClaims (cluster-scoped); with the
  in-cluster load Job, get the Job and read its pods' logs (`pods/log`: the client records). Whether
  Karpenter is installed is only known on the cluster, so the NodeClaim grant is always there: without the
  CRD it authorizes nothing.
Discovery (`/api`, `/apis/...`, `/version`) is allowed to every authenticated user (system:discovery); verify's
check that the NodeClaim CRD is served goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tritonobs.core import kinds
from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import Stack

RBAC_API = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True, order=True)
class Permission:
    namespace: str | None  # None: cluster-scoped (ClusterRole)
    group: str
    resource: str  # plural, or plural/subresource
    verb: str


@dataclass(frozen=True)
class Subject:
    kind: str  # User, Group or ServiceAccount
    name: str
    namespace: str | None = None  # ServiceAccount only

    def to_json(self) -> dict[str, str]:
        if self.kind == "ServiceAccount":
            return {"kind": self.kind, "name": self.name, "namespace": str(self.namespace)}
        return {"apiGroup": "rbac.authorization.k8s.io", "kind": self.kind, "name": self.name}


def _grant(kind: kinds.Kind, namespace: str | None, *verbs: str) -> set[Permission]:
    return {Permission(namespace if kind.namespaced else None, kind.group, kind.plural, v) for v in verbs}


def needed(stack: Stack, objects: Iterable[Mapping[str, Any]]) -> set[Permission]:
    objects = list(objects)
    ns = stack.namespace
    perms: set[Permission] = set()
    for obj in objects:
        perms |= _grant(kinds.kind_of(obj), obj["metadata"].get("namespace"), "get", "patch", "create")
    for namespace in kinds.namespaces(stack, objects):
        for kind in kinds.managed(stack):
            perms |= _grant(kind, namespace, "list", "delete")
    perms |= _grant(kinds.DEPLOYMENT, ns, "get", "list")
    perms |= _grant(kinds.HPA, ns, "get", "list")
    perms |= _grant(kinds.POD, ns, "list")
    perms |= _grant(kinds.JOB, ns, "get")
    perms.add(Permission(ns, "", "pods/log", "get"))
    perms |= _grant(kinds.NODE, None, "list")
    perms |= _grant(kinds.NODECLAIM, None, "list")
    perms |= _grant(kinds.API_SERVICE, None, "get")
    mon = stack.monitoring
    if stack.autoscaling.engine == "adapter" and mon.adapter_install == "helm":
        perms |= _grant(kinds.SECRET, mon.namespace, "list")
    if stack.autoscaling.engine == "adapter" and mon.adapter_install == "configmap":
        perms |= _grant(kinds.CONFIG_MAP, mon.namespace, "get", "patch", "create")
    if stack.autoscaling.engine == "keda":
        perms |= _grant(kinds.CRD, None, "get")
    if stack.autoscaling.engine == "adapter":
        for use in stack.signals:
            perms.add(Permission(ns, kinds.CUSTOM_METRICS_GROUP, f"pods/{use.signal.adapter_metric}", "get"))
    return perms


def _rules(perms: Iterable[Permission]) -> list[dict[str, Any]]:
    """One rule per (group, verb set), resources sorted: the compact form a reviewer can read."""
    by_resource: dict[tuple[str, str], set[str]] = {}
    for p in perms:
        by_resource.setdefault((p.group, p.resource), set()).add(p.verb)
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (group, resource), verbs in by_resource.items():
        grouped.setdefault((group, tuple(sorted(verbs))), []).append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        for (group, verbs), resources in sorted(grouped.items())
    ]


def objects(stack: Stack, rendered: Iterable[Mapping[str, Any]], subject: Subject | None = None) -> list[KubeObject]:
    perms = needed(stack, rendered)
    name = f"tritonobs-{stack.name}"
    meta = {"name": name, "labels": dict(stack.labels)}
    out: list[KubeObject] = []
    namespaces = sorted({p.namespace for p in perms if p.namespace})
    for namespace in namespaces:
        scoped = [p for p in perms if p.namespace == namespace]
        out.append({"apiVersion": RBAC_API, "kind": "Role", "metadata": {**meta, "namespace": namespace},
                    "rules": _rules(scoped)})
    out.append({"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": dict(meta),
                "rules": _rules(p for p in perms if p.namespace is None)})
    if subject is not None:
        for namespace in namespaces:
            out.append({
                "apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": {**meta, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [subject.to_json()],
            })
        out.append({
            "apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": dict(meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [subject.to_json()],
        })
    return out


def granted(rbac: Iterable[Mapping[str, Any]]) -> set[Permission]:
    """What rendered Roles/ClusterRoles allow, expanded back to permissions (for checks and tests)."""
    out: set[Permission] = set()
    for obj in rbac:
        if obj["kind"] not in ("Role", "ClusterRole"):
            continue
        namespace = obj["metadata"].get("namespace") if obj["kind"] == "Role" else None
        for rule in obj["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add(Permission(namespace, group, resource, verb))
    return out
