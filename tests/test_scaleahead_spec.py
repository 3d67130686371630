"""Spec fields of scaling ahead (autoscaling.predictive/lookahead/headroom, gpu_pool.warm_nodes): defaults,
derived values in the resolved model, and located errors."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE
from tritonobs.core.errors import SpecError
from tritonobs.core.model import resolve
from tritonobs.core.spec_loader import parse_spec

TEXT = EXAMPLE.read_text()
AFTER_MAX = "  max_replicas: 5\n"  # line 43 of the example
AFTER_LOAD = "  model_load_seconds: 180\n"  # line 70


def spec_with(autoscaling: str = "", pool: str = "", text: str = TEXT) -> str:
    assert AFTER_MAX in text and AFTER_LOAD in text
    return text.replace(AFTER_MAX, AFTER_MAX + autoscaling).replace(AFTER_LOAD, AFTER_LOAD + pool)


def test_defaults_example() -> None:
    sa = resolve(parse_spec(TEXT)).scale_ahead
    assert sa.predictive is False
    assert sa.cold_start_seconds == 510  # 90 + 240 + 180 in the example's gpu_pool
    assert sa.lookahead_seconds == 510
    assert sa.warm_start_seconds == 180
    assert sa.headroom == 0.2
    # max(510 s, 10 scrapes x 30 s), a whole number of scrapes
    assert sa.forecast_window_seconds == 510
    assert sa.floors == ()
    assert (sa.warm_nodes, sa.warm_pods, sa.warm_monthly_usd) == (0, 0, 0)


def test_predictive_floor_values() -> None:
    text = spec_with("  predictive: true\n  lookahead: 12m\n  headroom: 0.25\n", "  warm_nodes: 2\n")
    sa = resolve(parse_spec(text)).scale_ahead
    assert sa.lookahead_seconds == 720
    assert sa.forecast_window_seconds == 720  # one lookahead
    (floor,) = sa.floors
    assert (floor.signal, floor.target, floor.capacity) == ("waiting_requests", 2.0, 1.5)
    assert floor.models == ("llama2", "mistral7b")
    assert floor.external_metric == "tritonobs_waiting_requests_floor"
    assert (sa.warm_nodes, sa.warm_pods) == (2, 2)
    assert sa.warm_monthly_usd == pytest.approx(2 * 8.144 * 730)  # 11,890.24 USD


def test_window_at_least_ten_scrapes() -> None:
    sa = resolve(parse_spec(spec_with("  predictive: true\n  lookahead: 2m\n"))).scale_ahead
    assert sa.forecast_window_seconds == 300  # 10 x 30 s beats 2m
    text = spec_with("  predictive: true\n  lookahead: 100s\n").replace("scrape_interval: 30s", "scrape_interval: 7s")
    assert resolve(parse_spec(text)).scale_ahead.forecast_window_seconds == 105  # 100 s in whole 7 s scrapes


def test_capacity_floored_to_milli() -> None:
    text = spec_with("  predictive: true\n  headroom: 0.333\n")
    (floor,) = resolve(parse_spec(text)).scale_ahead.floors
    assert floor.capacity == 1.334  # 2 x 0.667, exactly representable at milli precision


def test_warm_pods_fill_whole_nodes() -> None:
    text = spec_with("", "  warm_nodes: 1\n").replace("  gpus_per_pod: 4\n", "  gpus_per_pod: 2\n")
    text = text.replace("    gpu: 1\n", "    gpu: 1\n")
    sa = resolve(parse_spec(text)).scale_ahead
    assert (sa.warm_nodes, sa.warm_pods) == (1, 2)  # two 2-GPU Triton pods fit one 4-GPU node


BAD = {
    "headroom-one": (spec_with("  headroom: 1.0\n"), "x.yaml:44: autoscaling.headroom: must be at least 0 and below 1 (got 1.0): the spare share of a replica's target, e.g. 0.2 keeps each replica at 80% of it"),
    "headroom-negative": (spec_with("  headroom: -0.1\n"), "x.yaml:44: autoscaling.headroom: must be at least 0 and below 1 (got -0.1): the spare share of a replica's target, e.g. 0.2 keeps each replica at 80% of it"),
    "lookahead-zero": (spec_with("  lookahead: 0s\n"), "x.yaml:44: autoscaling.lookahead: must be > 0 (got '0s'): write e.g. 8m, or remove it to look ahead one cold start, or set predictive: false"),
    "lookahead-two-hours": (spec_with("  lookahead: 2h\n"), "x.yaml:44: autoscaling.lookahead: '2h' is longer than 1h: a linear forecast that far ahead extrapolates noise; write the pool's cold start (e.g. 9m)"),
    "lookahead-no-unit": (spec_with("  lookahead: 10 minutes\n"), "x.yaml:44: autoscaling.lookahead: not a duration (got '10 minutes'): write a number and a unit, e.g. 30s, 5m, 1h"),
    "predictive-quoted": (spec_with("  predictive: 'yes'\n"), "x.yaml:44: autoscaling.predictive: Input should be a valid boolean (got 'yes'): write true or false, without quotes"),
    "warm-nodes-negative": (spec_with("", "  warm_nodes: -1\n"), "x.yaml:71: gpu_pool.warm_nodes: Input should be greater than or equal to 0"),
    "warm-nodes-beyond-max": (spec_with("", "  warm_nodes: 6\n"), "x.yaml:71: gpu_pool.warm_nodes: 6 warm nodes exceed the 5 node(s) that max_replicas (5) Triton pods can fill: the rest would never be used; lower it"),
    "predictive-on-latency": (
        spec_with("  predictive: true\n").replace("scaling_signal: waiting_requests", "scaling_signal: ttft_p90")
        .replace("    waiting_requests: 2\n", "    ttft_p90: 1\n"),
        "x.yaml:44: autoscaling.predictive: needs a model scaling on a signal that adds up over pods (waiting_requests or inflight_requests); in use: ttft_p90 (latencies have no total to forecast): change a model's scaling_signal or set predictive: false",
    ),
    "headroom-leaves-nothing": (
        spec_with("  predictive: true\n  headroom: 0.9999\n"),
        "x.yaml:45: autoscaling.headroom: headroom 0.9999 leaves no capacity below the waiting_requests target 2 at milli precision: lower the headroom or raise the target",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad(name: str) -> None:
    text, expected = BAD[name]
    with pytest.raises(SpecError) as err:
        parse_spec(text, file="x.yaml")
    assert str(err.value) == expected
    assert err.value.exit_code == 2
