"""Dashboards: grafanalib objects from the dashboards-as-code sources, to JSON and ConfigMaps. (stub)"""

from __future__ import annotations

from typing import Any

from tritonobs.model import Stack
from tritonobs.render import Artifact, DashboardSource, KubeObject


def build_json(stack: Stack, source: DashboardSource) -> dict[str, Any]:
    """The dashboard JSON model (what Grafana stores) for one source."""
    return {"title": source.slug, "panels": []}


def render(stack: Stack, sources: list[DashboardSource]) -> list[Artifact]:
    return []


def objects(stack: Stack, sources: list[DashboardSource]) -> list[KubeObject]:
    return []
