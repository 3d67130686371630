"""Validate rendered custom resources against the upstream CRD schemas of KEDA and prometheus-operator, as
strictly as `kubectl apply --validate=strict`: types, required fields, enums, patterns and bounds, and unknown
fields refused (the API server would silently prune them: a typo'd field would never take effect).

The schemas come from an installed package, not from copies in this repository: cloudcoil's pydantic models
generated from the upstream CRDs (PyPI `cloudcoil-models-keda==2.16.1.0`: KEDA v2.16.1;
`cloudcoil-models-prometheus-operator==0.80.1.0`: prometheus-operator v0.80.1; pinned in the dev extra).
Those are the newest releases that install on Python 3.11: 2.20.2.x / 0.93.1.x require Python >= 3.14.
The models ignore unknown fields and accept None for every optional field, so the JSON schema is generated
here with every object closed (additionalProperties false) and without the null branches; no field of these
four CRDs sets x-kubernetes-preserve-unknown-fields (free-form maps such as a trigger's metadata stay maps).
`metadata` is checked against the API server's ObjectMeta (the models carry it), stricter than the CRD's bare
object.

One field tritonobs renders is newer than KEDA 2.16.1: `spec.fallback.behavior` (KEDA >= 2.17, which `apply`
requires). It is added below with the values KEDA documents for it; the addendum refuses to run once the
package schema has the field itself (then delete it).
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as promop
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): promop.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): promop.PrometheusRule,
}


class _Strict(GenerateJsonSchema):
    """The CRD's structural schema, not pydantic's lenient reading of it."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        if schema.get("config", {}).get("extra_fields_behavior") != "allow":
            out["additionalProperties"] = False
        return out

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # Optional[X] = None means "may be absent"; the CRD's field is not nullable.
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        # A default of None is not part of the CRD (and would not fit the un-nulled type): leave it out.
        return self.generate_inner(schema["schema"])


# KEDA 2.17's ScaledObject.spec.fallback.behavior (2.20 adds `scalingModifiers`; tritonobs renders
# `currentReplicasIfHigher`).
FALLBACK_BEHAVIOR = {"type": "string", "enum": ["static", "currentReplicas", "currentReplicasIfHigher",
                                                "currentReplicasIfLower"]}


def _deref(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    return root["$defs"][ref.removeprefix("#/$defs/")] if ref else node


@functools.cache
def schema_for(api_version: str, kind: str) -> dict[str, Any]:
    # by_alias: the wire names (apiVersion, scaleTargetRef), not the Python ones.
    schema = MODELS[(api_version, kind)].model_json_schema(by_alias=True, schema_generator=_Strict)
    if kind == "ScaledObject":
        spec = _deref(schema, schema["properties"]["spec"])
        fallback = _deref(schema, spec["properties"]["fallback"])
        if "behavior" in fallback["properties"]:
            raise AssertionError("the KEDA package now has spec.fallback.behavior: drop FALLBACK_BEHAVIOR")
        fallback["properties"]["behavior"] = FALLBACK_BEHAVIOR  # in place: the $defs entry itself
    return schema


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `obj` does not fit its CRD."""
    # No metaschema check: prometheus-operator's patterns use Go's (?i), which the draft's regex format refuses.
    jsonschema.Draft202012Validator(schema_for(obj["apiVersion"], obj["kind"])).validate(obj)


def is_crd_kind(obj: dict[str, Any]) -> bool:
    return (obj["apiVersion"], obj["kind"]) in MODELS
