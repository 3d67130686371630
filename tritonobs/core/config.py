"""The tritonobs.yaml schema (apiVersion tritonobs/v1): strict pydantic models.

Strict means: unknown keys are rejected, strings are not coerced into numbers, and semantic rules
(min <= max, GPUs per pod fit a node, ...) are checked here so every error can be located in the file.
Defaults follow the seed deployment (FACTS.md) and upstream defaults (HPA behavior, KEDA).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tritonobs.core import amp
from tritonobs.core.inputs import AWS_REGION, INT32_MAX

API_VERSION = "tritonobs/v1"
# The project's repository, where docs/runbooks.md is browsable (the default alert runbook links point there;
# a fork or an internal mirror sets alerts.runbook_base_url to its own copy).
PROJECT_URL = "https://github.com/tritonobs/tritonobs"
RUNBOOKS_URL = f"{PROJECT_URL}/blob/main/docs/runbooks.md"
MAX_DURATION_SECONDS = 365 * 86400  # any window or `for` beyond a year is a typo (Prometheus stops at ~292 y)
MAX_MODELS = 64  # one pod hosts every model of the spec
MAX_TARGET = 1e9  # a per-pod metric value; the HPA compares milli-quantities as 64-bit integers

SignalName = Literal[
    "waiting_requests", "inflight_requests", "ttft_p90", "queue_time_avg", "queue_compute_ratio"
]
SIGNAL_NAMES: tuple[str, ...] = SignalName.__args__  # type: ignore[attr-defined]

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Kubernetes names: DNS-1123 labels/subdomains.
K8sName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)]
# The stack name is also a label value (63 characters at most).
StackName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=63)]
# Model names become folders of the model repository, label values and CLI arguments: no '..' or '-x'.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Count = Annotated[int, Field(le=INT32_MAX)]
IAM_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"


def _dns_label(text: str) -> str:
    if "." in text or len(text) > 63:
        raise ValueError(f"not a namespace name (got {text!r}): a namespace is a DNS label, without dots and at "
                         "most 63 characters")
    return text


# Namespaces are DNS-1123 labels (no dots, 63 characters at most).
K8sLabelName = Annotated[K8sName, AfterValidator(_dns_label)]


def _amp_workspace(text: str) -> str:
    problem = amp.workspace_problem(text)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return text


def _amp_region(text: str) -> str:
    problem = amp.region_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def _bounded_duration(text: str) -> str:
    if duration_seconds(text) > MAX_DURATION_SECONDS:
        raise ValueError(f"{text!r} is longer than a year (365d): write a realistic duration, e.g. 30s, 5m, 1h")
    return text


def _scrape_duration(text: str) -> str:
    if duration_seconds(text) < 1:
        raise ValueError(f"{text!r} is shorter than 1s: write a scrape interval of at least 1s (e.g. 30s)")
    return text


Duration = Annotated[str, StringConstraints(pattern=_DURATION.pattern), AfterValidator(_bounded_duration)]
ScrapeDuration = Annotated[Duration, AfterValidator(_scrape_duration)]
Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION_SECONDS)]


def duration_seconds(text: str) -> float:
    """'30s' -> 30.0, '5m' -> 300.0 (Prometheus duration units, one unit per value)."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _headroom(value: float) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"must be at least 0 and below 1 (got {value!r}): the spare share of a replica's target, "
                         "e.g. 0.2 keeps each replica at 80% of it")
    return value


class _Strict(BaseModel):
    # allow_inf_nan=False: .inf/.nan are numbers to YAML, and would overflow every int() downstream.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Metadata(_Strict):
    name: StackName = Field(description="stack name: the part-of label and the seed of every stable UID")


class Cluster(_Strict):
    name: str
    region: str = "us-west-2"
    context: str | None = Field(default=None, description="kubeconfig context; without it, EKS via boto3")

    @field_validator("region")
    @classmethod
    def _aws_region(cls, v: str) -> str:
        if not AWS_REGION.match(v):
            raise ValueError(f"not an AWS region (got {v!r}): write e.g. us-west-2")
        return v


