"""Collect the one-screen status of a stack: pods, models, HPA, GPU nodes, firing alerts that concern it.

Each part is collected on its own and fails on its own: an unreachable Prometheus or Triton pod is reported
in its section. Only an unreachable cluster stops everything (ExternalError, exit 3).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from tritonobs import http
from tritonobs.core import kinds
from tritonobs.core.errors import ExternalError, TritonobsError
from tritonobs.core.model import Stack
from tritonobs.core.render.alerts import alerts as stack_alerts
from tritonobs.kube import custom_metrics, hpa
from tritonobs.kube.client import JsonObj, Kube
from tritonobs.prom.client import PrometheusClient, QueryError

HTTP_TIMEOUT = 3.0
Section = dict[str, Any]
HttpGet = Callable[[str], tuple[int, bytes]]


class Unreachable(ExternalError):
    """An endpoint `status` reads (a Triton replica, Prometheus) did not answer usefully: exit 3, named."""


def http_get(url: str) -> tuple[int, bytes]:
    """GET with a short timeout; HTTP error statuses are answers, connection failures are Unreachable."""
    try:
        return http.probe(url, timeout=HTTP_TIMEOUT)
    except http.Unreachable as e:
        raise Unreachable(url, f"unreachable ({e.reason})") from None


def _ready(obj: JsonObj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or []
    )


def pods(kube: Kube, stack: Stack) -> Section:
    items = kube.list(kinds.POD, stack.namespace, label_selector=custom_metrics.pod_selector(stack))
    rows = [
        {
            "name": p["metadata"]["name"],
            "ready": _ready(p),
            "ip": (p.get("status") or {}).get("podIP"),
            "node": (p.get("spec") or {}).get("nodeName"),
            "phase": (p.get("status") or {}).get("phase"),
        }
        for p in items
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    rows.sort(key=lambda r: r["name"])
    return {"ready": sum(r["ready"] for r in rows), "total": len(rows), "items": rows}


def models(stack: Stack, pod_section: Section, triton_url: str | None, get: HttpGet = http_get) -> Section:
    """Per model, how many Triton endpoints say `/v2/models/<m>/ready` is 200."""
    if triton_url:
        endpoints = [triton_url.rstrip("/")]
    else:
        port = stack.spec.triton.http_port
        endpoints = [f"http://{p['ip']}:{port}" for p in pod_section.get("items", []) if p.get("ip") and p["ready"]]
    result: dict[str, dict[str, int]] = {m: {"ready": 0, "checked": 0} for m in stack.model_names}
    unreachable: list[str] = []
    for base in endpoints:
        for m in stack.model_names:
            try:
                status, _ = get(f"{base}/v2/models/{urllib.parse.quote(m)}/ready")
            except Unreachable as e:
                unreachable.append(str(e))
                break  # one failure per endpoint is enough to report it
            result[m]["checked"] += 1
            result[m]["ready"] += status == 200
    return {"source": triton_url or "pod IPs", "endpoints": len(endpoints), "models": result, "unreachable": unreachable}


def nodes(kube: Kube, stack: Stack) -> Section:
    pool = stack.spec.gpu_pool
    sel = ",".join(f"{k}={v}" for k, v in sorted(pool.node_selector.items()))
    items = kube.list(kinds.NODE, label_selector=sel)
    types: dict[str, int] = {}
    for n in items:
        t = ((n.get("metadata") or {}).get("labels") or {}).get("node.kubernetes.io/instance-type", "?")
        types[t] = types.get(t, 0) + 1
    return {"selector": sel, "ready": sum(_ready(n) for n in items), "total": len(items), "instance_types": types}


def concerns_stack(alert_labels: dict[str, Any], alert_names: set[str], namespace: str) -> bool:
    """An alert of this stack's rules, or any alert about its namespace (a cluster always has others
    firing, kube-prometheus-stack's Watchdog at least, which say nothing about this stack)."""
    return alert_labels.get("alertname") in alert_names or alert_labels.get("namespace") == namespace


def alerts(stack: Stack, prom: PrometheusClient) -> Section:
    url = f"{prom.url}/api/v1/alerts"
    try:
        data = prom.alerts()
    except QueryError as e:
        raise Unreachable(url, e.detail) from None
    except (AttributeError, TypeError):
        raise Unreachable(url, "not a Prometheus alerts answer") from None
    ours = {a.name for a in stack_alerts(stack)}
    firing = [
        {
            "alertname": a.get("labels", {}).get("alertname"),
            "severity": a.get("labels", {}).get("severity"),
            "namespace": a.get("labels", {}).get("namespace"),
            "since": a.get("activeAt"),
            "summary": (a.get("annotations") or {}).get("summary"),
        }
        for a in data
        if a.get("state") == "firing" and concerns_stack(a.get("labels") or {}, ours, stack.namespace)
    ]
    firing.sort(key=lambda a: (str(a["alertname"]), str(a["namespace"])))
    others = sum(1 for a in data if a.get("state") == "firing") - len(firing)
    return {"url": prom.url, "firing": firing, "other_firing": others}


def _guard(fn: Callable[[], Section]) -> Section:
    try:
        return fn()
    except TritonobsError as e:
        return {"error": str(e)}


def collect(
    kube: Kube, stack: Stack, *, triton_url: str | None, prometheus: PrometheusClient, get: HttpGet = http_get
) -> dict[str, Any]:
    kube.version()  # the cluster itself unreachable: ExternalError, exit 3
    pod_section = _guard(lambda: pods(kube, stack))
    return {
        "stack": stack.name,
        "cluster": kube.endpoint,
        "namespace": stack.namespace,
        "deployment": stack.spec.triton.deployment,
        "pods": pod_section,
        "models": _guard(lambda: models(stack, pod_section, triton_url, get)),
        "hpa": _guard(lambda: hpa.read(kube, stack).to_json()),
        "nodes": _guard(lambda: nodes(kube, stack)),
        "alerts": _guard(lambda: alerts(stack, prometheus)),
    }
