"""Read an autoscaling/v2 HorizontalPodAutoscaler manifest into typed, defaulted structures.

Defaulting follows the API server (kubernetes pkg/apis/autoscaling/v2/defaults.go): minReplicas 1; a
`behavior` that is present gets every unset field from the defaults (scaleUp: window 0, Max of Pods 4 /
15 s and Percent 100 / 15 s; scaleDown: Max of Percent 100 / 15 s, window unset so the controller's
--horizontal-pod-autoscaler-downscale-stabilization flag applies). A missing `behavior` stays missing:
the controller then takes its legacy path (see engine.py). Targets become milli-values as
`Quantity.MilliValue()` does (rounded up). Problems are UsageErrors located at `file:line`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from tritonobs.core import yaml_bounded
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import YAML_LIMIT, read_text
from tritonobs.core.spec_loader import line_of

PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]
MetricKind = Literal["Pods", "Object", "External"]
TargetType = Literal["Value", "AverageValue"]


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int | None  # None (scaleDown only): the controller's flag applies
    select_policy: SelectPolicy
    policies: tuple[ScalingPolicy, ...]
    tolerance: float | None = None  # per-direction tolerance (HPAConfigurableTolerance, beta from 1.34)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules


DEFAULT_SCALE_UP = ScalingRules(
    0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class MetricSpec:
    kind: MetricKind
    name: str
    target_type: TargetType
    target_milli: int
    described_kind: str = ""  # Object metrics: the described object's kind, e.g. "Deployment"
    selector: str = ""  # metric selector as text, only for descriptions

    @cached_property
    def description(self) -> str:
        """The metric name upstream puts in conditions and events (computeStatusFor*Metric)."""
        if self.kind == "Pods":
            return f"pods metric {self.name}"
        if self.kind == "Object" and self.target_type == "Value":
            return f"{self.described_kind} metric {self.name}"
        # Upstream labels Object AverageValue metrics "external metric" too.
        return f"external metric {self.name}({self.selector or 'nil'})"


@dataclass(frozen=True)
class HpaSpec:
    name: str
    namespace: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    behavior: Behavior | None  # None: legacy normalisation (no behavior in the manifest)


_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


_MAX_MILLI = 2**63 - 1  # the HPA reads targets as int64 milli-values (Quantity.MilliValue)


def parse_quantity(raw: object) -> Decimal:
    """A Kubernetes resource quantity ("1500m", "2", "1.5", "1Ki", "5e-3") as an exact Decimal."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"not a quantity: {raw!r}")
    if isinstance(raw, int | float):
        raw = repr(raw) if isinstance(raw, float) else str(raw)
    m = _QUANTITY.match(raw.strip())
    if not m or len(m.group(1)) > 40:
        raise ValueError(f"not a quantity: {raw[:40]!r} (examples: 2, 1500m, 0.5)")
    suffix = m.group(2) or ""
    if suffix[:1] in ("e", "E") and (len(suffix) >= 8 or abs(int(suffix[1:])) > 40):
        raise ValueError(f"{raw!r}: exponent out of range (a quantity stays within int64 milli-units)")
    # The bounds above guard the input; the value is the Kubernetes client's own quantity parser's.
    from kubernetes.utils.quantity import (
        parse_quantity as k8s_quantity,  # lazily: kubernetes takes ~1 s to import
    )

    try:
        q = Decimal(k8s_quantity(raw.strip()))
    except (ValueError, InvalidOperation):
        raise ValueError(f"not a quantity: {raw!r}") from None
    if abs(q) * 1000 > _MAX_MILLI:
        raise ValueError(f"{raw!r} is too large: the HPA reads quantities as 64-bit milli-values")
    return q


def milli_value(q: Decimal) -> int:
    """Quantity.MilliValue(): ceil(q * 1000)."""
    return int((q * 1000).to_integral_value(rounding=ROUND_CEILING))


