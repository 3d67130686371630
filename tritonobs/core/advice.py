"""Spec warnings: valid values that will not do what the spec suggests. Pure; `validate` and `render` print
them as `warning:` lines and still exit 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tritonobs.core.model import Stack


@dataclass(frozen=True)
class Advice:
    key: tuple[str, ...]  # the spec field, for a file:line pointer
    message: str

    @property
    def path(self) -> str:
        return ".".join(self.key)


def is_absolute_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def warnings(stack: Stack) -> list[Advice]:
    out: list[Advice] = []
    base = stack.spec.alerts.runbook_base_url
    if not is_absolute_url(base):
        out.append(
            Advice(
                ("alerts", "runbook_base_url"),
                f"{base!r} is not an absolute http(s) URL: every alert's runbook_url would be a dead link in "
                "Alertmanager and Grafana notifications; set it to where docs/runbooks.md is browsable "
                "(e.g. https://github.com/<org>/<repo>/blob/main/docs/runbooks.md)",
            )
        )
    keda = stack.spec.autoscaling.keda
    if "cooldown_period_seconds" in keda.model_fields_set:
        out.append(
            Advice(
                ("autoscaling", "keda", "cooldown_period_seconds"),
                "has no effect and is not rendered: KEDA applies cooldownPeriod only when scaling from 1 to 0 "
                "replicas, and min_replicas is at least 1; scale-down pace is autoscaling.behavior.scale_down",
            )
        )
    if "activation_threshold" in keda.model_fields_set:
        out.append(
            Advice(
                ("autoscaling", "keda", "activation_threshold"),
                "has no effect and is not rendered: KEDA's activationThreshold only decides between 0 and 1 "
                "replica, and min_replicas is at least 1; the scaling threshold is autoscaling.targets",
            )
        )
    a = stack.spec.autoscaling
    if a.predictive and any(f.signal == "waiting_requests" for f in stack.scale_ahead.floors):
        out.append(
            Advice(
                ("autoscaling", "predictive"),
                "the floor forecasts waiting requests, which read 0 until the KV cache fills and then jump: a line "
                "through them sees a ramp late; in-flight requests track the load (README \"Scaling ahead of "
                "load\"): scale on inflight_requests with the target `tritonobs tune` measures",
            )
        )
    return out
