"""What the custom metrics API (prometheus-adapter) serves: metric names, and values for the Triton pods."""

from __future__ import annotations

from tritonobs.core.kinds import CUSTOM_METRICS_GROUP, CUSTOM_METRICS_VERSION
from tritonobs.core.model import Stack
from tritonobs.kube import errors
from tritonobs.kube.client import JsonObj, Kube

BASE = f"/apis/{CUSTOM_METRICS_GROUP}/{CUSTOM_METRICS_VERSION}"


def served_pod_metrics(kube: Kube) -> set[str] | None:
    """Names served for pods (`pods/<name>` in discovery); None when the API is not served at all."""
    try:
        listing = kube.request("GET", BASE)
    except (errors.Unauthorized, errors.Forbidden):
        raise
    except errors.ApiError:
        # 404: not registered; 503: registered but the adapter is down. Both mean "nothing served".
        return None
    return {
        str(r["name"]).split("/", 1)[1]
        for r in (listing or {}).get("resources") or []
        if str(r.get("name", "")).startswith("pods/")
    }


def pod_selector(stack: Stack) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(stack.spec.triton.selector.items()))


def pod_values(kube: Kube, stack: Stack, metric: str) -> list[JsonObj]:
    """The MetricValueList items for the Deployment's pods (empty: the adapter has no series for them)."""
    path = f"{BASE}/namespaces/{stack.namespace}/pods/*/{metric}"
    body = kube.request("GET", path, query=[("labelSelector", pod_selector(stack))])
    return list((body or {}).get("items") or [])
