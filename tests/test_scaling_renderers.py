"""Adapter rules, HPA and KEDA: the values that decide whether the HPA sees a metric at all."""

from __future__ import annotations

import pytest
from kubernetes.utils.quantity import parse_quantity

from tests.conftest import VARIANTS, variant_stack
from tritonobs.core.checks import series_names
from tritonobs.core.expand import expand_adapter, expand_grafana
from tritonobs.core.render import (
    ADAPTER_CONFIG_FILE,
    HPA_FILE,
    SCALEDOBJECT_FILE,
    adapter_rules,
    hpa,
    keda,
    render,
)
from tritonobs.core.render.quantity import quantity
from tritonobs.core.signals import SIGNALS


@pytest.mark.parametrize(("value", "text"), [(2.0, "2"), (0.05, "50m"), (1.5, "1500m"), (10, "10"), (0.001, "1m")])
def test_quantity_roundtrip(value: float, text: str) -> None:
    assert quantity(value) == text
    assert float(parse_quantity(text)) == pytest.approx(value)  # as the API server reads it


def test_quantity_rejects_sub_milli() -> None:
    with pytest.raises(ValueError, match="milli precision"):
        quantity(0.0005)


def test_adapter_rule_for_example() -> None:
    stack = variant_stack("example")
    (rule,) = adapter_rules.rules(stack)
    assert rule["seriesQuery"] == (
        'vllm:num_requests_waiting{namespace="triton-vllm", model=~"llama2|mistral7b", pod!=""}'
    )
    assert rule["metricsQuery"] == (
        'sum by (<<.GroupBy>>) (vllm:num_requests_waiting{<<.LabelMatchers>>, model=~"llama2|mistral7b"})'
    )
    assert rule["name"] == {"matches": "^vllm:num_requests_waiting$", "as": "tritonobs_waiting_requests"}
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_adapter_rule_groups_by_pod_and_parses(variant: str) -> None:
    stack = variant_stack(variant)
    if stack.spec.autoscaling.engine != "adapter":
        bundle = render(stack, [])
        assert bundle.adapter_rules == []
        assert ADAPTER_CONFIG_FILE not in {a.path for a in bundle.artifacts}
        return
    for rule in adapter_rules.rules(stack):
        mq = rule["metricsQuery"]
        assert "<<.LabelMatchers>>" in mq and "<<.GroupBy>>" in mq
        assert 'namespace="' in rule["seriesQuery"] and 'pod!=""' in rule["seriesQuery"]
        expanded = expand_adapter(mq, stack.namespace, ["p-1", "p-2"])
        assert 'namespace="triton-vllm",pod=~"p-1|p-2"' in expanded
        assert series_names(expanded)


def test_hpa_targets_and_behavior() -> None:
    stack = variant_stack("mixed-signals-triton-gpu")
    obj = hpa.hpa(stack)
    metrics = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in obj["spec"]["metrics"]}
    assert metrics == {
        "tritonobs_ttft_p90": {"type": "AverageValue", "averageValue": "1500m"},
        "tritonobs_waiting_requests": {"type": "AverageValue", "averageValue": "3"},
    }
    assert obj["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert obj["spec"]["behavior"]["scaleUp"]["policies"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15},
        {"type": "Pods", "value": 4, "periodSeconds": 15},
    ]
    assert obj["spec"]["scaleTargetRef"]["name"] == "nvidia-triton-server-triton-inference-server"


def test_keda_scaledobject() -> None:
    stack = variant_stack("keda")
    so = keda.scaled_object(stack)
    (trig,) = so["spec"]["triggers"]
    meta = trig["metadata"]
    assert meta["ignoreNullValues"] == "false"
    assert meta["threshold"] == "2"
    # On a metrics outage KEDA keeps the current replicas when above the fallback count (never scales down).
    assert so["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 2, "behavior": "currentReplicasIfHigher"}
    # Both act only between 0 and 1 replica; min_replicas >= 1, so they are not rendered.
    assert "cooldownPeriod" not in so["spec"] and "activationThreshold" not in meta
    assert so["spec"]["minReplicaCount"] == 1
    assert trig["metricType"] == "AverageValue"
    # One element: an outer sum without grouping over the per-pod expression.
    assert meta["query"].startswith("sum(sum by (pod) (vllm:num_requests_waiting{")
    paths = {a.path for a in render(stack, []).artifacts}
    assert SCALEDOBJECT_FILE in paths and HPA_FILE not in paths


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_signal_expressions_parse_and_use_catalogue(name: str) -> None:
    sig = SIGNALS[name]
    expr = sig.per_pod(['namespace="ns"', 'model=~"a|b"'], "2m", ["pod"])
    names = series_names(expr)
    assert names
    assert "1 +" not in expr and "avg(" not in expr


def test_queue_time_avg_is_ratio_of_sums_in_seconds() -> None:
    expr = SIGNALS["queue_time_avg"].per_pod(['namespace="ns"'], "2m", ["pod"])
    assert expr == (
        '((sum by (pod) (rate(nv_inference_queue_duration_us{namespace="ns"}[2m])))'
        ' / clamp_min(sum by (pod) (rate(nv_inference_request_success{namespace="ns"}[2m])), 1e-9)) / 1e6'
    )


def test_rate_window_is_four_scrapes() -> None:
    assert variant_stack("example").rate_window == "2m"


def test_expand_grafana_variables() -> None:
    assert expand_grafana('x{pod=~"$pod",ns="${namespace}"}[$__rate_interval]', {"pod": "a|b", "namespace": "n"}) == (
        'x{pod=~"a|b",ns="n"}[2m]'
    )


@pytest.mark.parametrize(
    ("url", "values", "adapter_flag"),
    [
        ("http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
         {"url": "http://kube-prometheus-stack-prometheus.monitoring.svc", "port": 9090, "path": ""},
         "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"),
        # No port: the scheme's, not the chart's default 9090 (the chart always appends `:<port>`).
        ("http://prometheus.monitoring.svc", {"url": "http://prometheus.monitoring.svc", "port": 80, "path": ""},
         "http://prometheus.monitoring.svc:80"),
        ("https://thanos.example.com/prometheus/",
         {"url": "https://thanos.example.com", "port": 443, "path": "/prometheus"},
         "https://thanos.example.com:443/prometheus"),
    ],
)
def test_helm_values_spell_out_the_prometheus_url(url: str, values: dict[str, object], adapter_flag: str) -> None:
    got = adapter_rules.prometheus_values(url)
    assert got == values
    # The chart's deployment template: --prometheus-url={{url}}{{if port}}:{{port}}{{end}}{{path}}
    assert f"{got['url']}:{got['port']}{got['path']}" == adapter_flag


def test_service_monitor_scrapes_only_the_metrics_service() -> None:
    from tritonobs.core.render import servicemonitor

    stack = variant_stack("example")
    sm = servicemonitor.service_monitor(stack)
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # kube-prometheus-stack selects by it
    assert sm["spec"]["selector"]["matchLabels"] == dict(sorted(stack.spec.triton.selector.items()))
    (endpoint,) = sm["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["interval"], endpoint["honorLabels"]) == ("metrics", "30s", False)
    # Another Service of the release with the same labels must not double-scrape the pods.
    assert endpoint["relabelings"] == [
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_service_name"],
         "regex": "nvidia-triton-server-triton-inference-server-metrics"}
    ]
