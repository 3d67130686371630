"""Pure renderers: resolved model in, artifacts out. No clock, environment, network or files here.

Each artifact kind has its own module. `render_all` is the one place that lists them, in the order the
repository shows them; `kube_objects` gives the Kubernetes objects `apply` sends, in dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritonobs.core.model import Stack

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


def render_all(stack: Stack, dashboards: list[DashboardSource]) -> list[Artifact]:
    from tritonobs.core.render import (
        adapter_rules,
        alerts,
        amp_keda,
        forecast_tests,
        hpa,
        servicemonitor,
        warm,
    )
    from tritonobs.core.render import dashboards as dash

    out: list[Artifact] = []
    out += forecast_tests.render(stack)
    out += warm.render(stack)
    out += dash.render(stack, dashboards)
    out += adapter_rules.render(stack)
    out += amp_keda.render(stack)
    out += hpa.render(stack)
    out += servicemonitor.render(stack)
    out += alerts.render(stack)
    return sorted(out, key=lambda a: a.path)


def kube_objects(stack: Stack, dashboards: list[DashboardSource]) -> list[KubeObject]:
    """Everything `tritonobs apply` owns and sends, in dependency order (monitoring first, the HPA last).

    Not here: the prometheus-adapter's rules. The adapter is shared, so apply merges them into its live
    configuration (kube/adapter.py) instead of owning an object."""
    from tritonobs.core.render import alerts, hpa, servicemonitor, warm
    from tritonobs.core.render import dashboards as dash

    objs: list[KubeObject] = []
    objs += servicemonitor.objects(stack)
    objs += alerts.objects(stack)
    objs += dash.objects(stack, dashboards)
    objs += warm.objects(stack)  # warm GPU capacity (gpu_pool.warm_nodes): PriorityClass, then placeholders
    objs += hpa.objects(stack)
    return objs
