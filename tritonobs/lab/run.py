"""`tritonobs lab run`: bring the lab up, drive a short step load, show the signals per pod, tear down.

The load is closed loop (a concurrency schedule), low -> well above what the replicas' KV caches hold ->
low, so the vLLM gauges visibly move: requests wait inside the engine while Triton's own queue stays empty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tritonobs.core.model import Stack
from tritonobs.core.render import DashboardSource
from tritonobs.lab.engine import LabEngine
from tritonobs.lab.lab import Lab
from tritonobs.lab.observe import fmt, signals_by_pod, wait_scraped
from tritonobs.load.profiles import Step
from tritonobs.prom.client import PrometheusClient
from tritonobs.prom.query_check import CheckResult, run_checks

# What the live table shows besides the stack's own scaling signals.
WATCHED = ("waiting_requests", "inflight_requests")
LOW_PER_REPLICA = 2
HIGH_PER_REPLICA = 30  # about twice the ~15 sequences a simulated A10G KV cache holds with 512-token answers


@dataclass
class RunOutcome:
    prometheus_url: str
    peaks: dict[str, dict[str, float]] = field(default_factory=dict)  # signal -> pod -> max seen
    requests_ok: int = 0
    requests_failed: int = 0
    checks: list[CheckResult] = field(default_factory=list)


def _profile(replicas: int, duration: float) -> Step:
    n = max(replicas, 1)
    return Step(LOW_PER_REPLICA * n, ((duration * 0.15, HIGH_PER_REPLICA * n), (duration * 0.75, LOW_PER_REPLICA * n)))


def _table(lab: Lab, names: Sequence[str], values: dict[str, dict[str, float]], inflight: dict[str, int],
           elapsed: float, sent: int, ok: int, failed: int, target: float) -> Group:
    t = Table(title=f"signals per pod (Prometheus {lab.prometheus_url}, scrape {lab.stack.spec.monitoring.scrape_interval})")
    t.add_column("pod", no_wrap=True)
    t.add_column("client in-flight", justify="right")
    for name in names:
        t.add_column(name, justify="right")
    for r in lab.targets:
        row = [_short(lab, r.pod), str(inflight.get(r.grpc_url, 0))]
        row += [fmt(values.get(name, {}).get(r.pod)) for name in names]
        t.add_row(*row)
    t.caption = f"pod …-lab-N = {lab.stack.spec.triton.deployment}-lab-N"
    head = Text(f"t={elapsed:5.1f}s  step concurrency {target:g}  sent {sent}  ok {ok}  failed {failed}")
    return Group(head, t)


async def _drive(lab: Lab, model: str, duration: float, console: Console, outcome: RunOutcome) -> None:
    """The step load on `model`; every other model gets a steady trickle so its panels have data too."""
    from tritonobs.load.generator import LoadGenerator, LoadPlan
    from tritonobs.load.profiles import Constant

    n = max(len(lab.targets), 1)
    gens = [LoadGenerator(lab.grpc_urls, model, LoadPlan("closed", _profile(n, duration), duration, drain_s=15.0))]
    gens += [LoadGenerator(lab.grpc_urls, other, LoadPlan("closed", Constant(n), duration, drain_s=15.0))
             for other in lab.models if other != model]
    client = PrometheusClient(lab.prometheus_url)
    names = list(dict.fromkeys([*WATCHED, *(u.name for u in lab.stack.signals)]))
    tasks = [asyncio.create_task(g.run()) for g in gens]
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while not all(t.done() for t in tasks):
            values = await asyncio.to_thread(signals_by_pod, client, lab.stack, names, lab.models)
            for name, pods in values.items():
                peak = outcome.peaks.setdefault(name, {})
                for pod, v in pods.items():
                    if v == v:  # NaN never becomes a peak
                        peak[pod] = max(peak.get(pod, 0.0), v)
            inflight: dict[str, int] = {}
            for g in gens:
                for url, k in g.inflight_by_target().items():
                    inflight[url] = inflight.get(url, 0) + k
            s = [g.stats() for g in gens]
            live.update(_table(lab, names, values, inflight, s[0].elapsed_s, sum(x.sent for x in s),
                               sum(x.ok for x in s), sum(x.failed for x in s), s[0].schedule_value))
            await asyncio.wait(set(tasks), timeout=1.0)
    console.print()
    for t in tasks:
        records = t.result().records
        outcome.requests_ok += sum(1 for r in records if r.ok)
        outcome.requests_failed += sum(1 for r in records if not r.ok)


def run_lab(stack: Stack, *, model_repository: Path, dashboards: Sequence[DashboardSource], replicas: int = 2,
            duration: float = 30.0, model: str | None = None, check: bool = True,
            console: Console | None = None, engine: LabEngine | None = None,
            on_done: Callable[[str], object] | None = None) -> RunOutcome:
    console = console or Console()
    engine = engine or LabEngine()
    t0 = time.monotonic()
    with console.status(f"starting the lab ({engine.describe()})") as status:
        lab = Lab(stack, replicas=replicas, model_repository=model_repository, engine=engine,
                  on_event=lambda msg: status.update(f"[{time.monotonic() - t0:4.1f}s] {msg}"))
        lab.__enter__()
    try:
        console.print(f"lab up in {time.monotonic() - t0:.1f}s: Prometheus [bold]{lab.prometheus_url}[/] "
                      f"(targets: {', '.join(r.pod for r in lab.targets)})")
        _wait_for_targets(lab, console)
        outcome = RunOutcome(lab.prometheus_url)
        target_model = model or lab.models[0]
        console.print(f"driving {duration:g}s of closed-loop load: {target_model} steps {LOW_PER_REPLICA} -> "
                      f"{HIGH_PER_REPLICA} -> {LOW_PER_REPLICA} concurrent per replica; other models 1 per replica")
        started = time.monotonic()
        try:
            asyncio.run(_drive(lab, target_model, duration, console, outcome))
        except KeyboardInterrupt:
            console.print(f"\ninterrupted after {time.monotonic() - started:.0f}s of load: no summary; "
                          "tearing the lab down", markup=False)
            raise
        if check:
            with console.status("check-queries under the load just driven"):
                outcome.checks = run_checks(PrometheusClient(lab.prometheus_url), lab.stack, dashboards,
                                            lookback=max(120.0, duration * 3))
        _summary(lab, outcome, console)
        if on_done is not None:  # e.g. previews drawn from the lab's data, while its Prometheus still runs
            on_done(lab.prometheus_url)
        return outcome
    finally:
        with console.status("tearing down"):
            lab.__exit__(None, None, None)
        console.print("lab down: every process stopped, run directory removed")


def _wait_for_targets(lab: Lab, console: Console, timeout: float = 20.0) -> None:
    """file_sd is applied every ~5 s: wait until Prometheus scrapes every replica."""
    with console.status("waiting for Prometheus to scrape every replica"):
        wait_scraped(PrometheusClient(lab.prometheus_url), lab.stack, (r.pod for r in lab.targets), timeout)


def _short(lab: Lab, pod: str) -> str:
    """Pod names repeat the Deployment's long name; the table shows what tells them apart."""
    prefix = lab.stack.spec.triton.deployment
    return "…" + pod.removeprefix(prefix) if pod.startswith(prefix) else pod


def _summary(lab: Lab, outcome: RunOutcome, console: Console) -> None:
    t = Table(title="peak value per pod during the run")
    t.add_column("pod", no_wrap=True)
    names = list(outcome.peaks)
    for name in names:
        t.add_column(name, justify="right")
    for pod in sorted({p for v in outcome.peaks.values() for p in v}):
        t.add_row(_short(lab, pod), *(fmt(outcome.peaks[name].get(pod)) for name in names))
    console.print(t)
    console.print(f"requests: {outcome.requests_ok} ok, {outcome.requests_failed} failed")
    if outcome.checks:
        bad = [c for c in outcome.checks if not c.ok]
        synthetic = sum(1 for c in outcome.checks if c.provenance != "live")
        console.print(f"check-queries: {len(outcome.checks) - len(bad)}/{len(outcome.checks)} ok "
                      f"({synthetic} read synthetic GPU/cluster series)")
        for c in bad:
            console.print(f"  [red]{c.origin} {c.where}: {c.status} {c.detail}[/]")
    console.print("The lab stops now, and its Prometheus with it. To keep one running and look at it: "
                  "`tritonobs lab up`, then `tritonobs check-queries --lab`, `tritonobs load --lab ...`; "
                  "`tritonobs lab down` stops it.")
