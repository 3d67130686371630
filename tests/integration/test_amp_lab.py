# ruff: noqa: F811  (pytest fixtures imported from tests/kube/conftest.py are parameters here)
"""Amazon Managed Prometheus, end to end on one machine: the lab's real Prometheus (real Triton replicas on
the simulated engine) behind the SigV4-verifying proxy of tests/aws/sigv4_proxy.py, which serves it at an
AMP-shaped workspace URL. `check-queries`, `status` and `verify` read the same answers through the proxy
(signed from the standard AWS credential chain: environment keys here) as from the lab's Prometheus
directly; a wrong secret key is exit 3 naming the workspace URL, and no secret is ever printed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws.sigv4_proxy import MISMATCH, SigV4Proxy
from tests.conftest import DASHBOARDS, EXAMPLE, REPO
from tests.kube.conftest import (  # noqa: F401  (shared fixtures)
    cli,
    cluster_url,
    fake,
    kubeconfig,
    pod,
    stack_dir,
)
from tritonobs.core import catalogue as c
from tritonobs.core.model import resolve
from tritonobs.core.spec_loader import load_spec
from tritonobs.lab.lab import Lab
from tritonobs.prom.client import PrometheusClient
from tritonobs.prom.target import client_for
from tritonobs.verify import measures

pytestmark = pytest.mark.integration

WS = "ws-7c0e5b2a-91d4-4f3e-a8b6-2d5c9e1f4a07"
REGION = "us-west-2"
KEY_ID = "AKIATRITONOBSAMPLAB"
SECRET = "amp-lab-secret-access-key-do-not-print-42"
WRONG = "amp-lab-wrong-secret-key-do-not-print-99"


def _wait(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.25)
        value = predicate()
    return value


def _drive(lab: Lab, seconds: float) -> int:
    from tritonobs.load.generator import LoadGenerator, LoadPlan
    from tritonobs.load.profiles import Constant
    from tritonobs.load.request import sampling_parameters

    async def go() -> int:
        gens = [LoadGenerator(lab.grpc_urls, m, LoadPlan("closed", Constant(8), seconds, drain_s=10),
                              sampling=sampling_parameters(max_tokens=24)) for m in lab.models]
        results = await asyncio.gather(*(g.run() for g in gens))
        return sum(1 for r in results for rec in r.records if rec.ok)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    stack = resolve(load_spec(EXAMPLE))
    with Lab(stack, replicas=2, model_repository=REPO / "model_repository",
             sim={"time_scale": "0.05", "max_num_seqs": "2"}, backfill_seconds=600) as running:
        client = PrometheusClient(running.prometheus_url)
        assert _wait(lambda: len(client.query(f'{c.VLLM_WAITING.name}{{namespace="triton-vllm"}}')) == 4)
        assert _drive(running, 6.0) > 0  # so rates and histograms have data in every window
        yield running


@pytest.fixture
def proxy(lab: Lab) -> Iterator[SigV4Proxy]:
    with SigV4Proxy(lab.prometheus_url, WS, REGION, {KEY_ID: SECRET}) as p:
        yield p


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The standard chain, environment keys first (no profile, no metadata service)."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _rows(out: str) -> list[tuple[Any, ...]]:
    return sorted((r["origin"], r["where"], r["expr"], r["status"], r["ok"], r["provenance"],
                   json.dumps(r["per_pod"], sort_keys=True)) for r in json.loads(out))


def test_check_queries_same_answers_through_the_signing_proxy(lab: Lab, proxy: SigV4Proxy, aws_env, cli) -> None:
    args = ["check-queries", "--lab", "--spec", EXAMPLE, "--dashboards", DASHBOARDS, "-o", "json"]
    direct = cli(*args, "--prometheus", lab.prometheus_url)
    signed = cli(*args, "--prometheus", proxy.url, "--sigv4-region", REGION)
    assert direct.code == signed.code == 0, signed.text  # every query that should have data has it
    rows = _rows(direct.out)
    assert len(rows) > 50 and sum(r[3] == "data" for r in rows) > 40  # a real check (86 queries, 75 with data)
    assert _rows(signed.out) == rows
    assert proxy.rejected == [] and proxy.accepted >= len(rows)  # every query went through, signed
    assert SECRET not in signed.text

    aws_env.setenv("AWS_SECRET_ACCESS_KEY", WRONG)
    denied = cli(*args, "--prometheus", proxy.url, "--sigv4-region", REGION)
    assert denied.code == 3
    assert denied.err == f"error: {proxy.url}: HTTP 403 from /api/v1/series: access denied ({MISMATCH})\n"
    assert WRONG not in denied.text and SECRET not in denied.text and "Traceback" not in denied.text


def test_status_same_answers_through_the_signing_proxy(lab: Lab, proxy: SigV4Proxy, aws_env, cli, stack_dir,
                                                       kubeconfig) -> None:
    args = ["status", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake",
            "--triton-url", lab.targets[0].http_url, "-o", "json"]
    direct = cli(*args, "--prometheus-url", lab.prometheus_url)
    signed = cli(*args, "--prometheus-url", proxy.url, "--sigv4-region", REGION)
    assert direct.code == signed.code == 0, signed.text
    d, s = json.loads(direct.out), json.loads(signed.out)
    assert "error" not in s["alerts"] and s["alerts"].pop("url") == proxy.url
    assert d["alerts"].pop("url") == lab.prometheus_url
    assert s == d
    assert s["models"]["models"] == {"llama2": {"ready": 1, "checked": 1}, "mistral7b": {"ready": 1, "checked": 1}}
    assert proxy.accepted == 1 and SECRET not in signed.text

    aws_env.setenv("AWS_SECRET_ACCESS_KEY", WRONG)
    denied = cli(*args, "--prometheus-url", proxy.url, "--sigv4-region", REGION)
    assert denied.code == 0  # status reports each part on its own: the alerts part names the refusal
    assert json.loads(denied.out)["alerts"] == {
        "error": f"{proxy.url}: HTTP 403 from /api/v1/alerts: access denied ({MISMATCH})"}
    assert WRONG not in denied.text and SECRET not in denied.text


def _samples(out_dir: Path) -> list[dict[str, Any]]:
    doc = json.loads((out_dir / "report.json").read_text())
    return list(doc["timeline"]["samples"])


def test_verify_same_answers_through_the_signing_proxy(lab: Lab, proxy: SigV4Proxy, aws_env, cli, fake, stack_dir,
                                                       kubeconfig, tmp_path: Path) -> None:
    for replica in lab.targets:  # the cluster's pods are the lab's replicas (the names Prometheus labels)
        fake.seed("v1/pods", pod(replica.pod, True))
    args = ["verify", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--external-load",
            "--duration", "1s", "--interval", "0.5", "--settle", "1s"]
    direct = cli(*args, "--prometheus-url", lab.prometheus_url, "--out", tmp_path / "direct")
    signed = cli(*args, "--prometheus-url", proxy.url, "--sigv4-region", REGION, "--out", tmp_path / "signed")
    assert direct.code == signed.code, signed.text
    expected = [lab_waiting(lab)]
    ttft: dict[str, list[float]] = {}
    for run in ("direct", "signed"):
        samples = _samples(tmp_path / run)
        assert len(samples) >= 2
        # The signal verify computes from Prometheus: the adapter rule averaged over the lab's two pods.
        assert {s["signal_prometheus"] for s in samples} == set(expected), run
        ttft[run] = [s["ttft_p95"] for s in samples]
    # TTFT of the fixture's load, over the spec's 2-minute rate window, read through the proxy as directly. The
    # two runs sample at different instants (the window slides between them), so the values themselves are
    # compared below with every measure verify queries evaluated at one pinned instant.
    assert all(v is not None and v > 0 for v in ttft["direct"] + ttft["signed"]), ttft
    stack = resolve(load_spec(stack_dir.spec))
    pods = [r.pod for r in lab.targets]
    at = time.time()
    direct_client = PrometheusClient(lab.prometheus_url)
    signed_client = client_for(None, proxy.url, sigv4_region=REGION)
    for expr in (measures.ttft_quantile(stack, 0.95), measures.ttft_quantile(stack, 0.9),
                 measures.completed_per_second(stack), measures.adapter_query(stack, stack.signals[0], pods)):
        want = [(dict(x.labels), x.value) for x in direct_client.query(expr, at=at)]
        assert want, expr
        assert [(dict(x.labels), x.value) for x in signed_client.query(expr, at=at)] == want, expr
    assert proxy.rejected == [] and proxy.accepted >= 6 and SECRET not in signed.text

    aws_env.setenv("AWS_SECRET_ACCESS_KEY", WRONG)
    denied = cli(*args, "--prometheus-url", proxy.url, "--sigv4-region", REGION, "--out", tmp_path / "denied")
    assert denied.code == 3
    assert denied.err.strip() == f"error: {proxy.url}: HTTP 403 from /api/v1/query: access denied ({MISMATCH})"
    assert WRONG not in denied.text and SECRET not in denied.text
    assert not (tmp_path / "denied").exists()  # refused before anything was observed: no report


def lab_waiting(lab: Lab) -> float:
    """Waiting requests per pod now (no load: the same at every poll), summed over models, averaged over pods."""
    client = PrometheusClient(lab.prometheus_url)
    per_pod = client.query(f'sum by (pod) ({c.VLLM_WAITING.name}{{namespace="triton-vllm"}})')
    assert len(per_pod) == 2
    return sum(s.value for s in per_pod) / 2
