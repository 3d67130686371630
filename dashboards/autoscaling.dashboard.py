"""Autoscaling: each scaling signal per pod against its target, the HPA, and the GPU node pool.

The signal panels run the exact per-pod expression the adapter rule (or KEDA trigger) serves, so what
the dashboard shows is what the HPA decides on: desired = ceil(current x average / target).
"""

from grafanalib.core import Dashboard, TimeSeries

from tritonobs.core import catalogue as c
from tritonobs.core.model import SignalUse, Stack
from tritonobs.core.render import dashboard_queries as dq
from tritonobs.core.render.panels import Section, Series, dashboard, stat, timeseries

SLUG = "autoscaling"


def _signal_panel(stack: Stack, use: SignalUse, width: int) -> TimeSeries:
    blind = "" if use.signal.sees_vllm_queue else " Triton-side: blind to requests queued inside vLLM."
    return timeseries(
        f"{use.signal.title} (target {use.target:g})",
        unit=use.signal.unit,
        description=f"{use.signal.description} Models: {', '.join(use.models)}. The dashed line is the "
        f"HPA target per pod; the HPA scales when the average over pods leaves it by more than 10%.{blind}",
        series=[
            Series(dq.signal_per_pod(use), "{{pod}}"),
            Series(dq.signal_hpa_average(stack, use), "average over pods (HPA)"),
        ],
        steps=[(use.target, "red")],
        threshold_style="dashed",
        min_value=0,
        w=width,
    )


def build(stack: Stack) -> Dashboard:
    a = stack.autoscaling
    hpa = stack.effective_hpa_name
    pool = stack.gpu_pool
    width = 24 if len(stack.signals) == 1 else 12
    signals = Section("Scaling signals", [_signal_panel(stack, use, width) for use in stack.signals])
    hpa_row = Section(
        f"HPA {hpa} ({a.engine})",
        [
            timeseries(
                "Replicas",
                unit="short",
                description=f"HPA {hpa} from kube-state-metrics: current and desired replicas within "
                f"min and max ({a.min_replicas}-{a.max_replicas} in the spec).",
                series=[
                    Series(dq.hpa_replicas(stack, c.KSM_HPA_CURRENT), "current"),
                    Series(dq.hpa_replicas(stack, c.KSM_HPA_DESIRED), "desired"),
                    Series(dq.hpa_replicas(stack, c.KSM_HPA_MIN), "min"),
                    Series(dq.hpa_replicas(stack, c.KSM_HPA_MAX), "max"),
                ],
                min_value=0,
                w=12,
            ),
            timeseries(
                "Ready Triton pods",
                unit="short",
                description="Pods of the Triton Deployment that are Ready (serving). New replicas take "
                "minutes: node launch, image pull and model load.",
                series=[Series(dq.ready_pods(stack), "ready")],
                min_value=0,
                w=8,
            ),
            stat(
                "HPA metric unavailable",
                unit="bool_yes_no",
                description="1 (yes) when the HPA's ScalingActive condition is false: it cannot read its "
                "metric (adapter rule or KEDA query broken) and does not scale.",
                series=[Series(dq.hpa_unable_to_scale(stack), "ScalingActive=false")],
                steps=[(1, "red")],
                w=4,
                h=8,
            ),
        ],
    )
    nodes = Section(
        f"GPU pool {pool.nodepool}",
        [
            timeseries(
                "Nodes in the GPU pool",
                unit="short",
                description="Nodes carrying the pool's labels (kube_node_labels; kube-state-metrics needs "
                "--metric-labels-allowlist for these node labels).",
                series=[Series(dq.pool_nodes(stack), "nodes")],
                min_value=0,
                w=8,
            ),
            timeseries(
                "Karpenter node claims created",
                unit="cpm",
                description=f"NodeClaims Karpenter creates for NodePool {pool.nodepool}, per minute.",
                series=[Series(dq.nodeclaims_per_minute(stack), "{{nodepool}}")],
                min_value=0,
                w=8,
            ),
            timeseries(
                "Instance launch failures",
                unit="cpm",
                description="Failed EC2 launches per minute by instance type (often no g5 capacity in the "
                "zone); Karpenter then tries another type or zone.",
                series=[Series(dq.launch_failures_per_minute(stack), "{{instance_type}}")],
                min_value=0,
                w=8,
            ),
        ],
    )
    return dashboard(
        stack,
        SLUG,
        title="Autoscaling",
        description="Scaling signals per pod against their targets, HPA replicas, GPU nodes and "
        "Karpenter node claims.",
        sections=[signals, hpa_row, nodes],
        tags=["autoscaling"],
        time_from="now-3h",
    )
