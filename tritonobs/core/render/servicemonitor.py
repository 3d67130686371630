"""ServiceMonitor for the Triton metrics Service (the chart's `<fullname>-metrics`, port `metrics`).

prometheus-operator gives every target the `namespace`, `pod`, `service` (also the `job`), `container` and
`endpoint` labels the signals group by; `honorLabels: false` keeps those authoritative over anything a
scrape carries. The scrape interval is the spec's, which the adapter's relist and the rate windows are
derived from.
"""

from __future__ import annotations

from tritonobs.core import promql as q
from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import Stack


def service_monitor(stack: Stack) -> KubeObject:
    t = stack.triton
    mon = stack.monitoring
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
                    # Only the metrics Service: another Service of the release with the same labels and a
                    # `metrics` port would scrape every pod twice, and per-pod sums (the HPA's signal) double.
                    "relabelings": [
                        {
                            "action": "keep",
                            "sourceLabels": ["__meta_kubernetes_service_name"],
                            "regex": q.name_regex(t.metrics_service),
                        }
                    ],
                }
            ],
        },
    }