class _Doc:
    """One YAML document with its node tree, so every error can name the line it is about."""

    def __init__(self, node: yaml.Node, file: str) -> None:
        self.node = node
        self.file = file

    def fail(self, loc: tuple[str | int, ...], message: str) -> UsageError:
        return UsageError(message, file=self.file, line=line_of(self.node, loc))

    def mapping(self, value: object, loc: tuple[str | int, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(loc, f"{_path(loc)}: expected a mapping")
        return value

    def integer(self, value: object, loc: tuple[str | int, ...], lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(loc, f"{_path(loc)}: expected an integer in [{lo}, {hi}] (got {value!r})")
        return value

    def quantity(self, value: object, loc: tuple[str | int, ...], *, positive: bool) -> Decimal:
        try:
            q = parse_quantity(value)
        except ValueError as e:
            raise self.fail(loc, f"{_path(loc)}: {e}") from None
        if q < 0 or (positive and milli_value(q) <= 0):
            raise self.fail(loc, f"{_path(loc)}: must be {'> 0' if positive else '>= 0'} (got {value!r})")
        return q


def _path(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))


def _rules(doc: _Doc, raw: object, loc: tuple[str | int, ...], default: ScalingRules) -> ScalingRules:
    """copyHPAScalingRules: every field the manifest sets wins, the others come from the defaults."""
    if raw is None:
        return default
    d = doc.mapping(raw, loc)
    known = {"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"}
    for key in d:
        if key not in known:
            raise doc.fail((*loc, key), f"{_path((*loc, key))}: unknown field (expected one of {sorted(known)})")
    window = default.stabilization_window_seconds
    if d.get("stabilizationWindowSeconds") is not None:
        window = doc.integer(d["stabilizationWindowSeconds"], (*loc, "stabilizationWindowSeconds"), 0, 3600)
    select = default.select_policy
    if d.get("selectPolicy") is not None:
        if d["selectPolicy"] not in ("Max", "Min", "Disabled"):
            raise doc.fail((*loc, "selectPolicy"), f"{_path((*loc, 'selectPolicy'))}: must be Max, Min or Disabled")
        select = d["selectPolicy"]
    policies = default.policies
    if d.get("policies") is not None:
        if not isinstance(d["policies"], list) or not d["policies"]:
            raise doc.fail((*loc, "policies"), f"{_path((*loc, 'policies'))}: must list at least one policy")
        policies = tuple(_policy(doc, p, (*loc, "policies", i)) for i, p in enumerate(d["policies"]))
    tolerance = default.tolerance
    if d.get("tolerance") is not None:
        tolerance = float(doc.quantity(d["tolerance"], (*loc, "tolerance"), positive=False))
    return ScalingRules(window, select, policies, tolerance)


def _policy(doc: _Doc, raw: object, loc: tuple[str | int, ...]) -> ScalingPolicy:
    d = doc.mapping(raw, loc)
    if d.get("type") not in ("Pods", "Percent"):
        raise doc.fail((*loc, "type"), f"{_path((*loc, 'type'))}: must be Pods or Percent (got {d.get('type')!r})")
    value = doc.integer(d.get("value"), (*loc, "value"), 1, 2**31 - 1)
    period = doc.integer(d.get("periodSeconds"), (*loc, "periodSeconds"), 1, 1800)
    return ScalingPolicy(d["type"], value, period)


def _metric(doc: _Doc, raw: object, loc: tuple[str | int, ...]) -> MetricSpec:
    d = doc.mapping(raw, loc)
    kind = d.get("type")
    if kind in ("Resource", "ContainerResource"):
        raise doc.fail((*loc, "type"), f"{_path(loc)}: {kind} metrics (CPU/memory) are not simulated; "
                       "use a Pods, Object or External metric")
    if kind not in ("Pods", "Object", "External"):
        raise doc.fail((*loc, "type"), f"{_path((*loc, 'type'))}: must be Pods, Object or External (got {kind!r})")
    field = {"Pods": "pods", "Object": "object", "External": "external"}[kind]
    src = doc.mapping(d.get(field), (*loc, field))
    ident = doc.mapping(src.get("metric"), (*loc, field, "metric"))
    name = ident.get("name")
    if not isinstance(name, str) or not name:
        raise doc.fail((*loc, field, "metric"), f"{_path((*loc, field, 'metric'))}: name is required")
    selector = ident.get("selector")
    selector_text = "" if selector is None else yaml.safe_dump(selector, default_flow_style=True, sort_keys=True).strip()
    target = doc.mapping(src.get("target"), (*loc, field, "target"))
    tloc = (*loc, field, "target")
    ttype = target.get("type")
    allowed = ("AverageValue",) if kind == "Pods" else ("Value", "AverageValue")
    if ttype not in allowed:
        raise doc.fail((*tloc, "type"), f"{_path((*tloc, 'type'))}: a {kind} metric takes "
                       f"{' or '.join(allowed)} (got {ttype!r})")
    key = "value" if ttype == "Value" else "averageValue"
    if target.get(key) is None:
        raise doc.fail(tloc, f"{_path(tloc)}: {key} is required for type {ttype}")
    milli = milli_value(doc.quantity(target[key], (*tloc, key), positive=True))
    described = ""
    if kind == "Object":
        ref = doc.mapping(src.get("describedObject"), (*loc, field, "describedObject"))
        described = str(ref.get("kind") or "")
        if not described or not ref.get("name"):
            raise doc.fail((*loc, field, "describedObject"), f"{_path((*loc, field, 'describedObject'))}: "
                           "kind and name are required")
    target_type: TargetType = "Value" if ttype == "Value" else "AverageValue"
    return MetricSpec(kind, name, target_type, milli, described, selector_text)


def _hpa(doc: _Doc, data: dict[str, Any]) -> HpaSpec:
    if data.get("apiVersion") != "autoscaling/v2":
        raise doc.fail(("apiVersion",), f"apiVersion must be autoscaling/v2 (got {data.get('apiVersion')!r}; "
                       "v2beta2 is gone since Kubernetes 1.26)")
    meta = doc.mapping(data.get("metadata") or {}, ("metadata",))
    spec = doc.mapping(data.get("spec"), ("spec",))
    max_replicas = doc.integer(spec.get("maxReplicas"), ("spec", "maxReplicas"), 1, 2**31 - 1)
    min_replicas = 1
    if spec.get("minReplicas") is not None:
        # 0 needs the alpha HPAScaleToZero gate, which this engine does not model.
        min_replicas = doc.integer(spec["minReplicas"], ("spec", "minReplicas"), 1, 2**31 - 1)
    if min_replicas > max_replicas:
        raise doc.fail(("spec", "minReplicas"), f"spec.minReplicas ({min_replicas}) must be <= maxReplicas "
                       f"({max_replicas})")
    raw_metrics = spec.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise doc.fail(("spec",), "spec.metrics: list at least one Pods, Object or External metric "
                       "(without metrics the API server defaults to CPU, which is not simulated)")
    metrics = tuple(_metric(doc, m, ("spec", "metrics", i)) for i, m in enumerate(raw_metrics))
    behavior = None
    if spec.get("behavior") is not None:
        b = doc.mapping(spec["behavior"], ("spec", "behavior"))
        behavior = Behavior(
            _rules(doc, b.get("scaleUp"), ("spec", "behavior", "scaleUp"), DEFAULT_SCALE_UP),
            _rules(doc, b.get("scaleDown"), ("spec", "behavior", "scaleDown"), DEFAULT_SCALE_DOWN),
        )
    return HpaSpec(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        metrics=metrics,
        behavior=behavior,
    )


def parse_hpa(text: str, file: str = "hpa.yaml") -> HpaSpec:
    """Parse manifest text (one or several YAML documents) holding exactly one HorizontalPodAutoscaler."""
    found = [(n, d) for n, d in yaml_bounded.load_all(text, file)
             if isinstance(d, dict) and d.get("kind") == "HorizontalPodAutoscaler"]
    if not found:
        raise UsageError("no HorizontalPodAutoscaler in this file (pass the HPA manifest, e.g. "
                         "adapter_rules/hpa.yaml from `tritonobs render`)", file=file, line=1)
    if len(found) > 1:
        raise UsageError("several HorizontalPodAutoscalers in this file: pass one", file=file,
                         line=found[1][0].start_mark.line + 1)
    node, data = found[0]
    return _hpa(_Doc(node, file), data)


def load_hpa(path: str | Path) -> HpaSpec:
    p = Path(path)
    text = read_text(p, what="HPA manifest", limit=YAML_LIMIT,
                     hint=" (pass --hpa PATH to an autoscaling/v2 HPA manifest)")
    return parse_hpa(text, file=str(p))
