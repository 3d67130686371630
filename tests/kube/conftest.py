"""A fake EKS cluster (kmock emulator, extended) served over HTTP, a kubeconfig for it, a stack folder,
and an in-process CLI runner that captures what the user would see."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from tests.conftest import EXAMPLE, cli_exit_code
from tests.kube.fake_apiserver import ApiServer, serving
from tests.kube.shared_cluster import FOREIGN_RULE, helm_release, keda_crd, release_config
from tritonobs.core.kinds import CUSTOM_METRICS_API_SERVICE

NS = "triton-vllm"
MON = "monitoring"
DEPLOYMENT = "nvidia-triton-server-triton-inference-server"
RELEASE = "nvidia-triton-server"
POD_LABELS = {"app.kubernetes.io/name": "triton-inference-server", "app.kubernetes.io/instance": RELEASE}
TOKEN = "kubeconfig-token-s3cr3t-do-not-print"
METRIC = "tritonobs_waiting_requests"
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# What a kube-prometheus-stack + prometheus-adapter EKS cluster serves (KEDA only when asked).
BUILTIN = {
    "v1/configmaps": ("ConfigMap", True),
    "v1/secrets": ("Secret", True),
    "v1/pods": ("Pod", True),
    "v1/nodes": ("Node", False),
    "apps/v1/deployments": ("Deployment", True),
    "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True),
    "apiregistration.k8s.io/v1/apiservices": ("APIService", False),
}
PROMETHEUS_CRDS = {
    "monitoring.coreos.com/v1/servicemonitors": ("ServiceMonitor", True),
    "monitoring.coreos.com/v1/prometheusrules": ("PrometheusRule", True),
}
KEDA_CRDS = {
    "keda.sh/v1alpha1/scaledobjects": ("ScaledObject", True),
    "keda.sh/v1alpha1/triggerauthentications": ("TriggerAuthentication", True),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False),
}
KARPENTER_CRDS = {"karpenter.sh/v1/nodeclaims": ("NodeClaim", False)}


def declare(fake: ApiServer, resources: dict[str, tuple[str, bool]]) -> None:
    for key, (kind, namespaced) in resources.items():
        fake.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=namespaced, verbs=VERBS)


def install_keda(fake: ApiServer, version: str = "2.17.0", behavior: bool = True) -> None:
    """KEDA as its chart installs it: the ScaledObject CRD (schema of that release) and its metrics APIService."""
    declare(fake, KEDA_CRDS)
    fake.seed("apiextensions.k8s.io/v1/customresourcedefinitions", keda_crd(version, behavior), manager="helm")
    fake.seed("apiregistration.k8s.io/v1/apiservices", {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
              "metadata": {"name": "v1beta1.external.metrics.k8s.io"}})


def serve_pod_metric(fake: ApiServer, metric: str, values: dict[str, str]) -> None:
    """Make the fake's custom metrics API serve `metric` for pods, as a loaded adapter rule would."""
    fake.pod_metrics[(NS, metric)] = values


