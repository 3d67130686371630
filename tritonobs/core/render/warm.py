"""Warm GPU capacity: `gpu_pool.warm_nodes` placeholder pods that keep GPU nodes up with the Triton image pulled.

A PriorityClass below every workload's (value -10; the default priority is 0) and a Deployment of
`warm_pods` placeholders, each the size of a Triton pod in GPUs, on the pool's nodes (node selector and
tolerations), running the Triton image doing nothing (`sleep infinity`: GNU coreutils in the image's Ubuntu).
- Karpenter launches a node for each pending placeholder, and the kubelet pulls the Triton image for it.
- A pending Triton pod preempts a placeholder (its priority is higher) and lands on a node that is up and has
  the image: its start is the model load only. The evicted placeholder goes pending, and Karpenter launches a
  node for it, so the warm capacity refills behind the scale-up.
- A node holding a placeholder is not empty, so Karpenter's consolidation leaves it up: that is the cost,
  `warm_nodes` x the node's price around the clock (`tritonobs validate` prints it).
The placeholders' own `preemptionPolicy: Never` keeps them from ever evicting anything themselves.
"""

from __future__ import annotations

from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import Stack

PRIORITY = -10
GPU_RESOURCE = "nvidia.com/gpu"
COMPONENT = "warm-placeholder"
FILE = "adapter_rules/warm-capacity.yaml"


def priority_class_name(stack: Stack) -> str:
    return f"{stack.name}-warm-placeholder"


def deployment_name(stack: Stack) -> str:
    # Not `<triton deployment>-...`: the signal queries select Triton's pods by that prefix.
    return f"{stack.name}-warm-placeholder"


def _labels(stack: Stack) -> dict[str, str]:
    return {**stack.labels, "app.kubernetes.io/component": COMPONENT}


def _selector(stack: Stack) -> dict[str, str]:
    return {"app.kubernetes.io/component": COMPONENT, "app.kubernetes.io/part-of": stack.name}


def priority_class(stack: Stack) -> KubeObject:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": priority_class_name(stack), "labels": _labels(stack)},
        "value": PRIORITY,
        "globalDefault": False,
        "preemptionPolicy": "Never",
        "description": f"tritonobs warm GPU capacity of stack {stack.name}: placeholders any workload preempts",
    }


def deployment(stack: Stack) -> KubeObject:
    pool = stack.gpu_pool
    gpus = str(pool.gpus_per_pod)
    container = {
        "name": "placeholder",
        "image": stack.triton.image,  # so the node pulls Triton's image before Triton needs it
        "imagePullPolicy": "IfNotPresent",
        "command": ["sleep", "infinity"],
        "resources": {
            # Extended resources need limits equal to requests; CPU/memory stay tiny so a Triton pod fits.
            "requests": {GPU_RESOURCE: gpus, "cpu": "10m", "memory": "16Mi"},
            "limits": {GPU_RESOURCE: gpus, "memory": "64Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
        },
    }
    tolerations = [dict(t) for t in pool.tolerations]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(stack), "namespace": stack.namespace, "labels": _labels(stack)},
        "spec": {
            "replicas": stack.scale_ahead.warm_pods,
            "selector": {"matchLabels": _selector(stack)},
            "template": {
                "metadata": {"labels": _labels(stack)},
                "spec": {
                    "priorityClassName": priority_class_name(stack),
                    "terminationGracePeriodSeconds": 0,  # preempted: gone at once, the GPUs free for Triton
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "nodeSelector": dict(pool.node_selector),
                    "tolerations": tolerations,
                    "containers": [container],
                },
            },
        },
    }


def objects(stack: Stack) -> list[KubeObject]:
    """In apply order: the PriorityClass before the Deployment whose pods name it."""
    if stack.scale_ahead.warm_nodes == 0:
        return []
    return [priority_class(stack), deployment(stack)]
