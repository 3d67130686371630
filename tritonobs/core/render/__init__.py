"""Pure renderers: resolved model in, artifacts out. No clock, environment, network or files here.

Each artifact kind has its own module. `render` is the one place that calls them, once each, and returns the
`Bundle`: the rendered data (which the cross-artifact checks and the query inventory read), the files in the
order the repository shows them, and the Kubernetes objects `apply` sends, in dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritonobs.core import kinds
from tritonobs.core.artifacts import Artifact, DashboardSource, KubeObject
from tritonobs.core.model import Stack
from tritonobs.core.render import (
    adapter_rules,
    alert_tests,
    alerts,
    amp_keda,
    forecast,
    forecast_tests,
    hpa,
    keda,
    servicemonitor,
    warm,
)
from tritonobs.core.render import dashboards as dash
from tritonobs.core.render.yamlfmt import to_json, to_yaml, to_yaml_docs

ADAPTER_CONFIG_FILE = "adapter_rules/prometheus-adapter-config.yaml"
AMP_ADAPTER_VALUES_FILE = "adapter_rules/prometheus-adapter-amp-values.yaml"
HPA_FILE = "adapter_rules/hpa.yaml"
SCALEDOBJECT_FILE = "adapter_rules/keda-scaledobject.yaml"
SERVICEMONITOR_FILE = "adapter_rules/servicemonitor.yaml"


@dataclass(frozen=True)
class Bundle:
    """Every artifact of one stack, rendered once."""

    dashboards: dict[str, dict[str, Any]]  # slug -> Grafana's JSON model
    rule_groups: dict[str, Any]  # recording and alerting rules, as Prometheus loads them
    adapter_rules: list[dict[str, Any]]  # prometheus-adapter rules; empty when KEDA scales
    external_rules: list[dict[str, Any]]  # the adapter's external rules (the predictive floor); empty with KEDA
    floor_labels: dict[str, str]  # the labels every predictive-floor record carries (what the HPA selects)
    autoscaler: KubeObject  # the HorizontalPodAutoscaler, or KEDA's ScaledObject
    objects: list[KubeObject]  # what `apply` sends, in dependency order (monitoring first, the HPA last)
    artifacts: list[Artifact]  # the files `render` writes, sorted by path

    @property
    def keda(self) -> bool:
        return self.autoscaler["kind"] == "ScaledObject"

    @property
    def adapter_config(self) -> dict[str, Any]:
        """prometheus-adapter's configuration: its rules and, with a predictive floor, its external rules."""
        return {"rules": self.adapter_rules, **({"externalRules": self.external_rules} if self.external_rules else {})}


def render(stack: Stack, sources: list[DashboardSource]) -> Bundle:
    """Not in the objects: the prometheus-adapter's rules. The adapter is shared, so apply merges them into
    its live configuration (kube/adapter.py) instead of owning an object."""
    boards = dash.build_all(stack, sources)
    board_texts = {slug: to_json(board) for slug, board in boards.items()}
    configmaps = {slug: dash.configmap(stack, slug, text) for slug, text in board_texts.items()}
    stack_alerts = alerts.alerts(stack)
    groups = alerts.rule_groups(stack, stack_alerts)
    prometheus_rule = alerts.prometheus_rule(stack, groups)
    use_keda = stack.autoscaling.engine == "keda"
    rules = [] if use_keda else adapter_rules.rules(stack)
    external = [] if use_keda else forecast.external_rules(stack)
    autoscaler = keda.scaled_object(stack) if use_keda else hpa.hpa(stack)
    # KEDA on AMP: the TriggerAuthentication the ScaledObject's triggers refer to, in the same file.
    auth = amp_keda.trigger_authentication(stack) if use_keda else None
    scaler = [auth, autoscaler] if auth else [autoscaler]
    monitor = servicemonitor.service_monitor(stack)
    warm_objects = warm.objects(stack)  # warm GPU capacity (gpu_pool.warm_nodes): PriorityClass, placeholders

    files = [
        *(Artifact(f"{dash.JSON_DIR}/{slug}.json", text) for slug, text in board_texts.items()),
        *(Artifact(f"{dash.CONFIGMAP_DIR}/{slug}.configmap.yaml", to_yaml(cm)) for slug, cm in configmaps.items()),
        Artifact(SCALEDOBJECT_FILE if use_keda else HPA_FILE, to_yaml_docs(scaler) if auth else to_yaml(autoscaler)),
        Artifact(SERVICEMONITOR_FILE, to_yaml(monitor)),
        Artifact(alerts.RULES_FILE, to_yaml(groups)),
        Artifact(alerts.PROMETHEUS_RULE_FILE, to_yaml(prometheus_rule)),
        *alert_tests.render(stack, groups, stack_alerts),
        *forecast_tests.render(stack, groups),
    ]
    if warm_objects:
        files.append(Artifact(warm.FILE, to_yaml_docs(warm_objects)))
    if not use_keda:
        config = {"rules": rules, **({"externalRules": external} if external else {})}
        files.append(Artifact(ADAPTER_CONFIG_FILE, to_yaml(config)))
        if stack.monitoring.amp is not None:
            files.append(Artifact(AMP_ADAPTER_VALUES_FILE, to_yaml(amp_keda.adapter_values(stack))))
    return Bundle(
        dashboards=boards,
        rule_groups=groups,
        adapter_rules=rules,
        external_rules=external,
        floor_labels=forecast.floor_labels(stack) if stack.scale_ahead.floors else {},
        autoscaler=autoscaler,
        objects=kinds.apply_ordered([monitor, prometheus_rule, *configmaps.values(), *warm_objects, *scaler]),
        artifacts=sorted(files, key=lambda a: a.path),
    )


def render_all(stack: Stack, sources: list[DashboardSource]) -> list[Artifact]:
    """The files alone (tests, goldens); commands keep the whole Bundle from `render`."""
    return render(stack, sources).artifacts


def kube_objects(stack: Stack, sources: list[DashboardSource]) -> list[KubeObject]:
    """The objects alone (tests, rbac); commands keep the whole Bundle from `render`."""
    return render(stack, sources).objects
