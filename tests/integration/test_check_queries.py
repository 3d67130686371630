"""check-queries against a real Prometheus: adapter expansion as upstream does it, per-pod exactness,
synthetic series marked, exit codes (1 no data, 3 unreachable)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, EXAMPLE
from tritonobs import backfill
from tritonobs.cli import main
from tritonobs.core import catalogue as c
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.expand import expand_adapter
from tritonobs.core.model import Stack
from tritonobs.core.queries import Query
from tritonobs.core.render import adapter_rules
from tritonobs.lab.lab_stack import lab_pod_name, lab_variant
from tritonobs.lab.procs import free_port, processes_mentioning
from tritonobs.lab.prometheus_process import PrometheusProcess
from tritonobs.prom.client import PrometheusClient
from tritonobs.query_check import _adapter_check, run_checks


def test_expand_adapter_follows_upstream_metrics_query_build() -> None:
    # pkg/naming/metrics_query.go: LabelEq for one name, LabelMatches for several, namespace first.
    mq = "sum by (<<.GroupBy>>) (m{<<.LabelMatchers>>, model=\"a\"})"
    assert expand_adapter(mq, "ns", ["p-1"]) == 'sum by (pod) (m{namespace="ns",pod="p-1", model="a"})'
    assert expand_adapter(mq, "ns", ["p-1", "p-2"]) == 'sum by (pod) (m{namespace="ns",pod=~"p-1|p-2", model="a"})'
    assert expand_adapter("x{<< .LabelMatchers >>} by (<< .GroupBy >>)", "ns", ["a"]) == 'x{namespace="ns",pod="a"} by (pod)'
    with pytest.raises(ValueError):
        expand_adapter(mq, "ns", [])


def test_unreachable_prometheus_exits_3_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(SystemExit) as exc:
        main(["check-queries", "--prometheus", url, "--spec", str(EXAMPLE), "--dashboards", str(DASHBOARDS)])
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert url in err and "unreachable" in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:9090", "ftp://127.0.0.1:9090"])
def test_a_prometheus_url_that_is_not_http_is_exit_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check-queries", "--prometheus", url, "--spec", str(EXAMPLE), "--dashboards", str(DASHBOARDS)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: Prometheus URL {url!r}: expected http(s)://HOST:PORT, e.g. http://127.0.0.1:9090\n"


def _vllm_lines(stack: Stack, pods: list[str], start: float, end: float) -> str:
    """Two models per pod, as the lab's replicas expose them, with the scrape's target labels."""
    lines = [f"# TYPE {c.VLLM_WAITING.name} gauge"]
    for i, pod in enumerate(pods):
        for j, model in enumerate(stack.model_names):
            labels = f'job="lab",model="{model}",namespace="{stack.namespace}",pod="{pod}",version="1"'
            t = start
            while t <= end:
                lines.append(f"{c.VLLM_WAITING.name}{{{labels}}} {i * 10 + j + 1} {t:.3f}")
                t += 1.0
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusClient, Stack, float, list[str]]]:
    """A real Prometheus holding synthetic GPU/cluster series and vLLM waiting gauges (no Triton)."""
    from tritonobs.core.model import resolve
    from tritonobs.core.spec_loader import load_spec

    stack = lab_variant(resolve(load_spec(EXAMPLE)))
    run = tmp_path_factory.mktemp("prom")
    pods = [lab_pod_name(stack, i) for i in range(2)]
    end = float(int(time.time()) - 1)
    start = end - 600
    gpu = backfill.openmetrics(stack, [backfill.LabPod(p, stack.namespace, "127.0.0.1:1", f"n{i}") for i, p in
                                       enumerate(pods)], start, end, 1.0)
    text = gpu.removesuffix("# EOF\n") + _vllm_lines(stack, pods, start, end) + "# EOF\n"
    prom = PrometheusProcess(run, scrape_interval="1s")
    try:
        backfill.backfill(text, prom.tsdb_dir)
        prom.start()
        yield prom.client(), stack, end, pods
    finally:
        prom.stop()
        assert not processes_mentioning([str(run)])


@pytest.mark.integration
def test_adapter_rule_one_value_per_pod(backfilled: tuple[PrometheusClient, Stack, float, list[str]]) -> None:
    client, stack, end, pods = backfilled
    results = run_checks(client, stack, [], now=end)
    (adapter,) = [r for r in results if r.origin == "adapter"]
    assert adapter.ok and adapter.status == "data"
    assert adapter.per_pod == {pods[0]: 1, pods[1]: 1}
    assert f'pod=~"{pods[0]}|{pods[1]}"' in adapter.expr
    values = {s.labels["pod"]: s.value for s in client.query(adapter.expr, at=end)}
    assert values == {pods[0]: 1 + 2, pods[1]: 11 + 12}  # summed over the two models


@pytest.mark.integration
def test_adapter_rule_without_aggregation_is_flagged(backfilled: tuple[PrometheusClient, Stack, float, list[str]]) -> None:
    client, stack, end, pods = backfilled
    (rule,) = adapter_rules.rules(stack)
    bad = Query("adapter", "no-sum", f"{c.VLLM_WAITING.name}{{<<.LabelMatchers>>}}")
    result = _adapter_check(client, stack, bad, rule["seriesQuery"], end)
    assert not result.ok
    assert result.per_pod == {pods[0]: 2, pods[1]: 2}  # one series per model: the HPA would get one at random
    assert f"{pods[0]}: 2 values" in result.detail


@pytest.mark.integration
def test_dashboards_read_synthetic_gpu_series(backfilled: tuple[PrometheusClient, Stack, float, list[str]]) -> None:
    client, stack, end, _ = backfilled
    results = run_checks(client, stack, load_dashboards(DASHBOARDS), now=end)
    gpu = [r for r in results if r.origin == "dashboard" and "DCGM_FI_DEV_POWER_USAGE" in r.expr]
    assert gpu and all(r.status == "data" and r.provenance == "synthetic" for r in gpu)
    hpa = [r for r in results if r.origin == "dashboard" and c.KSM_HPA_CURRENT.name in r.expr]
    assert hpa and all(r.status == "data" for r in hpa)
    # No Triton here: Triton's own panels have nothing, and are reported as such, not hidden.
    triton = [r for r in results if r.origin == "dashboard" and c.NV_REQUEST_SUCCESS.name in r.expr]
    assert triton and all(r.status == "empty" and not r.ok for r in triton)


@pytest.mark.integration
def test_cli_json_and_exit_1(backfilled: tuple[PrometheusClient, Stack, float, list[str]],
                             capsys: pytest.CaptureFixture[str]) -> None:
    client, _, _, _ = backfilled
    with pytest.raises(SystemExit) as exc:
        main(["check-queries", "--prometheus", client.url, "--lab", "--spec", str(EXAMPLE),
              "--dashboards", str(DASHBOARDS), "-o", "json"])
    assert exc.value.code == 1  # Triton series are missing
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert {"origin", "where", "expr", "status", "ok", "provenance", "per_pod"} <= set(rows[0])
    assert {r["origin"] for r in rows} >= {"dashboard", "adapter"}
    assert any(r["status"] == "data" and r["provenance"] == "synthetic" for r in rows)
    assert "queries failed" in captured.err


def test_packaged_spec_is_used_without_a_local_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonobs.lab.example import example_spec_path, find_spec

    monkeypatch.chdir(tmp_path)
    assert find_spec(None) == (example_spec_path(), True)
    (tmp_path / "tritonobs.yaml").write_text("x")
    assert find_spec(None) == (Path("tritonobs.yaml"), False)
