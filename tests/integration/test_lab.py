"""The lab for real: Triton replicas on the simulated engine, a real Prometheus, real load, real cleanup.

The engine is shrunk so a few concurrent requests already queue (max_num_seqs 2) and sped up (time_scale
0.05), and answers are short (max_tokens 24): the whole module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, EXAMPLE, REPO
from tests.integration import ctrl_c_as_in_a_terminal
from tritonobs.core import catalogue as c
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.model import Stack, resolve
from tritonobs.core.spec_loader import load_spec
from tritonobs.lab import daemon
from tritonobs.lab.lab import Lab
from tritonobs.lab.procs import SHM_DIR, TRITON_SHM_PREFIX, alive, child_pids, processes_mentioning
from tritonobs.prom.client import PrometheusClient
from tritonobs.query_check import run_checks

pytestmark = pytest.mark.integration

SIM = {"time_scale": "0.05", "max_num_seqs": "2"}
REPOSITORY = REPO / "model_repository"


def _stack() -> Stack:
    return resolve(load_spec(EXAMPLE))


def _wait(predicate, timeout: float = 20.0, every: float = 0.25):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy (file_sd and scrapes are asynchronous); return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    return value


def _leftovers(workdir: Path, shm_prefixes: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    procs = processes_mentioning([str(workdir)])
    shm = [p.name for prefix in shm_prefixes for p in SHM_DIR.glob(prefix + "*")]
    return procs, shm


def _drive(lab: Lab, seconds: float, per_replica: int) -> int:
    """Closed-loop load on both models through the real load generator; returns successful requests."""
    from tritonobs.load.generator import LoadGenerator, LoadPlan
    from tritonobs.load.profiles import Constant
    from tritonobs.load.request import sampling_parameters

    async def go() -> int:
        n = per_replica * len(lab.grpc_urls)
        gens = [LoadGenerator(lab.grpc_urls, m, LoadPlan("closed", Constant(n), seconds, drain_s=10),
                              sampling=sampling_parameters(max_tokens=24)) for m in lab.models]
        results = await asyncio.gather(*(g.run() for g in gens))
        return sum(1 for r in results for rec in r.records if rec.ok)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(_stack(), replicas=2, model_repository=REPOSITORY, sim=SIM, backfill_seconds=600) as running:
        prefixes = [r.process.shm_prefix for r in running.targets]
        workdir = running.workdir
        yield running
    procs, shm = _leftovers(workdir, prefixes)
    assert procs == [] and shm == []
    assert not workdir.exists()


def test_prometheus_scrapes_both_replicas_as_pods(lab: Lab) -> None:
    client = PrometheusClient(lab.prometheus_url)
    pods = {r.pod for r in lab.targets}
    up = _wait(lambda: [s for s in client.query("up == 1") if s.labels.get("pod") in pods] if len(
        client.query("up == 1")) >= 2 else [])
    assert {s.labels["pod"] for s in up} == pods
    assert {s.labels["namespace"] for s in up} == {"triton-vllm"}
    assert {s.labels["job"] for s in up} == {lab.stack.spec.triton.metrics_service}
    gauges = _wait(lambda: client.query(f'{c.VLLM_WAITING.name}{{namespace="triton-vllm"}}'))
    assert {(s.labels["pod"], s.labels["model"]) for s in gauges} == {(p, m) for p in pods for m in lab.models}
    running = client.query(c.VLLM_RUNNING.name)
    assert len(running) == len(pods) * len(lab.models)
    # The stack's rendered rules are loaded and evaluate cleanly on the lab's series.
    def rules() -> list[dict[str, str]]:
        return [r for g in client.rule_groups() for r in g["rules"]]

    evaluated = _wait(lambda: (rs := rules()) and all(r["health"] == "ok" for r in rs) and rs)
    assert evaluated, [(r["name"], r["health"], r.get("lastError")) for r in rules()]
    records = {r["name"] for r in evaluated if r["type"] == "recording"}
    assert {u.signal.record for u in lab.stack.signals} <= records


def test_load_makes_requests_wait_and_every_query_has_data(lab: Lab) -> None:
    client = PrometheusClient(lab.prometheus_url)
    t0 = time.time()
    ok = _drive(lab, seconds=8.0, per_replica=6)  # 6 per model per replica vs a batch of 2: 4 must wait
    assert ok > 0
    time.sleep(2 * lab.stack.scrape_seconds)
    window = f"{int(time.time() - t0) + 2}s"
    peak = {s.labels["pod"]: s.value for s in client.query(
        f'max_over_time(sum by (pod) ({c.VLLM_WAITING.name}{{namespace="triton-vllm"}})[{window}:1s])')}
    assert set(peak) == {r.pod for r in lab.targets}
    assert all(v > 0 for v in peak.values()), peak
    # ... and under that load every dashboard panel and adapter rule returns data.
    results = run_checks(client, lab.stack, load_dashboards(DASHBOARDS), lookback=300)
    panels = [r for r in results if r.origin == "dashboard"]
    adapter = [r for r in results if r.origin == "adapter"]
    assert panels and adapter
    bad = [(r.where, r.status, r.detail, r.expr) for r in panels + adapter if not r.ok]
    assert bad == []
    assert all(r.per_pod == {p.pod: 1 for p in lab.targets} for r in adapter)
    assert [r for r in results if r.origin == "record" and not r.ok] == []


def test_add_and_remove_replica_update_targets(lab: Lab) -> None:
    client = PrometheusClient(lab.prometheus_url)
    added = lab.add_replica()
    assert added.grpc_url in lab.grpc_urls and len(lab.targets) == 3

    def scraped() -> set[str]:
        return {s.labels["pod"] for s in client.query('up{namespace="triton-vllm"} == 1')}

    assert added.pod in _wait(lambda: added.pod in scraped() and scraped())
    prefix = added.process.shm_prefix
    removed = lab.remove_replica(added.pod, drain=True)
    assert removed == added.pod and len(lab.targets) == 2
    assert _wait(lambda: added.pod not in {t["labels"].get("pod") for t in client.targets()})
    assert list(SHM_DIR.glob(prefix + "*")) == []
    assert not added.process.running()


def test_exception_inside_the_context_manager_cleans_up() -> None:
    prefixes: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), Lab(_stack(), replicas=1, model_repository=REPOSITORY, sim=SIM,
                                                         backfill_seconds=0, models=["llama2"]) as lab:
        workdir = lab.workdir
        prefixes = [r.process.shm_prefix for r in lab.targets]
        assert processes_mentioning([str(workdir)])  # really running
        raise RuntimeError("boom")
    assert _leftovers(workdir, prefixes) == ([], [])
    assert not workdir.exists()


def test_missing_prometheus_is_one_line_naming_apt(tmp_path: Path) -> None:
    from tritonobs.core.errors import ExternalError
    from tritonobs.lab.prometheus_process import PrometheusProcess

    with pytest.raises(ExternalError, match=r"apt-get install -y prometheus") as exc:
        PrometheusProcess(tmp_path, scrape_interval="1s", binary=str(tmp_path / "no-prometheus")).start()
    assert exc.value.exit_code == 3 and "\n" not in str(exc.value)


def test_sigint_to_lab_up_daemon_cleans_up(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "tritonobs", "lab", "up", "--spec", str(EXAMPLE), "--replicas", "1",
           "--run-dir", str(run_dir), "--model-repository", str(REPOSITORY)]
    up = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
                        preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        assert up.returncode == 0, up.stderr
        state = daemon.read_state(run_dir)
        assert state and state["status"] == "ready"
        pid = int(state["pid"])
        assert "Prometheus:" in up.stdout and state["lab"]["prometheus_url"] in up.stdout
        status = subprocess.run([sys.executable, "-m", "tritonobs", "lab", "status", "--run-dir", str(run_dir)],
                                capture_output=True, text=True, timeout=30, env={**env, "COLUMNS": "200"})
        assert status.returncode == 0 and state["lab"]["replicas"][0]["pod"] in status.stdout, status.stdout
        lab_dir = run_dir / daemon.LAB_SUBDIR
        assert processes_mentioning([str(lab_dir)])
        os.kill(pid, signal.SIGINT)
        assert _wait(lambda: not alive(pid), timeout=60)
        shm = f"{TRITON_SHM_PREFIX}tobs{pid}_"  # the replica's prefix carries the daemon's pid
        assert _leftovers(lab_dir, [shm]) == ([], [])
        assert not lab_dir.exists()
        assert (daemon.read_state(run_dir) or {})["status"] == "stopped"
    finally:
        daemon.stop(run_dir)  # a failed assertion must not leave a lab running
    down = subprocess.run([sys.executable, "-m", "tritonobs", "lab", "down", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert down.returncode == 0 and not run_dir.exists()
    status = subprocess.run([sys.executable, "-m", "tritonobs", "lab", "status", "--run-dir", str(run_dir)],
                            capture_output=True, text=True, timeout=30, env=env)
    assert status.returncode == 1 and "no lab running" in status.stderr


def test_lab_run_command_moves_the_gauges_and_checks_every_query(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    """`make lab` (`tritonobs lab run`): up, a step load, the signals per pod, check-queries, previews of every
    dashboard from the lab's data, down."""
    from tritonobs.cli import main

    before = set(child_pids(os.getpid()))
    report = tmp_path / "lab-report"
    with pytest.raises(SystemExit) as exc:
        main(["lab", "run", "--spec", str(EXAMPLE), "--replicas", "1", "--duration", "10s", "--previews", str(report)])
    out = capsys.readouterr().out
    assert exc.value.code == 0, out
    assert set(child_pids(os.getpid())) <= before  # every replica, stub and Prometheus is gone
    assert "lab down: every process stopped" in out
    ok = re.search(r"requests: (\d+) ok, (\d+) failed", out)
    assert ok and int(ok[1]) > 0 and int(ok[2]) == 0, out
    checks = re.search(r"check-queries: (\d+)/(\d+) ok", out)
    assert checks and checks[1] == checks[2] and int(checks[2]) > 0, out
    # 30 concurrent requests on an engine whose KV cache holds about 15 full answers: some had to wait.
    peak = re.search(r"peak value per pod during the run.*?…-lab-0 │\s+([\d.]+)", out, re.S)
    assert peak and float(peak[1]) > 0, out
    # the previews were drawn before the lab stopped, from its own Prometheus
    assert out.index("previews: 3 dashboards in") < out.index("lab down: every process stopped")
    assert sorted(p.name for p in report.iterdir()) == [
        "autoscaling.overview.png", "llm.overview.png", "previews.json", "triton-overview.overview.png"]
    panels = json.loads((report / "previews.json").read_text())["dashboards/llm.json"]["panels"]
    assert set(panels["Running requests"]) == {"llama2", "mistral7b"}, panels


