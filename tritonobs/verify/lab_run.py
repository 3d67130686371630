"""`tritonobs verify --lab`: a scaling verification run on this machine.

The lab (real Prometheus, real Triton replicas on the simulated engine) starts with min replicas; the load
generator drives the profile against the Ready replicas only; the lab autoscaler (HPA engine + g5 pool model)
scales them; a sampler records the timeline. Every spec duration is divided by the time factor.

The simulated engine is tuned for scaling runs (`SCALING_SIM`): a small batch and short answers, so one
replica saturates at a few requests per second and the machine's 2 cores can serve five replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tritonobs.core import measures
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack
from tritonobs.core.timeline import RunInfo, Sample, Timeline
from tritonobs.lab.autoscaler import LabAutoscaler
from tritonobs.lab.engine import LabEngine
from tritonobs.lab.lab import Lab
from tritonobs.lab.observe import wait_scraped
from tritonobs.load.generator import LoadGenerator, LoadPlan, Mode
from tritonobs.load.profiles import Profile, Step
from tritonobs.load.request import sampling_parameters
from tritonobs.prom.client import PrometheusClient, QueryError

# One replica: 4 sequences per batch, 32-token answers at real-time speed -> ~1 s per request, ~4 requests/s.
SCALING_SIM = {"sim_time_scale": "1.0", "sim_max_num_seqs": "4"}
MAX_TOKENS = 32


@dataclass(frozen=True)
class LabVerifyOptions:
    profile: Profile
    duration_s: float
    mode: Mode = "open"  # "open": profile in requests/s; "closed": concurrency
    time_factor: float = 10.0
    model: str | None = None
    max_tokens: int = MAX_TOKENS
    connections: int = 2
    sample_s: float = 1.0
    settle_s: float | None = None  # after the load: wait this long at most for min replicas
    model_repository: Path = Path("model_repository")
    workdir: Path | None = None  # the lab's run directory (default: a temporary one); removed afterwards
    # The simulation tuned for scaling runs, unless the real vLLM is chosen (`--engine vllm`).
    engine: LabEngine = field(default_factory=lambda: LabEngine(sim=dict(SCALING_SIM)))
    capacity: float | None = None  # per-replica load at the SLO (tune's knee); None: from the signal's target
    policy: str = ""  # --compare: the policy this run stands for


def engine_batch(engine: LabEngine) -> int | None:
    """The engine's batch limit (sequences per step), when the lab sets it."""
    if engine.kind == "vllm":
        return engine.max_num_seqs
    value = engine.sim.get("sim_max_num_seqs")
    return int(value) if value is not None else None


def cold_start_seconds(stack: Stack, factor: float) -> float:
    """Order -> serving for an added replica on a new node (lab seconds)."""
    pool = stack.spec.gpu_pool
    return (pool.node_launch_seconds + pool.image_pull_seconds + pool.model_load_seconds) / factor


def run_info(stack: Stack, opts: LabVerifyOptions, profile_text: str, started_at: float) -> RunInfo:
    from dataclasses import replace

    from tritonobs.verify.score import capacity_from_signal

    # The lab scales with the HPA the adapter path renders, whatever the engine (see _drive).
    info = measures.run_info(stack, mode="lab", hpa=stack.hpa_name, profile=profile_text, started_at=started_at,
                             time_factor=opts.time_factor)
    use = stack.signals[0]
    capacity = opts.capacity or capacity_from_signal(use.name, use.target, opts.mode, engine_batch(opts.engine))
    from tritonobs.core.config import duration_seconds
    from tritonobs.lab.lab_stack import lab_variant

    return replace(info, capacity_per_replica=capacity, cold_start_seconds=cold_start_seconds(stack, opts.time_factor),
                   policy=opts.policy, ttft_window_seconds=duration_seconds(lab_variant(stack).rate_window))


def settle_seconds(stack: Stack, opts: LabVerifyOptions) -> float:
    """How long to wait after the load for the return to min: its budget plus node consolidation."""
    if opts.settle_s is not None:
        return opts.settle_s
    real = stack.spec.budgets.return_to_min_seconds + stack.spec.gpu_pool.consolidate_after_seconds
    return real / opts.time_factor + 5.0


def lab_time(stack: Stack, factor: float) -> Stack:
    """The stack with the predictive floor's lookahead in lab time (the lab scales every spec duration; the
    forecast window follows from it and the lab's 1 s scrape)."""
    from tritonobs.core.model import resolve

    auto = stack.spec.autoscaling
    if not auto.predictive or factor == 1:
        return stack
    seconds = max(1, round(stack.scale_ahead.lookahead_seconds / factor))
    return resolve(stack.spec.model_copy(update={"autoscaling": auto.model_copy(update={"lookahead": f"{seconds}s"})}))


def run_lab_verify(
    stack: Stack,
    opts: LabVerifyOptions,
    timeline: Timeline,
    on_sample: Callable[[Sample, str], None] | None = None,
) -> None:
    """Run the lab and fill `timeline`. Ctrl-C (KeyboardInterrupt) propagates after the lab is torn down;
    the timeline then holds everything seen so far."""
    # A real vLLM engine is heavy on a CPU: with it, the replicas serve only the model the load drives.
    models = [opts.model or stack.model_names[0]] if opts.engine.kind == "vllm" else None
    stack = lab_time(stack, opts.time_factor)
    with Lab(stack, opts.workdir, replicas=0, model_repository=opts.model_repository, engine=opts.engine,
             backfill_seconds=0, models=models) as lab:
        asyncio.run(_drive(lab, opts, timeline, on_sample or (lambda s, line: None)))


