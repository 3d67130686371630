"""ServiceMonitor for the Triton metrics Service (the chart's `<fullname>-metrics`, port `metrics`).

`honorLabels: false` keeps Prometheus' own namespace/pod target labels authoritative; the scrape
interval is the spec's, which the adapter's relist and the rate windows are derived from.
"""

from __future__ import annotations

from tritonobs.model import Stack
from tritonobs.render import Artifact, KubeObject
from tritonobs.render.yamlfmt import to_yaml


def service_monitor(stack: Stack) -> KubeObject:
    t = stack.spec.triton
    mon = stack.spec.monitoring
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": stack.service_monitor_name,
            "namespace": t.namespace,
            "labels": {**stack.labels, "release": mon.prometheus_release},
        },
        "spec": {
            "selector": {"matchLabels": dict(sorted(t.selector.items()))},
            "namespaceSelector": {"matchNames": [t.namespace]},
            "endpoints": [
                {
                    "port": t.metrics_port_name,
                    "path": "/metrics",
                    "interval": mon.scrape_interval,
                    "honorLabels": False,
                    # Pod and namespace become target labels: every signal is grouped by pod.
                    "relabelings": [
                        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod", "action": "replace"},
                        {
                            "sourceLabels": ["__meta_kubernetes_namespace"],
                            "targetLabel": "namespace",
                            "action": "replace",
                        },
                    ],
                }
            ],
        },
    }


def objects(stack: Stack) -> list[KubeObject]:
    return [service_monitor(stack)]


def render(stack: Stack) -> list[Artifact]:
    return [Artifact("adapter_rules/servicemonitor.yaml", to_yaml(service_monitor(stack)))]
