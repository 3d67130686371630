"""Facts about Triton's official vLLM backend (`backend: "vllm"` + model.json) that tritonobs relies on.

What it exports (triton-inference-server/vllm_backend src/utils/metrics.py, docs/facts.md): counters
vllm:prompt_tokens_total / vllm:generation_tokens_total and histograms of TTFT, time per output token and (24.09+)
end-to-end latency, labelled {model, version} - only when the config.pbtxt parameter REPORT_CUSTOM_METRICS is
"yes" (24.08-24.11) or "true" (24.12 on; a "yes" there silently turns them off). No running/waiting/KV-cache
gauges in any release, and no queue-time histogram.
"""

from __future__ import annotations

import re

REPORT_CUSTOM_METRICS = "REPORT_CUSTOM_METRICS"
# What stays empty for a model on the official backend, and what still works (for `validate`).
MISSING = ("running/waiting requests", "KV-cache usage", "time in vLLM's queue")
WORKS = ("TTFT / time per output token / end-to-end latency", "tokens per second", "TTFT SLO alerts")

_RELEASE = re.compile(r":(\d{2})\.(\d{2})")


def image_release(image: str) -> tuple[int, int] | None:
    """(year, month) of an NGC Triton image tag such as nvcr.io/nvidia/tritonserver:24.06-vllm-python-py3."""
    m = _RELEASE.search(image)
    return (int(m.group(1)), int(m.group(2))) if m else None


def custom_metrics_value(release: tuple[int, int]) -> str | None:
    """The REPORT_CUSTOM_METRICS value that turns the metrics on in this release (None: not supported)."""
    if release < (24, 8):
        return None
    return "yes" if release < (24, 12) else "true"
