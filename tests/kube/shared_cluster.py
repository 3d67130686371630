"""What a shared cluster holds that tritonobs must not break: a Helm-installed prometheus-adapter serving other
teams' rules (recorded the way Helm 3 stores a release), an adapter ConfigMap edited by others, and KEDA's
ScaledObject CRD as a given KEDA release ships it. Values are written out here, never built with tritonobs."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

MON = "monitoring"

# Another team's rule (a queue-length metric for their workers), as a user writes it in values.
FOREIGN_RULE: dict[str, Any] = {
    "seriesQuery": 'rabbitmq_queue_messages_ready{namespace!="",pod!=""}',
    "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
    "name": {"matches": "^rabbitmq_queue_messages_ready$", "as": "orders_queue_depth"},
    "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
}
SECOND_FOREIGN_RULE: dict[str, Any] = {
    "seriesQuery": '{__name__=~"^http_requests_total$",namespace!="",pod!=""}',
    "seriesFilters": [],
    "resources": {"template": "<<.Resource>>"},
    "name": {"matches": "^(.*)_total$", "as": "${1}_per_second"},
    "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
}
# The example stack's rule exactly as this branch renders it (checked by hand against docs/facts.md).
OUR_RULE: dict[str, Any] = {
    "seriesQuery": 'vllm:num_requests_waiting{namespace="triton-vllm", model=~"llama2|mistral7b", pod!=""}',
    "seriesFilters": [{"isNot": "^tritonobs/part-of=triton-vllm$"}],
    "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
    "name": {"matches": "^vllm:num_requests_waiting$", "as": "tritonobs_waiting_requests"},
    "metricsQuery": 'sum by (<<.GroupBy>>) (vllm:num_requests_waiting{<<.LabelMatchers>>, model=~"llama2|mistral7b"})',
}
# prometheus-adapter chart 4.10.0's defaults that matter here (values.yaml).
CHART_VALUES: dict[str, Any] = {
    "prometheus": {"url": "http://prometheus.default.svc", "port": 9090, "path": ""},
    "metricsRelistInterval": "1m",
    "rules": {"default": True, "custom": [], "existing": None, "external": [], "resource": {}},
}


def release_config(custom: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """User-supplied values of the monitoring team's adapter release (docs/facts.md: rules.default false)."""
    return {
        "prometheus": {"url": "http://kube-prometheus-stack-prometheus.monitoring.svc", "port": 9090, "path": ""},
        "rules": {"default": False, "custom": custom},
        **extra,
    }


def encode_release(release: dict[str, Any]) -> str:
    """Helm 3's storage string: base64(gzip(JSON)) (pkg/storage/driver/util.go encodeRelease)."""
    return base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()


def helm_release(
    config: dict[str, Any], revision: int = 1, status: str = "deployed", chart: str = "prometheus-adapter",
    version: str = "4.10.0", name: str = "prometheus-adapter", driver: str = "Secret",
) -> dict[str, Any]:
    """The storage object `helm install/upgrade` writes for one revision."""
    release = {
        "name": name, "namespace": MON, "version": revision,
        "info": {"status": status, "description": "Upgrade complete"},
        "chart": {"metadata": {"name": chart, "version": version, "appVersion": "v0.12.0"}, "values": CHART_VALUES},
        "config": config, "manifest": "---\n",
    }
    encoded = encode_release(release)
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": driver,
        "metadata": {"name": f"sh.helm.release.v1.{name}.v{revision}", "namespace": MON,
                     "labels": {"owner": "helm", "name": name, "status": status, "version": str(revision)}},
    }
    if driver == "Secret":  # a Secret's data is base64 once more on the wire
        obj["type"] = "helm.sh/release.v1"
        obj["data"] = {"release": base64.b64encode(encoded.encode()).decode()}
    else:
        obj["data"] = {"release": encoded}
    return obj


def keda_crd(version: str, behavior: bool) -> dict[str, Any]:
    """scaledobjects.keda.sh as KEDA's chart installs it: 2.16 has no fallback.behavior, 2.17 adds it."""
    fallback: dict[str, Any] = {
        "properties": {"failureThreshold": {"format": "int32", "type": "integer"},
                       "replicas": {"format": "int32", "type": "integer"}},
        "required": ["failureThreshold", "replicas"], "type": "object",
    }
    if behavior:
        fallback["properties"]["behavior"] = {
            "default": "static", "type": "string",
            "enum": ["static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"],
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "scaledobjects.keda.sh",
                     "labels": {"app.kubernetes.io/name": "keda-operator", "app.kubernetes.io/version": version}},
        "spec": {"group": "keda.sh", "scope": "Namespaced",
                 "names": {"kind": "ScaledObject", "plural": "scaledobjects"},
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {"spec": {"type": "object", "properties": {
                         "fallback": fallback, "minReplicaCount": {"type": "integer"}}}}}}}]},
    }
