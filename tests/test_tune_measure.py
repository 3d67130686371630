"""Measuring tune's steps from request records and gauge polls: hand-computed windows."""

from __future__ import annotations

import pytest

from tritonobs.load.results import RequestRecord
from tritonobs.tune.drive import gauges, measure


def rec(start: float, first: float | None, end: float, tokens: int, ok: bool = True) -> RequestRecord:
    return RequestRecord("r", "u", "llama2", start, first, end, tokens, ok)


def test_measure_windows_and_tokens() -> None:
    # two steps of 3 s: measured on [1, 3) and [4, 6)
    records = [
        rec(0.5, 1.5, 2.5, 10),  # TTFT 1.0, 10 tokens over [1.5, 2.5): all in step 0's window
        rec(1.0, 2.0, 4.0, 20),  # TTFT 1.0, tokens over [2, 4): half in [2, 3), none in [4, 6)
        rec(3.5, 4.5, 5.5, 10),  # TTFT 1.0 in step 1
        rec(4.0, 5.0, 5.5, 4),  # TTFT 1.0
        rec(4.0, None, 5.0, 0, ok=False),
    ]
    polls = [(0.5, {"waiting_requests": 9.0}), (1.5, {"waiting_requests": 1.0}), (2.5, {"waiting_requests": 3.0}),
             (4.5, {"waiting_requests": 5.0})]
    s0, s1 = measure([2, 4], 3.0, records, polls)
    assert s0.concurrency == 2 and s0.requests == 2 and s0.ttft_p95 == 1.0
    assert s0.tokens_per_s == pytest.approx((10 + 10) / 2)
    assert s0.signals == {"waiting_requests": 2.0}  # polls at 1.5 and 2.5 only
    assert s1.requests == 2 and s1.failed == 1
    assert s1.tokens_per_s == pytest.approx((10 + 4) / 2)
    assert s1.signals == {"waiting_requests": 5.0}


def test_gauges_of_one_model() -> None:
    text = "\n".join([
        "# HELP vllm:num_requests_waiting waiting",
        'vllm:num_requests_waiting{model="llama2",version="1"} 3',
        'vllm:num_requests_running{model="llama2",version="1"} 4',
        'vllm:num_requests_waiting{model="mistral7b",version="1"} 7',
    ])
    assert gauges(text, "llama2") == {"waiting_requests": 3.0, "inflight_requests": 7.0}