class Triton(_Strict):
    release: K8sName
    namespace: K8sLabelName
    deployment: K8sName
    selector: dict[str, str]
    metrics_service: K8sName
    metrics_port_name: str = "metrics"
    metrics_port: int = Field(default=8080, ge=1, le=65535)
    http_port: int = Field(default=8000, ge=1, le=65535)
    grpc_port: int = Field(default=8001, ge=1, le=65535)
    image: str = "nvcr.io/nvidia/tritonserver:24.06-vllm-python-py3"

    @field_validator("selector")
    @classmethod
    def _selector_not_empty(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("needs at least one label (the Deployment's selector labels)")
        return v


class Slo(_Strict):
    ttft_p95_seconds: float = Field(gt=0, description="95% of requests get their first token within this")


ModelBackend = Literal["tritonobs", "vllm"]
# Signals read from the engine gauges that only tritonobs' model.py exports (Triton's vllm_backend has none).
GAUGE_SIGNALS = ("waiting_requests", "inflight_requests")


class ModelSpec(_Strict):
    name: Annotated[str, StringConstraints(pattern=MODEL_NAME_PATTERN, max_length=128)]
    hf_model_id: str
    backend: ModelBackend = Field(
        default="tritonobs",
        description="tritonobs: Python backend running tritonobs' model.py (exports the engine gauges); "
        "vllm: Triton's official vllm_backend (token counters and latency histograms only)",
    )
    gpu: Count = Field(default=0, ge=0)
    max_model_len: Count = Field(default=4096, gt=0)
    max_num_seqs: Count = Field(default=256, gt=0, description="vLLM's batch limit (config.pbtxt max_num_seqs)")
    gpu_memory_utilization: float = Field(default=0.8, gt=0, le=1)
    slo: Slo
    scaling_signal: SignalName = "waiting_requests"


class Policy(_Strict):
    type: Literal["Pods", "Percent"]
    value: Count = Field(gt=0)
    period_seconds: int = Field(gt=0, le=1800)


class ScalingRules(_Strict):
    stabilization_window_seconds: int = Field(ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[Policy] = Field(min_length=1)


def _default_up() -> ScalingRules:
    return ScalingRules(
        stabilization_window_seconds=0,
        policies=[Policy(type="Percent", value=100, period_seconds=15), Policy(type="Pods", value=4, period_seconds=15)],
    )


def _default_down() -> ScalingRules:
    return ScalingRules(
        stabilization_window_seconds=300, policies=[Policy(type="Percent", value=100, period_seconds=15)]
    )


class Behavior(_Strict):
    scale_up: ScalingRules = Field(default_factory=_default_up)
    scale_down: ScalingRules = Field(default_factory=_default_down)


class Fallback(_Strict):
    failure_threshold: Count = Field(default=3, gt=0)
    replicas: Count = Field(default=2, gt=0)


class Keda(_Strict):
    server_address: str = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    polling_interval_seconds: Count = Field(default=30, gt=0)
    # Accepted for older specs, never rendered: KEDA applies both only between 0 and 1 replica, and
    # min_replicas >= 1. `tritonobs validate` warns when a spec sets them (tritonobs/core/advice.py).
    cooldown_period_seconds: Count = Field(default=300, ge=0, description="no effect (only 1 -> 0); not rendered")
    activation_threshold: float = Field(default=0, ge=0, le=MAX_TARGET,
                                        description="no effect (only 0 <-> 1); not rendered")
    fallback: Fallback = Field(default_factory=Fallback)


class Autoscaling(_Strict):
    engine: Literal["adapter", "keda"] = "adapter"
    min_replicas: Count = Field(default=1, ge=1)
    max_replicas: Count = Field(default=5, ge=1)
    targets: dict[SignalName, Annotated[float, Field(gt=0, le=MAX_TARGET)]] = Field(
        default_factory=dict, description="target per pod for each signal in use (catalogue default otherwise)"
    )
    behavior: Behavior = Field(default_factory=Behavior)
    keda: Keda = Field(default_factory=Keda)
    # Scaling ahead of load (README "Scaling ahead of load"; resolved in tritonobs/scaleahead.py).
    predictive: bool = Field(
        default=False,
        description="add a predictive floor: an External metric max(total load, its linear forecast `lookahead` "
        "ahead) / (target x (1 - headroom)); off by default (it costs GPU-hours and needs the recording rules)",
    )
    lookahead: Duration | None = Field(
        default=None, description="how far ahead the forecast looks; default: the pool's cold start "
        "(gpu_pool node_launch + image_pull + model_load seconds)",
    )
    headroom: Annotated[float, AfterValidator(_headroom)] = Field(
        default=0.2,
        description="spare fraction per replica in the predictive floor: capacity = target x (1 - headroom)",
    )


class Toleration(_Strict):
    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


def _gpu_taint() -> list[Toleration]:
    return [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]


class GpuPool(_Strict):
    nodepool: K8sName = "g5-gpu-karpenter"
    node_selector: dict[str, str] = Field(default_factory=lambda: {"NodeGroupType": "g5-gpu-karpenter"})
    instance_type: str = "g5.24xlarge"
    gpus_per_node: Count = Field(default=4, gt=0)
    gpus_per_pod: Count = Field(default=4, gt=0)
    hourly_price_usd: float = Field(default=8.144, ge=0)
    node_launch_seconds: Seconds = Field(default=90, description="NodeClaim -> node Ready")
    image_pull_seconds: Seconds = Field(default=240)
    model_load_seconds: Seconds = Field(default=180)
    consolidate_after_seconds: Seconds = Field(default=180, description="Karpenter: empty node -> removed")
    tolerations: list[Toleration] = Field(
        default_factory=_gpu_taint, description="the Triton pod's tolerations of the pool's taints (placeholder pods copy them)"
    )
    warm_nodes: Count = Field(
        default=0, ge=0, description="GPU nodes kept warm by placeholder pods (negative priority, Triton image "
        "pulled) that Triton pods preempt; each costs hourly_price_usd around the clock",
    )


class Grafana(_Strict):
    admin_secret_name: str = "grafana-admin"
    url: str | None = None
    dashboard_label: dict[str, str] = Field(default_factory=lambda: {"grafana_dashboard": "1"})
    datasource_uid: str = "prometheus"
    # The plugin the dashboards' datasource variable lists: one type per variable (Grafana has no "either").
    # Default: prometheus, or grafana-amazonprometheus-datasource with monitoring.backend amp (what Grafana 12+
    # and Amazon Managed Grafana migrate SigV4 Prometheus data sources to).
    datasource_type: Literal["prometheus", "grafana-amazonprometheus-datasource"] | None = None
    # Amazon Managed Grafana: a service-account token in Secrets Manager (plain, or JSON with `token`/`key`);
    # `grafana push` uses $GRAFANA_TOKEN first, then this, then the admin password.
    token_secret_name: str | None = None
    folder: str = "Triton"


class Amp(_Strict):
    """Amazon Managed Service for Prometheus: where the metrics are queried (SigV4, service `aps`)."""

    workspace_id: Annotated[str, AfterValidator(_amp_workspace)] = Field(description="ws-<uuid>, from the AMP console")
    region: Annotated[str, AfterValidator(_amp_region)] = Field(description="the workspace's region (AMP serves it)")
    # The adapter has no SigV4: a proxy sidecar signs its queries (awslabs/aws-sigv4-proxy).
    sigv4_proxy_image: str = "public.ecr.aws/aws-observability/aws-sigv4-proxy:1.7"
    sigv4_proxy_port: int = Field(default=8005, ge=1024, le=65535)
    # KEDA's TriggerAuthentication (podIdentity.provider: aws): a role to assume, or whose identity to use.
    keda_role_arn: Annotated[str, StringConstraints(pattern=IAM_ROLE_ARN, max_length=2048)] | None = None
    keda_identity_owner: Literal["keda", "workload"] | None = None
    # IRSA role of prometheus-adapter's service account (its sigv4 sidecar signs with it); `tritonobs iam` prints it.
    adapter_role_arn: Annotated[str, StringConstraints(pattern=IAM_ROLE_ARN, max_length=2048)] | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> Amp:
        if self.keda_role_arn is not None and self.keda_identity_owner is not None:
            raise ValueError("keda_role_arn and keda_identity_owner are mutually exclusive (KEDA refuses both): "
                             "keep one")
        return self


class Monitoring(_Strict):
    backend: Literal["prometheus", "amp"] = Field(
        default="prometheus", description="prometheus: in-cluster, at prometheus_url; amp: Amazon Managed Prometheus")
    amp: Amp | None = None
    namespace: K8sLabelName = "monitoring"
    prometheus_release: str = Field(default="kube-prometheus-stack", description="PrometheusRule `release` label")
    prometheus_url: str = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    scrape_interval: ScrapeDuration = "30s"
    adapter_relist_interval: Duration = "1m"
    adapter_install: Literal["configmap", "helm"] = "helm"
    adapter_release: str = "prometheus-adapter"
    gpu_metrics: Literal["dcgm", "triton"] = "dcgm"
    grafana: Grafana = Field(default_factory=Grafana)

    @model_validator(mode="after")
    def _backend_settings(self) -> Monitoring:
        if self.backend == "amp" and self.amp is None:
            raise ValueError("backend amp needs an amp: section (workspace_id, region)")
        if self.backend == "prometheus" and self.amp is not None:
            raise ValueError("an amp: section with backend prometheus: set backend: amp, or remove amp:")
        return self


class AlertThresholds(_Strict):
    failure_ratio: float = Field(default=0.05, gt=0, lt=1)
    failure_for: Duration = "10m"
    waiting_requests_high: float = Field(default=20, gt=0)
    waiting_for: Duration = "10m"
    no_success_for: Duration = "5m"
    target_down_for: Duration = "5m"
    signal_absent_for: Duration = "10m"
    hpa_maxed_for: Duration = "15m"
    gpu_temp_celsius: float = Field(default=85, gt=0)
    gpu_power_ratio: float = Field(default=0.98, gt=0, le=1.5, description="of the power limit")
    gpu_for: Duration = "10m"
    gpu_power_limit_watts: float = Field(default=300, gt=0, description="A10G board limit (DCGM has no limit series)")
    gpu_xid_for: Duration = "1m"
    # TTFT SLO burn rates (Google SRE workbook, multi-window): 14.4x over 1h/5m and 6x over 6h/30m.
    # A burn rate of 20 would need every request to be slow (budget 5% of a p95 objective), hence lt=20.
    ttft_burn_fast: float = Field(default=14.4, gt=1, lt=20)
    ttft_burn_fast_for: Duration = "2m"
    ttft_burn_slow: float = Field(default=6, gt=1, lt=20)
    ttft_burn_slow_for: Duration = "15m"
    runbook_base_url: str = Field(
        default=RUNBOOKS_URL,
        description="absolute URL where docs/runbooks.md is browsable; alerts link <this>#<alert>",
    )


class ModelRepository(_Strict):
    path: str = "model_repository"
    s3_bucket: str | None = None
    s3_prefix: str = "model_repository"


class Budgets(_Strict):
    """Pass/fail budgets of a scaling verification run (real cluster durations)."""

    first_scale_up_seconds: float = Field(default=120, gt=0, le=MAX_DURATION_SECONDS)
    scale_up_seconds: float = Field(default=900, gt=0, le=MAX_DURATION_SECONDS, description="lastScaleTime -> newest replica Ready")
    node_ready_seconds: float = Field(default=300, gt=0, le=MAX_DURATION_SECONDS)
    ttft_over_slo_seconds: float = Field(default=600, ge=0, le=MAX_DURATION_SECONDS)
    return_to_min_seconds: float = Field(default=1200, gt=0, le=MAX_DURATION_SECONDS)
    max_gpu_hours: float | None = Field(default=None, gt=0)
    max_failed_request_ratio: float = Field(
        default=0.0, ge=0, le=1, description="share of the run's requests allowed to fail (default: none)"
    )
    max_signal_missing_seconds: float = Field(
        default=60, ge=0, description="time under load the HPA may go without a value of its signal"
    )


class Spec(_Strict):
    apiVersion: Literal["tritonobs/v1"]
    kind: Literal["TritonStack"] = "TritonStack"
    metadata: Metadata
    cluster: Cluster
    triton: Triton
    models: list[ModelSpec] = Field(min_length=1, max_length=MAX_MODELS)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    gpu_pool: GpuPool = Field(default_factory=GpuPool)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    model_repository: ModelRepository = Field(default_factory=ModelRepository)
    budgets: Budgets = Field(default_factory=Budgets)

