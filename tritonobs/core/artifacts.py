"""What the renderers produce: files (`Artifact`) and Kubernetes objects (`KubeObject`), and the loaded
dashboards-as-code sources they take. Types only, so every renderer and edge can name them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the output root, e.g. "adapter_rules/hpa.yaml"
    content: str


@dataclass(frozen=True)
class DashboardSource:
    """A dashboards-as-code source already loaded at the edge: its slug and its build function."""

    slug: str
    build: Any  # Callable[[Stack], grafanalib.core.Dashboard]