async def _drive(lab: Lab, opts: LabVerifyOptions, tl: Timeline, on_sample: Callable[[Sample, str], None]) -> None:
    stack = lab.stack
    t0 = time.monotonic()
    scaler = LabAutoscaler(lab, stack, tl, time_factor=opts.time_factor, t0=t0)
    prom = PrometheusClient(lab.prometheus_url, timeout=5.0)
    stop = asyncio.Event()
    min_replicas = stack.spec.autoscaling.min_replicas
    if stack.spec.autoscaling.engine == "keda":
        tl.event(0.0, "note", "keda", "KEDA's polling and cooldown are not modelled: the lab scales with the "
                 "HPA the prometheus-adapter path renders, on the same signal and target")
    await scaler.warm(min_replicas)
    await asyncio.to_thread(wait_scraped, prom, stack, scaler.pool.ready_pod_names())
    # Requests still queued when the send window closes are served by whatever replicas exist then.
    plan = LoadPlan(opts.mode, opts.profile, opts.duration_s, drain_s=settle_seconds(stack, opts))
    gen = LoadGenerator(scaler.ready_urls(), opts.model or lab.models[0], plan,
                        sampling=sampling_parameters(opts.max_tokens), connections_per_target=opts.connections)
    scaler.on_targets = gen.set_targets
    scaler.inflight = lambda url: gen.inflight_by_target().get(url, 0)
    load_task = asyncio.create_task(gen.run())
    scaler_task = asyncio.create_task(scaler.run(stop))
    load_t0 = scaler.now()
    tl.event(load_t0, "load_start", value=opts.profile.value_at(0))
    steps = list(opts.profile.changes) if isinstance(opts.profile, Step) else []
    stopped_at: float | None = None
    # Without Prometheus the run can only fail: once the outage is past its budget, stop and say so.
    budget_s = stack.spec.budgets.max_signal_missing_seconds / opts.time_factor
    give_up_s = budget_s + 2 * scaler.sync_period
    try:
        while True:
            now = scaler.now()
            elapsed = now - load_t0
            while steps and steps[0][0] <= elapsed:
                at, value = steps.pop(0)
                tl.event(load_t0 + at, "load_step", value=value)
            if stopped_at is None and (elapsed >= opts.duration_s or load_task.done()):
                stopped_at = load_t0 + min(elapsed, opts.duration_s)
                tl.event(stopped_at, "load_stop")
            load = opts.profile.value_at(elapsed) if stopped_at is None else 0.0
            stats = gen.stats()
            sample = await _sample(prom, stack, scaler, now, load, stats.ok, stats.failed)
            tl.add(sample)
            on_sample(sample, f"sent {gen.stats().sent}, ok {gen.stats().ok}, failed {gen.stats().failed}")
            if scaler_task.done():
                scaler_task.result()  # a replica failed to start/stop: surface it
                break
            if stopped_at is not None and (_settled(scaler, min_replicas) or now - stopped_at > settle_seconds(stack, opts)):
                break
            down = scaler.metrics_down_since
            if down is not None and now - down > give_up_s:
                tl.event(now, "note", "run", f"ended early: {prom.url} has not answered for {now - down:.0f}s, more "
                         f"than the signal-missing budget ({budget_s:g}s): the HPA cannot scale without it")
                break
            await asyncio.sleep(opts.sample_s)
    except asyncio.CancelledError:
        tl.interrupted = True
        raise
    finally:
        if stopped_at is None:
            tl.event(scaler.now(), "load_stop", detail="stopped early")
        gen.stop()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.gather(load_task, scaler_task, return_exceptions=True), timeout=15)
        await scaler.close()
        if load_task.done() and not load_task.cancelled() and load_task.exception() is None:
            records = load_task.result().records
            tl.requests = [(load_t0 + r.start_s, r.ttft_s if r.ok else None) for r in records]


def _settled(scaler: LabAutoscaler, min_replicas: int) -> bool:
    """Back at min replicas, all Ready, and the pool shrunk to the nodes they need."""
    pool = scaler.pool
    warm = scaler.stack.spec.gpu_pool.warm_nodes  # warm nodes stay up by design
    return pool.replicas == min_replicas and pool.ready_replicas == min_replicas and \
        pool.launched_nodes <= min_replicas + warm


async def _sample(prom: PrometheusClient, stack: Stack, scaler: LabAutoscaler, now: float, load: float,
                  ok: int, failed: int) -> Sample:
    def ttft(quantile: float) -> float | None:
        try:
            values = [s.value for s in prom.query(measures.ttft_quantile(stack, quantile)) if s.value == s.value]
        except (QueryError, ExternalError):
            return None
        return values[0] if values else None

    def waiting() -> float | None:
        try:
            values = [s.value for s in prom.query(measures.engine_waiting(stack)) if s.value == s.value]
        except (QueryError, ExternalError):
            return None
        return values[0] if values else None

    p90 = await asyncio.to_thread(ttft, 0.9)
    p95 = await asyncio.to_thread(ttft, measures.SLO_QUANTILE)
    queue = await asyncio.to_thread(waiting)
    snap = scaler.snapshot()
    return Sample(now, load, snap.signal, snap.desired, snap.replicas, snap.ready, snap.nodes, p90, p95,
                  snap.signal_prometheus, ok, failed, queue)
