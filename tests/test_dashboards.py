"""Dashboards as code: house rules on every panel, the seed views, GPU source switch, uids, artifacts."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.conftest import DASHBOARDS, EXAMPLE, PROMTOOL, VARIANTS, example_data, variant_stack
from tritonobs.core import catalogue
from tritonobs.core.artifacts import DashboardSource
from tritonobs.core.checks import check_queries, series_names
from tritonobs.core.dashboards_loader import load_dashboards, load_one
from tritonobs.core.errors import UsageError
from tritonobs.core.expand import expand_grafana
from tritonobs.core.model import Stack, resolve
from tritonobs.core.queries import dashboard_queries
from tritonobs.core.render import dashboards as dash
from tritonobs.core.render import render, render_all
from tritonobs.core.render.dashboard_queries import counter_problems
from tritonobs.core.render.panels import Series, timeseries
from tritonobs.core.spec_loader import parse_spec

SOURCES = load_dashboards(DASHBOARDS)
SLUGS = ("autoscaling", "llm", "triton-overview")
CONCRETE = {"namespace": "triton-vllm", "pod": "pod-a|pod-b", "model": "llama2|mistral7b"}


def stack_with(patch: Callable[[dict[str, Any]], None]) -> Stack:
    data = copy.deepcopy(example_data())
    patch(data)
    return resolve(parse_spec(yaml.safe_dump(data), file="variant.yaml"))


def built(stack: Stack) -> dict[str, dict[str, Any]]:
    return {s.slug: dash.build_json(stack, s) for s in SOURCES}


def data_panels(d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (p for p in d["panels"] if p["type"] not in ("row", "text"))


def exprs(d: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in data_panels(d) for t in p["targets"]]


def panel(d: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [p for p in d["panels"] if p["title"] == title]
    return found


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[Stack, dict[str, dict[str, Any]]]:
    stack = variant_stack(request.param)
    return stack, built(stack)


def test_sources_are_the_three_dashboards() -> None:
    assert tuple(s.slug for s in SOURCES) == SLUGS


# --- house rules, over every spec variant ---


def test_every_panel_has_a_unit_and_a_description(variant: tuple[Stack, dict[str, dict[str, Any]]]) -> None:
    for slug, d in variant[1].items():
        for p in d["panels"]:
            if p["type"] == "row":
                continue
            assert p["description"].strip(), f"{slug} / {p['title']}: no description"
            if p["type"] != "text":
                assert p["fieldConfig"]["defaults"]["unit"].strip(), f"{slug} / {p['title']}: no unit"
                assert p["targets"], f"{slug} / {p['title']}: no query"


def _counters_outside_rate(expr: str) -> list[str]:
    """Independent of counter_problems: walk with parents; a counter selector must be the matrix argument
    of rate() over $__rate_interval (2m after expansion) or of increase() over $__range (1h)."""
    bad: list[str] = []
    allowed = {"rate": 120, "increase": 3600}

    def visit(node: Any, parents: tuple[Any, ...]) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            metric = catalogue.lookup(node.name or "")
            if metric and metric.type in ("counter", "histogram"):
                ok = (
                    len(parents) >= 2
                    and isinstance(parents[-1], promql_parser.MatrixSelector)
                    and isinstance(parents[-2], promql_parser.Call)
                    and parents[-2].func.name in allowed
                    and parents[-1].range.total_seconds() == allowed[parents[-2].func.name]
                )
                if not ok:
                    bad.append(node.name)
            return
        children: list[Any] = []
        for attr_name in ("args", "expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr_name, None)
            children += child if isinstance(child, list) else [child] if child is not None else []
        for child in children:
            visit(child, (*parents, node))

    visit(promql_parser.parse(expand_grafana(expr, CONCRETE)), ())
    return bad


def test_every_counter_is_rated(variant: tuple[Stack, dict[str, dict[str, Any]]]) -> None:
    for slug, d in variant[1].items():
        for e in exprs(d):
            assert _counters_outside_rate(e) == [], f"{slug}: {e}"
            assert counter_problems(e) == [], f"{slug}: {e}"
            windows = set(re.findall(r"\[([^\]]+)\]", e))
            assert windows <= {"$__rate_interval", "$__range"}, f"{slug}: fixed window in {e}"


def test_queries_parse_and_use_only_catalogued_metrics(
    variant: tuple[Stack, dict[str, dict[str, Any]]],
) -> None:
    for slug, d in variant[1].items():
        queries = list(dashboard_queries(d))
        assert len(queries) == len(exprs(d)) > 5
        assert check_queries(queries, recorded=set()) == [], slug
        for q in queries:
            # Only label_replace's capture references ($1) may remain: Grafana leaves unknown names alone.
            assert not re.search(r"\$(?!\d)", expand_grafana(q.expr, CONCRETE)), q.expr
            promql_parser.parse(expand_grafana(q.expr, CONCRETE))


def test_divisions_are_guarded_and_averages_summed_first(
    variant: tuple[Stack, dict[str, dict[str, Any]]],
) -> None:
    for slug, d in variant[1].items():
        for p in data_panels(d):
            for e in (t["expr"] for t in p["targets"]):
                assert "1 +" not in e and "+ 1)" not in e, f"{slug}: biased division in {e}"
                assert not re.search(r"avg[^(]*\(\s*rate", e), f"{slug}: average of rates in {e}"
                if "duration_us" in e:
                    assert " / clamp_min(sum by (" in e, f"{slug}: unguarded or unsummed division: {e}"
                if p["fieldConfig"]["defaults"]["unit"] == "ms":
                    assert e.endswith(" / 1000") and "duration_us" in e, f"{slug}: µs -> ms not explicit: {e}"


def test_variable_queries_use_catalogued_metrics(variant: tuple[Stack, dict[str, dict[str, Any]]]) -> None:
    for d in variant[1].values():
        for v in d["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.+), (\w+)\)", v["query"])
            if v["type"] == "query":
                assert m, v["query"]
                for name in series_names(expand_grafana(m.group(1), CONCRETE)):
                    assert catalogue.lookup(name) is not None, name


# --- the seed's four views ---

QUEUE_MS = (
    '((sum by (model) (rate(nv_inference_queue_duration_us{namespace="$namespace", pod=~"$pod", model=~"$model"}'
    "[$__rate_interval]))) / clamp_min(sum by (model) (rate(nv_inference_request_success"
    '{namespace="$namespace", pod=~"$pod", model=~"$model"}[$__rate_interval])), 1e-9)) / 1000'
)


def test_seed_views(example_stack: Stack) -> None:
    d = built(example_stack)["triton-overview"]
    power = panel(d, "Average GPU power")
    assert power["type"] == "gauge"
    assert power["fieldConfig"]["defaults"]["unit"] == "watt"
    assert power["fieldConfig"]["defaults"]["max"] == example_stack.spec.alerts.gpu_power_limit_watts
    (power_expr,) = [t["expr"] for t in power["targets"]]
    # dcgm-exporter's pod labels, direct or (honorLabels false) as exported_*: both are read.
    assert power_expr.startswith("avg(")
    assert 'DCGM_FI_DEV_POWER_USAGE{namespace="$namespace", pod=~"$pod"}' in power_expr
    assert 'DCGM_FI_DEV_POWER_USAGE{exported_namespace="$namespace", exported_pod=~"$pod"}' in power_expr

    queue = panel(d, "Queue time per request")
    assert (queue["type"], queue["fieldConfig"]["defaults"]["unit"]) == ("timeseries", "ms")
    assert [t["expr"] for t in queue["targets"]] == [QUEUE_MS]

    compute = panel(d, "Compute time per request")
    assert (compute["type"], compute["fieldConfig"]["defaults"]["unit"]) == ("timeseries", "ms")
    assert [t["expr"] for t in compute["targets"]] == [
        QUEUE_MS.replace("queue_duration", "compute_infer_duration")
    ]

    total = panel(d, "Inference requests")
    assert (total["type"], total["fieldConfig"]["defaults"]["unit"]) == ("stat", "short")
    assert total["targets"][0]["instant"] is True
    assert total["targets"][0]["expr"] == (
        'sum by (model) (increase(nv_inference_request_success{namespace="$namespace", pod=~"$pod", '
        'model=~"$model"}[$__range]))'
    )
    # The decoupled-model caveat is on the dashboard, not only in DESIGN.md.
    note = panel(d, "About Triton timings")
    assert note["type"] == "text" and "execute()" in note["options"]["content"]
    assert "execute()" in queue["description"]


def test_overview_covers_requests_gpu_and_cpu(example_stack: Stack) -> None:
    d = built(example_stack)["triton-overview"]
    failed = panel(d, "Failed requests by reason")
    assert "sum by (model, reason) (rate(nv_inference_request_failure{" in failed["targets"][0]["expr"]
    assert panel(d, "Successful requests")["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert (
        "nv_inference_pending_request_count" in panel(d, "Pending requests in Triton")["targets"][0]["expr"]
    )
    for title, unit in [
        ("GPU utilisation", "percentunit"),
        ("GPU memory", "bytes"),
        ("GPU energy", "joule"),
        ("CPU utilisation", "percentunit"),
        ("CPU memory", "bytes"),
    ]:
        assert panel(d, title)["fieldConfig"]["defaults"]["unit"] == unit, title


def test_gpu_series_follow_gpu_metrics_setting(example_stack: Stack) -> None:
    triton_stack = variant_stack("mixed-signals-triton-gpu")
    assert (example_stack.spec.monitoring.gpu_metrics, triton_stack.spec.monitoring.gpu_metrics) == (
        "dcgm",
        "triton",
    )
    gpu_titles = ("Average GPU power", "GPU utilisation", "GPU memory", "GPU power", "GPU energy")
    for stack, present, absent in [(example_stack, "DCGM_FI_", "nv_gpu_"), (triton_stack, "nv_", "DCGM_FI_")]:
        d = built(stack)["triton-overview"]
        for title in gpu_titles:
            names = {
                n
                for t in panel(d, title)["targets"]
                for n in series_names(expand_grafana(t["expr"], CONCRETE))
            }
            assert names and all(n.startswith(present) for n in names), (title, names)
            assert not any(n.startswith(absent) for n in names)
    dcgm = built(example_stack)["triton-overview"]
    triton = built(triton_stack)["triton-overview"]
    # Units are normalised: DCGM percent -> ratio, MiB -> bytes, mJ -> J.
    assert panel(dcgm, "GPU utilisation")["targets"][0]["expr"].endswith(" / 100")
    assert panel(dcgm, "GPU memory")["targets"][0]["expr"].endswith(" * 1048576")
    assert panel(dcgm, "GPU energy")["targets"][0]["expr"].endswith(" / 1000")
    assert panel(triton, "GPU utilisation")["targets"][0]["expr"] == (
        'max by (pod, gpu_uuid) (nv_gpu_utilization{namespace="$namespace", pod=~"$pod"})'
    )


# --- LLM and autoscaling views ---


def test_llm_rows_per_model_with_slo_line(example_stack: Stack) -> None:
    d = built(example_stack)["llm"]
    for m in example_stack.spec.models:
        ttft = panel(d, f"{m.name}: time to first token")
        steps = ttft["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1]["value"] == m.slo.ttft_p95_seconds
        assert ttft["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
        assert [t["legendFormat"] for t in ttft["targets"]] == ["p50", "p90", "p95", "p99"]
        assert ttft["targets"][2]["expr"] == (
            "histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket"
            f'{{namespace="$namespace", pod=~"$pod", model="{m.name}"}}[$__rate_interval])))'
        )
        for title in ("time per output token", "end-to-end latency"):
            assert all(
                t["expr"].startswith("histogram_quantile(") for t in panel(d, f"{m.name}: {title}")["targets"]
            )
    kv_now = panel(d, "KV-cache usage now")
    assert kv_now["type"] == "bargauge"
    assert (kv_now["fieldConfig"]["defaults"]["unit"], kv_now["fieldConfig"]["defaults"]["max"]) == (
        "percentunit",
        1,
    )
    assert (
        kv_now["options"]["fieldOptions"]["defaults"]["unit"] == "percentunit"
    )  # grafanalib's legacy block agrees
    for title in (
        "Prompt tokens",
        "Generated tokens",
        "Running requests",
        "Waiting requests",
        "KV-cache usage",
    ):
        assert 'model=~"$model"' in panel(d, title)["targets"][0]["expr"]


def test_llm_slo_comes_from_the_spec() -> None:
    stack = stack_with(lambda d: d["models"][1]["slo"].update(ttft_p95_seconds=0.75))
    ttft = panel(built(stack)["llm"], "mistral7b: time to first token")
    assert ttft["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.75


# The HPA's per-pod expression with the dashboard's namespace and pod variables, written out by hand.
_WAITING = 'sum by (pod) (vllm:num_requests_waiting{namespace="$namespace", pod=~"$pod", model=~"llama2|mistral7b"})'
SIGNAL_PANEL_EXPR = {
    ("example", "waiting_requests"): _WAITING,
    ("keda", "waiting_requests"): _WAITING,
    ("mixed-signals-triton-gpu", "waiting_requests"):
        'sum by (pod) (vllm:num_requests_waiting{namespace="$namespace", pod=~"$pod", model="llama2"})',
    ("mixed-signals-triton-gpu", "ttft_p90"):
        '(histogram_quantile(0.9, sum by (le, pod) (rate(vllm:time_to_first_token_seconds_bucket{namespace="$namespace", '
        'pod=~"$pod", model="mistral7b"}[$__rate_interval]))) >= 0) or on (pod) ((sum by (pod) '
        '(vllm:num_requests_waiting{namespace="$namespace", pod=~"$pod", model="mistral7b"}) > bool 0) * 2560)',
}


@pytest.mark.parametrize("name", ["example", "keda", "mixed-signals-triton-gpu"])
def test_autoscaling_signals_hpa_and_pool(name: str) -> None:
    stack = variant_stack(name)
    d = built(stack)["autoscaling"]
    for use in stack.signals:
        p = panel(d, f"{use.signal.title} (target {use.target:g})")
        assert p["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == use.target
        assert p["fieldConfig"]["defaults"]["unit"] == use.signal.unit
        assert p["targets"][0]["expr"] == SIGNAL_PANEL_EXPR[(name, use.name)]
        assert p["targets"][1]["legendFormat"] == "average over pods (HPA)"
    hpa = panel(d, "Replicas")
    assert [t["legendFormat"] for t in hpa["targets"]] == ["current", "desired", "min", "max"]
    assert all(f'horizontalpodautoscaler="{stack.effective_hpa_name}"' in t["expr"] for t in hpa["targets"])
    if name == "keda":
        assert stack.effective_hpa_name.startswith("keda-hpa-")
    nodes = panel(d, "Nodes in the GPU pool")["targets"][0]["expr"]
    assert nodes == 'count(kube_node_labels{label_NodeGroupType="g5-gpu-karpenter"})'
    claims = panel(d, "Karpenter node claims created")["targets"][0]["expr"]
    assert 'rate(karpenter_nodeclaims_created_total{nodepool="g5-gpu-karpenter"}[$__rate_interval])' in claims
    assert panel(d, "Instance launch failures")["fieldConfig"]["defaults"]["unit"] == "cpm"


def test_mixed_signals_get_one_panel_each() -> None:
    stack = variant_stack("mixed-signals-triton-gpu")
    d = built(stack)["autoscaling"]
    titles = [p["title"] for p in d["panels"] if "target" in p["title"]]
    assert titles == ["TTFT p90 per pod (target 1.5)", "Waiting requests per pod (target 3)"]
    ttft = panel(d, "TTFT p90 per pod (target 1.5)")["targets"][0]["expr"]
    assert 'model="mistral7b"' in ttft and "histogram_quantile(0.9" in ttft


# --- dashboard-level: variables, layout, uids, determinism ---


def test_variables_and_metadata(example_stack: Stack) -> None:
    for slug, d in built(example_stack).items():
        v = {x["name"]: x for x in d["templating"]["list"]}
        assert list(v) == ["datasource", "namespace", "model", "pod"]
        assert (v["datasource"]["type"], v["datasource"]["query"]) == ("datasource", "prometheus")
        assert v["datasource"]["current"]["value"] == example_stack.spec.monitoring.grafana.datasource_uid
        assert v["namespace"]["current"]["value"] == "triton-vllm"
        for name in ("model", "pod"):
            assert v[name]["multi"] and v[name]["includeAll"], name
            assert v[name]["current"]["value"] == ["$__all"]
        assert "tritonobs" in d["tags"] and d["uid"] == example_stack.dashboard_uid(slug)
        assert d["description"].startswith("generated by tritonobs")
        assert d["editable"] is False
        for p in data_panels(d):
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["datasource"] == p["datasource"] for t in p["targets"])
            assert all(t["interval"] == example_stack.spec.monitoring.scrape_interval for t in p["targets"])


def test_datasource_default_follows_the_spec() -> None:
    stack = stack_with(lambda d: d["monitoring"]["grafana"].update(datasource_uid="thanos"))
    for d in built(stack).values():
        assert d["templating"]["list"][0]["current"]["value"] == "thanos"


def test_layout_ids_and_grid(example_stack: Stack) -> None:
    for slug, d in built(example_stack).items():
        panels = d["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
        cells: set[tuple[int, int]] = set()
        for p in panels:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, (slug, p["title"])
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{slug}: {p['title']} overlaps another panel"
            cells |= mine


def test_uids_stable_across_runs_and_distinct_between_stacks(example_stack: Stack) -> None:
    first = render_all(example_stack, SOURCES)
    again = render_all(example_stack, load_dashboards(DASHBOARDS))
    assert first == again
    uids = {slug: d["uid"] for slug, d in built(example_stack).items()}
    assert len(set(uids.values())) == len(SLUGS)
    assert uids["llm"] == "tobs-" + hashlib.sha256(b"triton-vllm/llm").hexdigest()[:12]

    other = stack_with(lambda d: d["metadata"].update(name="other-stack"))
    other_uids = {slug: d["uid"] for slug, d in built(other).items()}
    assert not set(other_uids.values()) & set(uids.values())


# --- artifacts and ConfigMaps ---


def test_render_writes_json_and_configmaps(example_stack: Stack) -> None:
    bundle = render(example_stack, SOURCES)
    artifacts = {a.path: a.content for a in bundle.artifacts if a.path.startswith("dashboards/")}
    assert sorted(artifacts) == sorted(
        [f"dashboards/{s}.json" for s in SLUGS] + [f"dashboards/kubernetes/{s}.configmap.yaml" for s in SLUGS]
    )
    objs = {o["metadata"]["name"]: o for o in bundle.objects if o["kind"] == "ConfigMap"}
    assert sorted(objs) == [f"triton-vllm-dashboard-{s}" for s in SLUGS]
    for slug in SLUGS:
        cm = objs[f"triton-vllm-dashboard-{slug}"]
        assert cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "tritonobs",
            "app.kubernetes.io/part-of": "triton-vllm",
            "grafana_dashboard": "1",
        }
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Triton"}
        assert cm["data"] == {f"{slug}.json": artifacts[f"dashboards/{slug}.json"]}
        assert json.loads(cm["data"][f"{slug}.json"]) == dash.build_json(
            example_stack, next(s for s in SOURCES if s.slug == slug)
        )
        assert yaml.safe_load(artifacts[f"dashboards/kubernetes/{slug}.configmap.yaml"]) == cm


# --- the rule enforcement and bad sources ---


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('sum(nv_inference_request_success{model=~"$model"})', "without rate"),
        ("rate(nv_inference_request_success[5m])", "must use the window [$__rate_interval]"),
        ("increase(nv_inference_request_success[$__rate_interval])", "must use the window [$__range]"),
        ("rate(vllm:num_requests_waiting[$__rate_interval])", "not a counter"),
        ("max_over_time(vllm:prompt_tokens_total[$__rate_interval])", "without rate"),
        ("histogram_quantile(0.9, sum by (le) (vllm:time_to_first_token_seconds_bucket))", "without rate"),
    ],
)
def test_counter_rule_catches(expr: str, problem: str) -> None:
    problems = counter_problems(expr)
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(ValueError, match=re.escape(problem)):
        timeseries("bad", unit="short", description="d", series=[Series(expr)])


def test_panel_helpers_require_unit_and_description() -> None:
    ok = Series("sum(vllm:num_requests_waiting)")
    with pytest.raises(ValueError, match="unit is required"):
        timeseries("t", unit=" ", description="d", series=[ok])
    with pytest.raises(ValueError, match="description is required"):
        timeseries("t", unit="short", description="", series=[ok])
    with pytest.raises(TypeError):
        timeseries("t", series=[ok])  # type: ignore[call-arg]


RAW_COUNTER_SOURCE = """\
from tritonobs.core import catalogue as c
from tritonobs.core.render.panels import Section, Series, dashboard, timeseries


