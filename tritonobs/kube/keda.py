"""Is the installed KEDA new enough for the ScaledObject tritonobs renders?

The ScaledObject sets `fallback.behavior: currentReplicasIfHigher` (KEDA >= 2.17): without it KEDA's fallback
is `static` and, after `failureThreshold` failed polls, forces `fallback.replicas` even when the Deployment
runs more, i.e. scales down during a metrics outage. On an older KEDA the field is not an error: the API
server prunes a field the CRD's structural schema lacks, silently, and the fallback is static again.

So the decisive fact is the ScaledObject CRD's schema: `spec.fallback.properties.behavior` of the served
version, with `currentReplicasIfHigher` in its enum (2.16.1 has no `behavior`; 2.17.0 adds it). The CRD's
`app.kubernetes.io/version` label (KEDA's chart and release manifests set it) is reported alongside.
"""

from __future__ import annotations

from typing import Any

from tritonobs.core import kinds
from tritonobs.core.errors import UsageError
from tritonobs.kube.client import JsonObj, Kube

CRD_NAME = "scaledobjects.keda.sh"
VERSION_LABEL = "app.kubernetes.io/version"
NEEDED = "currentReplicasIfHigher"
MIN_KEDA = "2.17"


class KedaTooOld(UsageError):
    """autoscaling.engine: keda on a KEDA without fallback.behavior (exit 2, nothing applied)."""


def fallback_behaviors(crd: JsonObj, version: str) -> set[str] | None:
    """The `fallback.behavior` values the CRD's schema allows for `version`; None when it has no such field."""
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") != version:
            continue
        node: Any = ((v.get("schema") or {}).get("openAPIV3Schema") or {})
        for key in ("spec", "fallback", "behavior"):
            node = ((node or {}).get("properties") or {}).get(key)
            if node is None:
                return None
        return set(node.get("enum") or []) or {NEEDED}  # a free string accepts it too
    return None


def check(kube: Kube) -> str:
    """What was found (for the apply log); raises KedaTooOld when the fallback would be static."""
    crd = kube.get(kinds.CRD, CRD_NAME)
    if crd is None:
        raise KedaTooOld(f"CustomResourceDefinition {CRD_NAME} not found on {kube.endpoint}: install KEDA >= {MIN_KEDA}")
    label = ((crd.get("metadata") or {}).get("labels") or {}).get(VERSION_LABEL)
    found = f"KEDA {label}" if label else f"KEDA of unknown version (no {VERSION_LABEL} label)"
    behaviors = fallback_behaviors(crd, kinds.SCALED_OBJECT.version)
    if behaviors is None or NEEDED not in behaviors:
        what = "has no spec.fallback.behavior" if behaviors is None else f"allows fallback.behavior {sorted(behaviors)} only"
        raise KedaTooOld(
            f"{found}: its CustomResourceDefinition {CRD_NAME} {what}, so the API server would drop "
            f"`fallback.behavior: {NEEDED}` and a metrics outage would force fallback.replicas even when more pods "
            f"run; needs KEDA >= {MIN_KEDA} (upgrade KEDA and its CRDs), or autoscaling.engine: adapter"
        )
    return f"{found}: ScaledObject fallback.behavior {NEEDED} supported"
