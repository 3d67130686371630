"""Pure renderers: resolved model in, artifacts out. No clock, environment, network or files here.

Each artifact kind has its own module. `render_all` is the one place that lists them, in the order the
repository shows them; `kube_objects` gives the Kubernetes objects `apply` sends, in dependency order.
"""

from __future__ import annotations

from tritonobs.core.artifacts import Artifact, DashboardSource, KubeObject
from tritonobs.core.model import Stack
from tritonobs.core.render import adapter_rules, alert_tests, alerts, hpa, keda, servicemonitor
from tritonobs.core.render import dashboards as dash


def autoscaler_artifacts(stack: Stack) -> list[Artifact]:
    """The HPA manifest, or KEDA's ScaledObject when the spec picks KEDA."""
    return keda.render(stack) if stack.spec.autoscaling.engine == "keda" else hpa.render(stack)


def autoscaler_objects(stack: Stack) -> list[KubeObject]:
    return keda.objects(stack) if stack.spec.autoscaling.engine == "keda" else hpa.objects(stack)


def render_all(stack: Stack, dashboards: list[DashboardSource]) -> list[Artifact]:
    out: list[Artifact] = []
    out += dash.render(stack, dashboards)
    out += adapter_rules.render(stack)
    out += autoscaler_artifacts(stack)
    out += servicemonitor.render(stack)
    out += alerts.render(stack)
    out += alert_tests.render(stack)
    return sorted(out, key=lambda a: a.path)


def kube_objects(stack: Stack, dashboards: list[DashboardSource]) -> list[KubeObject]:
    """Everything `tritonobs apply` owns and sends, in dependency order (monitoring first, the HPA last).

    Not here: the prometheus-adapter's rules. The adapter is shared, so apply merges them into its live
    configuration (kube/adapter.py) instead of owning an object."""
    objs: list[KubeObject] = []
    objs += servicemonitor.objects(stack)
    objs += alerts.objects(stack)
    objs += dash.objects(stack, dashboards)
    objs += autoscaler_objects(stack)
    return objs
