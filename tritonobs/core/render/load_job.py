"""The in-cluster load of a scaling verification run (`tritonobs verify --print-load-job`): a headless
Service over the Triton pods' gRPC port and a Job that runs `tritonobs verify --load-only` against it.

The Job re-resolves the headless Service every few seconds and sends new requests to every Ready pod it
returns (a ClusterIP Service would pin each gRPC connection to the pod it first reached, so pods added by
the scale-up would stay idle). `--url` points it at an ingress or load balancer instead. Rendered on demand
(not committed): it carries the run's profile. It stays off the GPU pool (no toleration for the
`nvidia.com/gpu` taint) and runs unprivileged with a read-only root filesystem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tritonobs.core.artifacts import KubeObject
from tritonobs.core.model import Stack

COMPONENT = "app.kubernetes.io/component"
DEFAULT_IMAGE = "tritonobs:0.1.0"  # built from this repository (docs/verify.md); push it where nodes can pull


@dataclass(frozen=True)
class LoadJobSpec:
    profile_kind: str  # constant | step | ramp | sine
    mode: str  # "open" (--rate) | "closed" (--concurrency)
    value: str  # the profile's value spec, e.g. "1:10:30s"
    duration: str  # e.g. "15m"
    duration_seconds: float
    model: str
    connections: int = 8
    max_tokens: int | None = None
    image: str = DEFAULT_IMAGE
    url: str | None = None  # an L7 (per-request) gRPC balancer; default: follow the headless Service
    parallelism: int = 1  # load pods; each runs one share of the rate or concurrency (Indexed Job)


def job_name(stack: Stack) -> str:
    return f"{stack.name}-verify-load"


def headless_name(stack: Stack) -> str:
    return f"{stack.name}-verify-grpc"


def discover_address(stack: Stack) -> str:
    t = stack.triton
    return f"{headless_name(stack)}.{t.namespace}.svc.cluster.local:{t.grpc_port}"


def headless_service(stack: Stack) -> KubeObject:
    """DNS of the Triton pods that are Ready (clusterIP None, no publishNotReadyAddresses)."""
    t = stack.triton
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": headless_name(stack), "namespace": t.namespace,
                     "labels": {**stack.labels, COMPONENT: "verify-load"}},
        "spec": {
            "clusterIP": "None",
            "selector": dict(t.selector),
            "ports": [{"name": "grpc", "port": t.grpc_port, "targetPort": t.grpc_port, "protocol": "TCP"}],
        },
    }


def objects(stack: Stack, spec: LoadJobSpec) -> list[KubeObject]:
    return ([] if spec.url else [headless_service(stack)]) + [load_job(stack, spec)]


def load_job(stack: Stack, spec: LoadJobSpec) -> KubeObject:
    labels = {**stack.labels, COMPONENT: "verify-load"}
    target = ["--url", spec.url] if spec.url else ["--discover", discover_address(stack)]
    args = [
        "verify",
        "--load-only",
        *target,
        "--drive", spec.model,
        "--profile", spec.profile_kind,
        "--rate" if spec.mode == "open" else "--concurrency", spec.value,
        "--duration", spec.duration,
        "--connections", str(spec.connections),
    ]
    if spec.max_tokens is not None:
        args += ["--max-tokens", str(spec.max_tokens)]
    shards: dict[str, object] = {}
    env: list[dict[str, object]] = []
    if spec.parallelism > 1:
        # An Indexed Job: pod i runs share i of N; the API server expands $(SHARD_INDEX) from the pod's env.
        args += ["--shard", f"$(SHARD_INDEX)/{spec.parallelism}"]
        shards = {"completionMode": "Indexed", "completions": spec.parallelism, "parallelism": spec.parallelism}
        env = [{"name": "SHARD_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(stack), "namespace": stack.namespace, "labels": labels},
        "spec": {
            **shards,
            "backoffLimit": 0,  # a failed load run is a result to look at, not something to retry
            # The send window plus the drain, with room for image pull and scheduling.
            "activeDeadlineSeconds": int(math.ceil(spec.duration_seconds)) + 600,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "load",
                            "image": spec.image,
                            "args": args,
                            "resources": {
                                "requests": {"cpu": "2", "memory": "1Gi"},
                                "limits": {"memory": "2Gi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            **({"env": env} if env else {}),
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
