"""Dashboards: grafanalib objects from the dashboards-as-code sources, to JSON and ConfigMaps.

`build_json` is pure: the source's `build(stack)` returns a grafanalib Dashboard, which is serialised with
grafanalib's own encoder and round-tripped into plain dicts (what Grafana stores). The uid is always the
stack's stable uid of the slug, so renaming a dashboard's title never breaks links to it. Each dashboard
also ships as a ConfigMap the Grafana sidecar loads (label from the spec, folder annotation).
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

from tritonobs.core.artifacts import DashboardSource, KubeObject
from tritonobs.core.errors import UsageError
from tritonobs.core.model import Stack

JSON_DIR = "dashboards"
CONFIGMAP_DIR = "dashboards/kubernetes"


def build_json(stack: Stack, source: DashboardSource) -> dict[str, Any]:
    """The dashboard JSON model (what Grafana stores) for one source."""
    built = source.build(stack)
    if not isinstance(built, Dashboard):
        raise UsageError(
            f"build(stack) returned {type(built).__name__}, not grafanalib.core.Dashboard "
            "(use tritonobs.core.render.panels.dashboard)",
            file=f"{source.slug}.dashboard.py",
        )
    data: dict[str, Any] = json.loads(json.dumps(built.to_json_data(), cls=DashboardEncoder, sort_keys=True))
    data["uid"] = stack.dashboard_uid(source.slug)
    return data


def configmap(stack: Stack, slug: str, dashboard_json: str) -> KubeObject:
    mon = stack.monitoring
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": stack.dashboard_configmap_name(slug),
            "namespace": stack.monitoring.namespace,
            "labels": {**stack.labels, **mon.grafana_dashboard_label},
            # The kube-prometheus-stack sidecar files the dashboard into this folder.
            "annotations": {"grafana_folder": mon.grafana_folder},
        },
        "data": {f"{slug}.json": dashboard_json},
    }


def build_all(stack: Stack, sources: list[DashboardSource]) -> dict[str, dict[str, Any]]:
    """slug -> dashboard JSON model, for every source, sorted by slug."""
    return {s.slug: build_json(stack, s) for s in sorted(sources, key=lambda s: s.slug)}