def hpa_controller(reporting: bool, reason: str = "FailedGetPodsMetric") -> Callable[[ApiServer, Any, dict], None]:
    """Stands in for kube-controller-manager: fills an HPA's status after each write."""

    def hook(fake: ApiServer, key: Any, obj: dict[str, Any]) -> None:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            return
        metrics = obj["spec"].get("metrics") or []
        if reporting:
            # Pods and External metrics report under their own key (the predictive floor is External).
            current = [
                {"type": m["type"], (src := m["type"].lower()): {"metric": m[src]["metric"],
                                                                 "current": {"averageValue": "1500m"}}}
                for m in metrics
            ]
            cond = {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "ok"}
        else:
            current = []
            cond = {
                "type": "ScalingActive",
                "status": "False",
                "reason": reason,
                "message": f"the HPA was unable to compute the replica count: unable to get metric {METRIC}",
            }
        fake.set_status(key, {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": current, "conditions": [cond]})

    return hook


def deployment(name: str = DEPLOYMENT, replicas: int | None = None) -> dict[str, Any]:
    """The chart's Deployment; with `replicas`, whoever seeds it owns spec.replicas (a pinned replicaCount)."""
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": dict(POD_LABELS)},
        "spec": {"selector": {"matchLabels": dict(POD_LABELS)}, "template": {"metadata": {"labels": dict(POD_LABELS)}}},
        "status": {"replicas": 2, "readyReplicas": 2},
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def pod(name: str, ready: bool, ip: str = "127.0.0.1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": dict(POD_LABELS)},
        "spec": {"nodeName": "ip-10-0-1-1.us-west-2.compute.internal"},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def node(name: str, ready: bool, instance_type: str = "g5.24xlarge", pool: str = "g5-gpu-karpenter") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"NodeGroupType": pool, "node.kubernetes.io/instance-type": instance_type, "type": "karpenter"},
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def nodeclaim(name: str, nodepool: str = "g5-gpu-karpenter") -> dict[str, Any]:
    """A launched, registered NodeClaim of Karpenter's `nodepool` (cluster-scoped)."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": nodepool}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def api_service(name: str, available: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name},
        "spec": {"service": {"name": "prometheus-adapter", "namespace": MON}},
        "status": {"conditions": [{"type": "Available", "status": "True" if available else "False",
                                   "reason": "Passed" if available else "FailedDiscoveryCheck",
                                   "message": "all checks passed" if available else "no response from adapter"}]},
    }


@pytest.fixture
def fake() -> ApiServer:
    """The cluster the example stack expects: Triton release, 2 ready pods, g5 nodes, a shared Helm-installed
    adapter (another team's rule in it) serving our metric."""
    server = ApiServer()
    declare(server, {**BUILTIN, **PROMETHEUS_CRDS})
    server.seed("apps/v1/deployments", deployment(), manager="helm")
    server.seed("v1/pods", pod(f"{DEPLOYMENT}-7d9f-abcde", True))
    server.seed("v1/pods", pod(f"{DEPLOYMENT}-7d9f-fghij", True))
    server.seed("v1/nodes", node("ip-10-0-1-1.us-west-2.compute.internal", True))
    server.seed("v1/nodes", node("ip-10-0-1-2.us-west-2.compute.internal", False, "g5.12xlarge"))
    server.seed("v1/nodes", node("ip-10-0-9-9.us-west-2.compute.internal", True, "m5.large", pool="system"))
    server.seed("apiregistration.k8s.io/v1/apiservices", api_service(CUSTOM_METRICS_API_SERVICE))
    # The shared adapter, Helm-installed by the monitoring team, already serving another team's rule.
    server.seed("v1/secrets", helm_release(release_config([FOREIGN_RULE])), manager="helm")
    serve_pod_metric(server, METRIC, {f"{DEPLOYMENT}-7d9f-abcde": "1", f"{DEPLOYMENT}-7d9f-fghij": "2"})
    server.on_write.append(hpa_controller(reporting=True))
    return server


@pytest.fixture
def cluster_url(fake: ApiServer) -> Iterator[str]:
    with serving(fake) as url:
        yield url


def write_kubeconfig(path: Path, server: str, context: str = "fake") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "fake", "user": {"token": TOKEN}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": context,
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, cluster_url: str) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", cluster_url)


TINY_DASHBOARD = '''\
from grafanalib.core import Dashboard


def build(stack):
    return Dashboard(title="tiny", uid="tiny", panels=[])
'''


@dataclass
class StackDir:
    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "tritonobs.yaml"

    def edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        data = yaml.safe_load(self.spec.read_text())
        change(data)
        self.spec.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def stack_dir(tmp_path: Path) -> StackDir:
    root = tmp_path / "stack"
    (root / "dashboards").mkdir(parents=True)
    (root / "dashboards" / "tiny.dashboard.py").write_text(TINY_DASHBOARD)
    (root / "tritonobs.yaml").write_text(EXAMPLE.read_text())
    return StackDir(root)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `tritonobs ARGS` in-process; returns exit code and captured stdout/stderr."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = cli_exit_code([str(a) for a in args])
        captured = capsys.readouterr()
        sys.stdout.flush()
        return Result(code, captured.out, captured.err)

    return run


def keda(data: dict[str, Any]) -> None:
    data["autoscaling"]["engine"] = "keda"


def deep(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
