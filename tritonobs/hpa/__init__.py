"""A faithful HorizontalPodAutoscaler (autoscaling/v2) engine: upstream's replica calculation and
behavior (kubernetes pkg/controller/podautoscaler), with an injected clock, and a trace simulator."""

from tritonobs.hpa.engine import (
    Condition,
    Decision,
    ExternalReading,
    HpaController,
    MetricStatus,
    ObjectReading,
    PodsReading,
    Reading,
    UniformPodsReading,
    ready_pods,
)
from tritonobs.hpa.manifest import HpaSpec, load_hpa, parse_hpa
from tritonobs.hpa.replicas import Pod, Tolerances

__all__ = [
    "Condition",
    "Decision",
    "ExternalReading",
    "HpaController",
    "HpaSpec",
    "MetricStatus",
    "ObjectReading",
    "Pod",
    "PodsReading",
    "Reading",
    "Tolerances",
    "UniformPodsReading",
    "load_hpa",
    "parse_hpa",
    "ready_pods",
]
