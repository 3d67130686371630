"""Warm GPU capacity (gpu_pool.warm_nodes): the PriorityClass and placeholder Deployment, their place in the
apply order, and the cost `tritonobs validate` shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, EXAMPLE, variant_stack
from tritonobs.cli import main
from tritonobs.core import kinds
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import kube_objects, render_all, warm
from tritonobs.kube import apply

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.06-vllm-python-py3"


def test_example_has_no_warm_capacity() -> None:
    stack = variant_stack("example")
    assert warm.objects(stack) == [] and warm.FILE not in {a.path for a in render_all(stack, [])}
    assert kinds.managed(stack) == kinds.MANAGED  # no right to delete Deployments without warm nodes


def test_priority_class_is_below_every_workload_and_preempts_nothing() -> None:
    pc = warm.priority_class(variant_stack("predictive"))
    assert pc["apiVersion"] == "scheduling.k8s.io/v1" and pc["kind"] == "PriorityClass"
    assert pc["metadata"]["name"] == "triton-vllm-warm-placeholder"
    assert (pc["value"], pc["preemptionPolicy"], pc["globalDefault"]) == (-10, "Never", False)


def test_placeholders_are_triton_pods_in_gpus_pool_and_image() -> None:
    dep = warm.deployment(variant_stack("predictive"))  # the example with warm_nodes: 1
    assert dep["metadata"]["name"] == "triton-vllm-warm-placeholder"
    assert dep["metadata"]["namespace"] == "triton-vllm"
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "triton-vllm-warm-placeholder"
    assert pod["nodeSelector"] == {"NodeGroupType": "g5-gpu-karpenter"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    (c,) = pod["containers"]
    assert c["image"] == TRITON_IMAGE
    assert c["command"] == ["sleep", "infinity"]
    assert c["resources"]["requests"]["nvidia.com/gpu"] == "4" == c["resources"]["limits"]["nvidia.com/gpu"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels[kinds.MANAGED_BY] == "tritonobs" and labels[kinds.PART_OF] == "triton-vllm"
    # Not named like Triton's pods: the signal queries select those by the `<deployment>-` prefix.
    assert not dep["metadata"]["name"].startswith("nvidia-triton-server-triton-inference-server-")


def test_two_gpu_pods_fill_two_warm_nodes_with_four_placeholders() -> None:
    dep = warm.deployment(variant_stack("predictive-keda-inflight"))  # warm_nodes 2, 2 GPUs per pod, 4 per node
    assert dep["spec"]["replicas"] == 4
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "2"


def test_apply_order_priority_class_then_placeholders_then_scaler() -> None:
    for variant, scaler in (("predictive", "HorizontalPodAutoscaler"), ("predictive-keda-inflight", "ScaledObject")):
        stack = variant_stack(variant)
        objs = kube_objects(stack, load_dashboards(DASHBOARDS))
        for order in ([o["kind"] for o in objs], [o["kind"] for o in apply.ordered(objs)]):
            assert order.index("PriorityClass") < order.index("Deployment") < order.index(scaler), order
        assert kinds.managed(stack) == (*kinds.MANAGED, kinds.PRIORITY_CLASS, kinds.DEPLOYMENT)


def test_validate_shows_the_monthly_cost(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "tritonobs.yaml"
    text = EXAMPLE.read_text()
    spec.write_text(text.replace("  model_load_seconds: 180\n", "  model_load_seconds: 180\n  warm_nodes: 2\n"))
    with pytest.raises(SystemExit) as done:
        main(["validate", "-f", str(spec), "--dashboards", str(DASHBOARDS)])
    assert done.value.code == 0
    out = capsys.readouterr().out
    # 2 x 8.144 USD/h x 730 h
    assert ("warm capacity: 2 g5.24xlarge node(s) kept up (2 placeholder pod(s)): 2 x $8.144/h x 730 h = "
            "$11,890.24 per month (gpu_pool.hourly_price_usd); a replica landing on one starts in 180 s instead "
            "of 510 s") in out
