"""Validate rendered custom resources against the real CRD schemas of KEDA and prometheus-operator
(copies in tests/fixtures/crds/, sources in SOURCES.md), as strictly as `kubectl apply --validate=strict`:
the served version's openAPIV3Schema with jsonschema, and unknown fields refused where the schema does not
preserve them (the API server would silently prune them: a typo'd field would never take effect)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).parent / "fixtures" / "crds"
FILES = {
    ("keda.sh", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
    ("monitoring.coreos.com", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def schema_for(api_version: str, kind: str) -> dict[str, Any]:
    group, _, version = api_version.partition("/")
    crd = yaml.safe_load((CRDS / FILES[(group, kind)]).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = copy.deepcopy(served["schema"]["openAPIV3Schema"])
    # metadata is the API server's (ObjectMeta), not the CRD's: the CRD declares it as a bare object.
    return dict(_strict(schema))


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `obj` does not fit its CRD."""
    # No metaschema check: prometheus-operator's patterns use Go's (?i), which the draft's regex format refuses.
    jsonschema.Draft7Validator(schema_for(obj["apiVersion"], obj["kind"])).validate(obj)


def is_crd_kind(obj: dict[str, Any]) -> bool:
    return (obj["apiVersion"].partition("/")[0], obj["kind"]) in FILES