def test_a_replica_that_dies_at_start_is_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first start fails (as a replica did once on CI: boost::interprocess lock_exception, exit -6): the lab
    retries on new ports; a replica that fails twice fails the lab with its reason, leaving nothing behind."""
    from tritonobs.core.errors import ExternalError
    from tritonobs.lab import lab as lab_module

    real = lab_module.start_replica
    attempts: list[str] = []

    def flaky(repository: Path, workdir: Path, **kw: object):  # type: ignore[no-untyped-def]
        attempts.append(workdir.name)
        if len(attempts) == 1:
            raise ExternalError("tritonserver http://127.0.0.1:1", "exited with code -6 before ready: lock_exception")
        return real(repository, workdir, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(lab_module, "start_replica", flaky)
    with Lab(_stack(), replicas=1, model_repository=REPOSITORY, sim=SIM, backfill_seconds=0, models=["llama2"]) as lab:
        pod = lab.targets[0].pod
        assert attempts == [pod, f"{pod}-retry"] and lab.targets[0].process.running()
        workdir = lab.workdir
    assert _leftovers(workdir, []) == ([], [])

    def broken(repository: Path, workdir: Path, **kw: object):  # type: ignore[no-untyped-def]
        raise ExternalError("tritonserver http://127.0.0.1:1", f"exited with code -6 before ready ({workdir.name})")

    monkeypatch.setattr(lab_module, "start_replica", broken)
    with pytest.raises(ExternalError, match=r"exited with code -6 before ready \(.*-retry\)"):
        Lab(_stack(), replicas=1, model_repository=REPOSITORY, sim=SIM, backfill_seconds=0).__enter__()


def test_two_labs_at_once_serve_and_shut_down_cleanly(tmp_path: Path) -> None:
    """Two `lab up` daemons side by side (each its own run dir, ports, shm prefix): `client --lab` and
    `check-queries --lab` reach the one named by --lab-dir; both stop cleanly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    dirs = [tmp_path / "one", tmp_path / "two"]
    tm = [sys.executable, "-m", "tritonobs"]
    ups = [subprocess.Popen([*tm, "lab", "up", "--spec", str(EXAMPLE), "--replicas", "1", "--run-dir", str(d),
                             "--model-repository", str(REPOSITORY)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path) for d in dirs]
    try:
        for up in ups:
            out, err = up.communicate(timeout=120)
            assert up.returncode == 0, err
            assert "gRPC:       127.0.0.1:" in out
        states = [daemon.read_state(d) or {} for d in dirs]
        assert len({s["lab"]["prometheus_url"] for s in states}) == 2
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("What is the capital of France?\n")
        for d, state in zip(dirs, states, strict=True):
            client = subprocess.run([*tm, "client", "--lab", "--lab-dir", str(d), "--model-name", "llama2",
                                     "--input-prompts", str(prompts), "--results-file", str(d / "results.txt"),
                                     "--max-tokens", "8"], capture_output=True, text=True, timeout=60, env=env)
            assert client.returncode == 0, client.stderr
            assert "1 of 1 requests ok" in client.stdout
            # ... and it went to this lab's replica.
            import urllib.request

            metrics = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                state["lab"]["replicas"][0]["metrics"], timeout=5).read().decode()
            assert 'nv_inference_request_success{model="llama2",version="1"} 1' in metrics
        checks = subprocess.run([*tm, "check-queries", "--lab", "--lab-dir", str(dirs[1]), "--spec", str(EXAMPLE),
                                 "--dashboards", str(DASHBOARDS), "-o", "json"], capture_output=True, text=True,
                                timeout=120, env=env)
        assert checks.returncode in (0, 1), checks.stderr  # 1: some panels need more load; it reached the lab
        assert states[1]["lab"]["prometheus_url"] not in checks.stderr
    finally:
        for d in dirs:
            daemon.stop(d)
    for d in dirs:
        assert processes_mentioning([str(d)]) == []
