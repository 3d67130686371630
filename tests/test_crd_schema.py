"""The CRD check (tests/crd_schema.py, schemas from the cloudcoil model packages) refuses what the API server
would: in a rendered object of each of the four kinds, an unknown field (which it would silently prune) and a
value of the wrong type. The rendered objects themselves pass (also across every variant: test_kube_schemas)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from tests import crd_schema
from tests.conftest import DASHBOARDS, variant_stack
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import kube_objects

UNKNOWN = "Additional properties are not allowed"


def _rendered(kind: str) -> dict[str, Any]:
    # amp-keda renders all four kinds: ServiceMonitor, PrometheusRule, TriggerAuthentication, ScaledObject.
    objs = {o["kind"]: o for o in kube_objects(variant_stack("amp-keda"), load_dashboards(DASHBOARDS))}
    return copy.deepcopy(objs[kind])


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        node: Any = obj
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


CASES: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    # ScaledObject
    ("ScaledObject", "unknown in fallback", _set(("spec", "fallback", "replica"), 2), UNKNOWN),
    ("ScaledObject", "unknown in a trigger", _set(("spec", "triggers", 0, "metricsType"), "Value"), UNKNOWN),
    ("ScaledObject", "unknown in metadata", _set(("metadata", "lables"), {}), UNKNOWN),
    ("ScaledObject", "string for an integer", _set(("spec", "maxReplicaCount"), "5"), "'5' is not of type 'integer'"),
    ("ScaledObject", "number in trigger metadata", _set(("spec", "triggers", 0, "metadata", "threshold"), 5),
     "5 is not of type 'string'"),
    ("ScaledObject", "fallback behavior not KEDA's", _set(("spec", "fallback", "behavior"), "currentReplicasIfAbove"),
     "'currentReplicasIfAbove' is not one of"),
    # TriggerAuthentication
    ("TriggerAuthentication", "unknown in podIdentity", _set(("spec", "podIdentity", "rolearn"), "x"), UNKNOWN),
    ("TriggerAuthentication", "object for a string", _set(("spec", "podIdentity", "roleArn"), {"arn": "x"}),
     "is not of type 'string'"),
    # ServiceMonitor
    ("ServiceMonitor", "unknown in an endpoint", _set(("spec", "endpoints", 0, "intervall"), "30s"), UNKNOWN),
    ("ServiceMonitor", "string for a boolean", _set(("spec", "endpoints", 0, "honorLabels"), "false"),
     "'false' is not of type 'boolean'"),
    # PrometheusRule
    ("PrometheusRule", "unknown in a rule", _set(("spec", "groups", 0, "rules", 0, "label"), {}), UNKNOWN),
    ("PrometheusRule", "object for the rules list", _set(("spec", "groups", 0, "rules"), {}),
     "is not of type 'array'"),
]


@pytest.mark.parametrize("kind", ["ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"])
def test_rendered_object_fits(kind: str) -> None:
    crd_schema.validate(_rendered(kind))


@pytest.mark.parametrize(("kind", "what", "mutate", "message"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_schema_refuses(kind: str, what: str, mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    obj = _rendered(kind)
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError) as err:
        crd_schema.validate(obj)
    assert message in err.value.message, err.value.message


def test_required_fields_come_from_the_crd() -> None:
    so = _rendered("ScaledObject")
    del so["spec"]["scaleTargetRef"]["name"]
    with pytest.raises(jsonschema.ValidationError, match="'name' is a required property"):
        crd_schema.validate(so)
    rule = _rendered("PrometheusRule")
    del rule["spec"]["groups"][0]["name"]
    with pytest.raises(jsonschema.ValidationError, match="'name' is a required property"):
        crd_schema.validate(rule)