def build(stack):
    bad = timeseries(
        "raw", unit="short", description="d", series=[Series(str(c.NV_REQUEST_SUCCESS))]
    )
    return dashboard(stack, "broken", title="t", description="d", sections=[Section("s", [bad])])
"""


def test_broken_sources_give_located_usage_errors(tmp_path: Path, example_stack: Stack) -> None:
    syntax = tmp_path / "syntax.dashboard.py"
    syntax.write_text("def build(stack):\n    return (\n")
    with pytest.raises(UsageError) as e:
        load_one(syntax)
    assert e.value.file == str(syntax) and e.value.line == 2

    raw = tmp_path / "raw.dashboard.py"
    raw.write_text(RAW_COUNTER_SOURCE)
    source = load_one(raw)
    with pytest.raises(UsageError) as e:
        dash.build_json(example_stack, source)
    assert (e.value.file, e.value.line) == (str(raw), 6)
    assert "nv_inference_request_success" in str(e.value) and str(e.value).startswith(f"{raw}:6: ")

    wrong = DashboardSource(slug="wrong", build=lambda stack: {"title": "not grafanalib"})
    with pytest.raises(UsageError, match="not grafanalib.core.Dashboard"):
        dash.build_json(example_stack, wrong)


def test_cli_render_with_broken_source_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tritonobs.cli import main

    spec = tmp_path / "tritonobs.yaml"
    spec.write_text(EXAMPLE.read_text())
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "raw.dashboard.py").write_text(RAW_COUNTER_SOURCE)
    with pytest.raises(SystemExit) as e:
        main(["render", "--spec", str(spec)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "raw.dashboard.py:6: " in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "raw.dashboard.py",
        "tritonobs.yaml",
    ]


# --- values: the panels' PromQL evaluated by the real Prometheus engine (promtool test rules) ---

DEPLOYMENT = "nvidia-triton-server-triton-inference-server"
POD_A, POD_B = f"{DEPLOYMENT}-5d8f7-a", f"{DEPLOYMENT}-5d8f7-b"
VALUE_VARS = {"namespace": "triton-vllm", "pod": f"{POD_A}|{POD_B}", "model": "llama2|mistral7b"}


def _series(name: str, pod: str, values: str, **labels: str) -> dict[str, str]:
    all_labels = {"namespace": "triton-vllm", "pod": pod, **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


# 41 samples, 30 s apart (0..20 min); evaluated at 20 min with $__rate_interval=2m and $__range=1h.
INPUT_SERIES = [
    # Queue: 100 000 µs/s on pod A only; successes 0.5/s on each pod -> 100 ms per request.
    _series("nv_inference_queue_duration_us", POD_A, "0+3000000x40", model="llama2"),
    _series("nv_inference_queue_duration_us", POD_B, "0+0x40", model="llama2"),
    _series("nv_inference_compute_infer_duration_us", POD_A, "0+600000x40", model="llama2"),
    _series("nv_inference_compute_infer_duration_us", POD_B, "0+600000x40", model="llama2"),
    _series("nv_inference_request_success", POD_A, "0+15x40", model="llama2"),
    # Pod B restarts at 10 min: 285 before, 300 after; the range total must survive the reset.
    _series("nv_inference_request_success", POD_B, "0+15x19 0+15x20", model="llama2"),
    _series("DCGM_FI_DEV_FB_USED", POD_A, "1024x40", gpu="0", UUID="GPU-0"),
    _series("DCGM_FI_DEV_FB_FREE", POD_A, "3072x40", gpu="0", UUID="GPU-0"),
    _series("DCGM_FI_DEV_GPU_UTIL", POD_A, "50x40", gpu="0", UUID="GPU-0"),
    _series("DCGM_FI_DEV_POWER_USAGE", POD_A, "200x40", gpu="0", UUID="GPU-0"),
    _series("DCGM_FI_DEV_POWER_USAGE", POD_A, "100x40", gpu="1", UUID="GPU-1"),
    _series("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", POD_A, "0+3000000x40", gpu="0", UUID="GPU-0"),
    # Pod B's GPU as scraped through a ServiceMonitor with honorLabels false (the gpu-operator default):
    # namespace/pod name the exporter, exported_namespace/exported_pod the GPU's user.
    *(
        _series(name, "nvidia-dcgm-exporter-q9v4m", values, namespace="gpu-operator", gpu="0", UUID="GPU-B0",
                exported_namespace="triton-vllm", exported_pod=POD_B)
        for name, values in (
            ("DCGM_FI_DEV_GPU_UTIL", "80x40"),
            ("DCGM_FI_DEV_POWER_USAGE", "300x40"),
            ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "0+1500000x40"),
        )
    ),
    # Another namespace's GPU, in both label forms: never counted.
    _series("DCGM_FI_DEV_POWER_USAGE", POD_A, "900x40", namespace="other-team", gpu="3", UUID="GPU-X3"),
    _series("DCGM_FI_DEV_POWER_USAGE", "nvidia-dcgm-exporter-h3c8d", "900x40", namespace="gpu-operator", gpu="2",
            UUID="GPU-X2", exported_namespace="other-team", exported_pod=POD_A),
    # TTFT: every first token between 0.5 s and 1 s -> p50 interpolates to 0.75 s.
    *(
        _series("vllm:time_to_first_token_seconds_bucket", POD_A, values, model="llama2", le=le)
        for le, values in (("0.5", "0x40"), ("1", "0+2x40"), ("2", "0+2x40"), ("+Inf", "0+2x40"))
    ),
    _series("vllm:num_requests_waiting", POD_A, "3x40", model="llama2"),
    _series("vllm:num_requests_waiting", POD_A, "1x40", model="mistral7b"),
    _series("vllm:num_requests_waiting", POD_B, "2x40", model="llama2"),
    # Two kube-state-metrics replicas report the same HPA: the panel must not double it.
    *(
        {
            "series": f'kube_horizontalpodautoscaler_status_desired_replicas{{namespace="triton-vllm", '
            f'horizontalpodautoscaler="{DEPLOYMENT}", instance="{ksm}"}}',
            "values": "3x40",
        }
        for ksm in ("ksm-0", "ksm-1")
    ),
    *(
        {"series": f'kube_node_labels{{node="{node}", label_NodeGroupType="{group}"}}', "values": "1x40"}
        for node, group in (("n1", "g5-gpu-karpenter"), ("n2", "g5-gpu-karpenter"), ("n3", "system"))
    ),
    {"series": 'karpenter_nodeclaims_created_total{nodepool="g5-gpu-karpenter"}', "values": "0+1x40"},
]

# (dashboard, panel title, query index, expected samples as {labels: value})
EXPECTED: list[tuple[str, str, int, dict[str, float]]] = [
    ("triton-overview", "Queue time per request", 0, {'{model="llama2"}': 100}),
    ("triton-overview", "Compute time per request", 0, {'{model="llama2"}': 40}),
    ("triton-overview", "Inference requests", 0, {'{model="llama2"}': 600 + 585}),
    ("triton-overview", "Successful requests", 0, {'{model="llama2"}': 1}),
    ("triton-overview", "Average GPU power", 0, {"{}": (200 + 100 + 300) / 3}),
    ("triton-overview", "GPU utilisation", 0, {f'{{gpu="0", pod="{POD_A}"}}': 0.5, f'{{gpu="0", pod="{POD_B}"}}': 0.8}),
    ("triton-overview", "GPU power", 0, {f'{{gpu="0", pod="{POD_A}"}}': 200, f'{{gpu="1", pod="{POD_A}"}}': 100,
                                         f'{{gpu="0", pod="{POD_B}"}}': 300}),
    ("triton-overview", "GPU memory", 0, {f'{{gpu="0", pod="{POD_A}"}}': 1024 * 2**20}),
    ("triton-overview", "GPU memory", 1, {f'{{gpu="0", pod="{POD_A}"}}': 4096 * 2**20}),
    ("triton-overview", "GPU energy", 0, {"{}": 40 * 3000 + 40 * 1500}),
    ("llm", "llama2: time to first token", 0, {"{}": 0.75}),
    ("llm", "Waiting requests", 0, {'{model="llama2"}': 5, '{model="mistral7b"}': 1}),
    (
        "autoscaling",
        "Waiting requests per pod (target 2)",
        0,
        {f'{{pod="{POD_A}"}}': 4, f'{{pod="{POD_B}"}}': 2},
    ),
    ("autoscaling", "Waiting requests per pod (target 2)", 1, {"{}": 3}),
    ("autoscaling", "Replicas", 1, {"{}": 3}),
    ("autoscaling", "Nodes in the GPU pool", 0, {"{}": 2}),
    ("autoscaling", "Karpenter node claims created", 0, {'{nodepool="g5-gpu-karpenter"}': 2}),
]


@pytest.mark.integration
def test_panel_values_in_the_prometheus_engine(example_stack: Stack, tmp_path: Path) -> None:
    import subprocess

    promtool = PROMTOOL
    dashboards = built(example_stack)
    expr_tests = []
    for slug, title, index, samples in EXPECTED:
        expr = panel(dashboards[slug], title)["targets"][index]["expr"]
        expr_tests.append(
            {
                "expr": expand_grafana(expr, VALUE_VARS),
                "eval_time": "20m",
                "exp_samples": [{"labels": labels, "value": value} for labels, value in samples.items()],
            }
        )
    suite = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": INPUT_SERIES, "promql_expr_test": expr_tests}],
    }
    (tmp_path / "values.test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    run = subprocess.run(
        [promtool, "test", "rules", "values.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


DATACLASS_SOURCE = """\
from __future__ import annotations

from dataclasses import dataclass

from tritonobs.core.render.panels import Section, Series, dashboard, timeseries


@dataclass(frozen=True)
class Row:
    title: str


def build(stack):
    row = Row("waiting")
    panel = timeseries(row.title, unit="short", description="d", series=[Series("sum(vllm:num_requests_waiting)")])
    return dashboard(stack, "dc", title="t", description="d", sections=[Section(row.title, [panel])])
"""


def test_a_source_may_define_dataclasses(tmp_path: Path, example_stack: Stack) -> None:
    """A source is loaded like an imported module: a dataclass in it works (it needs sys.modules)."""
    path = tmp_path / "dc.dashboard.py"
    path.write_text(DATACLASS_SOURCE)
    built_json = dash.build_json(example_stack, load_one(path))
    assert [p["title"] for p in built_json["panels"]] == ["waiting", "waiting"]
