"""Shared fixtures: the example spec, spec variants, and a resolved stack."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tritonobs import backfill
from tritonobs.core.model import Stack, resolve
from tritonobs.core.spec_loader import parse_spec

REPO = Path(__file__).resolve().parent.parent
# The one promtool: where the Debian package puts it (`make prometheus`) and where `backfill` runs it. Required,
# never skipped: the rule and panel tests are only as real as the engine that evaluates them.
PROMTOOL = backfill.PROMTOOL
EXAMPLE = REPO / "tritonobs.yaml"
DASHBOARDS = REPO / "dashboards"


def cli_exit_code(args: list[str]) -> int:
    """Run `tritonobs ARGS` in this process; its exit code (0 when it returns without SystemExit)."""
    from tritonobs.cli import main

    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def example_data() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _keda(d: dict[str, Any]) -> None:
    d["autoscaling"]["engine"] = "keda"


def _one_model_inflight(d: dict[str, Any]) -> None:
    d["models"] = d["models"][:1]
    d["models"][0]["scaling_signal"] = "inflight_requests"
    d["autoscaling"]["targets"] = {"inflight_requests": 6}


def _signal(name: str, target: float) -> Callable[[dict[str, Any]], None]:
    def patch(d: dict[str, Any]) -> None:
        for m in d["models"]:
            m["scaling_signal"] = name
        d["autoscaling"]["targets"] = {name: target}

    return patch


def _mixed_signals_triton_gpu(d: dict[str, Any]) -> None:
    d["models"][0]["scaling_signal"] = "waiting_requests"
    d["models"][1]["scaling_signal"] = "ttft_p90"
    d["autoscaling"]["targets"] = {"waiting_requests": 3, "ttft_p90": 1.5}
    d["monitoring"]["gpu_metrics"] = "triton"
    d["monitoring"]["adapter_install"] = "configmap"


def _keda_queue_ratio(d: dict[str, Any]) -> None:
    _keda(d)
    _signal("queue_compute_ratio", 1.0)(d)


def _vllm_backend(d: dict[str, Any]) -> None:
    """mistral7b on Triton's official vllm_backend (no engine gauges), scaling on TTFT."""
    d["triton"]["image"] = "nvcr.io/nvidia/tritonserver:24.12-vllm-python-py3"
    d["models"][1]["backend"] = "vllm"
    d["models"][1]["scaling_signal"] = "ttft_p90"
    d["autoscaling"]["targets"] = {"waiting_requests": 2, "ttft_p90": 1.5}


AMP_WORKSPACE = "ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d"


def _amp(**extra: str) -> Callable[[dict[str, Any]], None]:
    """Metrics in Amazon Managed Prometheus (us-west-2), with the AMP settings given."""

    def patch(d: dict[str, Any]) -> None:
        d["monitoring"]["backend"] = "amp"
        d["monitoring"]["amp"] = {"workspace_id": AMP_WORKSPACE, "region": "us-west-2", **extra}

    return patch


def _amp_keda(d: dict[str, Any]) -> None:
    _keda(d)
    _amp(keda_role_arn="arn:aws:iam::123456789012:role/keda-amp-query")(d)


def _predictive(d: dict[str, Any]) -> None:
    """The example with the predictive floor (default lookahead and headroom) and one warm node."""
    d["autoscaling"]["predictive"] = True
    d["gpu_pool"]["warm_nodes"] = 1


def _predictive_keda_inflight(d: dict[str, Any]) -> None:
    """KEDA, in-flight requests, a set lookahead and headroom, a 15 s scrape, two 2-GPU pods per node."""
    _keda(d)
    _signal("inflight_requests", 6)(d)
    d["autoscaling"].update(predictive=True, lookahead="6m", headroom=0.25)
    d["monitoring"]["scrape_interval"] = "15s"
    d["gpu_pool"].update(gpus_per_pod=2, warm_nodes=2)


# Golden variants: adapter vs keda, each signal, one model vs two, gpu series source, adapter install mode.
VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "example": lambda d: None,
    "keda": _keda,
    "one-model-inflight": _one_model_inflight,
    "ttft-p90": _signal("ttft_p90", 1.0),
    "queue-time-avg": _signal("queue_time_avg", 0.05),
    "queue-compute-ratio-keda": _keda_queue_ratio,
    "mixed-signals-triton-gpu": _mixed_signals_triton_gpu,
    "vllm-backend": _vllm_backend,
    "amp-keda": _amp_keda,
    "amp-adapter": _amp(adapter_role_arn="arn:aws:iam::123456789012:role/prometheus-adapter-amp"),
    "predictive": _predictive,
    "predictive-keda-inflight": _predictive_keda_inflight,
}


def variant_text(name: str) -> str:
    data = copy.deepcopy(example_data())
    VARIANTS[name](data)
    return yaml.safe_dump(data, sort_keys=False)


def variant_stack(name: str) -> Stack:
    return resolve(parse_spec(variant_text(name), file=f"{name}.yaml"))


@pytest.fixture(scope="session")
def example_stack() -> Stack:
    return resolve(parse_spec(EXAMPLE.read_text(), file="tritonobs.yaml"))
