"""`tritonobs verify` on a real cluster: drive (or wait for) the load, poll the watcher, fill the timeline.

Load goes either from this process to a gRPC endpoint that balances per request across the Triton pods
(an ingress or load balancer: `--url`), or from inside the cluster (the Job of `--print-load-job`), in which
case this run only watches (`--external-load`) and takes the load from Prometheus (completed requests/s).
A port-forward is not a valid target: it pins every connection to one pod (docs/verify.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from tritonobs.core import measures
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack
from tritonobs.core.timeline import RunInfo, Sample, Timeline
from tritonobs.kube.client import Kube
from tritonobs.load.client import probe_targets
from tritonobs.load.generator import LoadGenerator, LoadPlan, Mode
from tritonobs.load.profiles import Profile, Step
from tritonobs.load.request import sampling_parameters
from tritonobs.load.results import RunResult
from tritonobs.prom.client import PrometheusClient
from tritonobs.verify import discovery
from tritonobs.verify.cluster import ClusterWatcher

MAX_POLL_FAILURES = 3  # consecutive API failures before the run gives up (exit 3)


@dataclass(frozen=True)
class ClusterVerifyOptions:
    profile: Profile
    duration_s: float
    urls: tuple[str, ...] = ()  # gRPC endpoints that balance per request (ingress, load balancer)
    discover: str | None = None  # HOST:PORT of a headless Service: follow its Ready pods
    mode: Mode = "open"
    model: str | None = None
    max_tokens: int | None = None
    connections: int = 8
    interval_s: float = 5.0
    settle_s: float | None = None
    capacity: float | None = None  # per-replica load at the SLO (tune's knee); None: from the signal's target
    load_job: str | None = None  # external load: the load Job whose pods' logs carry the client records
    load_job_namespace: str | None = None
    load_job_required: bool = False  # named with --load-job: its absence is a problem, not "no Job used"


def run_info(stack: Stack, opts: ClusterVerifyOptions, started_at: float) -> RunInfo:
    where = f"pods of {opts.discover}" if opts.discover else f"{len(opts.urls)} endpoint(s)"
    load = f"{opts.mode} loop, {opts.profile.describe()}, {where}"
    profile = load if drives_load(opts) else "external (the in-cluster Job); load = completed requests/s"
    if opts.load_job and not drives_load(opts):
        profile += f"; client records merged from the pods of Job {opts.load_job}"
    from dataclasses import replace

    from tritonobs.verify.score import capacity_from_signal

    info = measures.run_info(stack, mode="cluster", hpa=stack.effective_hpa_name, profile=profile,
                             started_at=started_at)
    use = stack.signals[0]
    pool = stack.spec.gpu_pool
    # On a cluster the engine's batch is not read here: waiting_requests needs --capacity (tune's knee).
    capacity = opts.capacity or capacity_from_signal(use.name, use.target, opts.mode, None)
    cold = pool.node_launch_seconds + pool.image_pull_seconds + pool.model_load_seconds
    from tritonobs.core.config import duration_seconds

    # External load: the load series is Prometheus' completed requests/s, scored only against a measured knee.
    scored = drives_load(opts) or (opts.load_job is not None and opts.capacity is not None)
    return replace(info, capacity_per_replica=capacity if scored else None, cold_start_seconds=cold,
                   ttft_window_seconds=duration_seconds(stack.rate_window))


def drives_load(opts: ClusterVerifyOptions) -> bool:
    return bool(opts.urls or opts.discover)


def settle_seconds(stack: Stack, opts: ClusterVerifyOptions) -> float:
    if opts.settle_s is not None:
        return opts.settle_s
    return stack.spec.budgets.return_to_min_seconds + stack.spec.gpu_pool.consolidate_after_seconds


def run_cluster_verify(
    kube: Kube,
    prom: PrometheusClient,
    stack: Stack,
    opts: ClusterVerifyOptions,
    timeline: Timeline,
    on_sample: Callable[[Sample, str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Fill `timeline` until the stack is back at min replicas after the load (or the settle time is up).
    Ctrl-C propagates as KeyboardInterrupt; the timeline keeps everything observed until then."""
    if prom.auth is not None:
        prom.check()  # AMP: a refused signature is exit 3 with AWS's reason, not "unreachable"
    elif not prom.ready():
        raise ExternalError(prom.url, "Prometheus is not reachable (port-forward it and pass --prometheus-url)")
    asyncio.run(_drive(kube, prom, stack, opts, timeline, on_sample or (lambda s, line: None), clock))


async def _drive(
    kube: Kube, prom: PrometheusClient, stack: Stack, opts: ClusterVerifyOptions, tl: Timeline,
    on_sample: Callable[[Sample, str], None], clock: Callable[[], float],
) -> None:
    gen = await start_generator(opts, opts.model or stack.model_names[0]) if drives_load(opts) else None
    stop_discovery = asyncio.Event()
    follow_task = _follow(opts, gen, stop_discovery)
    load_gen = gen

    def load_now() -> float | None:
        if load_gen is None:
            return None  # the watcher reads completed requests/s from Prometheus instead
        s = load_gen.stats()
        return s.schedule_value if s.elapsed_s < opts.duration_s else 0.0

    watcher = ClusterWatcher(kube, stack, tl, prom, load=load_now if gen else None,
                             requests=(lambda: (gen.stats().ok, gen.stats().failed)) if gen else None)
    first = await asyncio.to_thread(watcher.poll, clock())  # an unreachable cluster fails here: exit 3
    on_sample(first, "baseline")
    load_task = asyncio.create_task(gen.run()) if gen else None
    t_load = clock() - tl.info.started_at
    tl.event(t_load, "load_start", value=opts.profile.value_at(0))
    steps = list(opts.profile.changes) if isinstance(opts.profile, Step) else []
    stopped_at: float | None = None
    failures = 0
    try:
        while True:
            await asyncio.sleep(opts.interval_s)
            now = clock()
            t = now - tl.info.started_at
            while steps and steps[0][0] <= t - t_load:
                at, value = steps.pop(0)
                tl.event(t_load + at, "load_step", value=value)
            if stopped_at is None and t - t_load >= opts.duration_s:
                stopped_at = t_load + opts.duration_s
                tl.event(stopped_at, "load_stop")
            try:
                sample = await asyncio.to_thread(watcher.poll, now)
                failures = 0
            except ExternalError as e:
                failures += 1
                tl.event(t, "note", "poll", f"failed: {e}")
                if failures >= MAX_POLL_FAILURES:
                    raise
                continue
            on_sample(sample, f"sent {gen.stats().sent}, ok {gen.stats().ok}" if gen else "external load")
            if stopped_at is not None:
                back = sample.current_replicas == tl.info.min_replicas and sample.ready_replicas == tl.info.min_replicas
                if back or t - stopped_at > settle_seconds(stack, opts):
                    break
    except asyncio.CancelledError:
        tl.interrupted = True
        raise
    finally:
        if stopped_at is None:
            tl.event(clock() - tl.info.started_at, "load_stop", detail="stopped early")
        stop_discovery.set()
        if gen is not None and load_task is not None:
            gen.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                tasks = [t for t in (load_task, follow_task) if t is not None]
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=15)
            if load_task.done() and not load_task.cancelled() and load_task.exception() is None:
                records = load_task.result().records
                tl.requests = [(t_load + r.start_s, r.ttft_s if r.ok else None) for r in records]
    if gen is None and opts.load_job:
        from tritonobs.verify.load_logs import attach, read_job_load

        job_load = await asyncio.to_thread(read_job_load, kube, opts.load_job_namespace or stack.namespace,
                                           opts.load_job, required=opts.load_job_required, poll_s=opts.interval_s)
        attach(tl, job_load)


async def start_generator(opts: ClusterVerifyOptions, model: str) -> LoadGenerator:
    """A generator on the endpoints given, or on the Ready pods behind the headless Service."""

    urls = list(opts.urls)
    if opts.discover:
        host, port = discovery.split_host_port(opts.discover)
        urls = await asyncio.to_thread(discovery.resolve_ipv4, host, port)
        if not urls:
            raise ExternalError(opts.discover, "resolves to no address (is the headless Service there, with Ready pods?)")
    await probe_targets(urls[:1], model)
    plan = LoadPlan(opts.mode, opts.profile, opts.duration_s, drain_s=60.0)
    return LoadGenerator(urls, model, plan, sampling=sampling_parameters(opts.max_tokens),
                         connections_per_target=opts.connections)


def _follow(opts: ClusterVerifyOptions, gen: LoadGenerator | None, stop: asyncio.Event) -> asyncio.Task[None] | None:
    if gen is None or not opts.discover:
        return None
    return asyncio.create_task(discovery.follow(opts.discover, gen.set_targets, stop))


def run_load_only(opts: ClusterVerifyOptions, model: str, on_progress: Callable[[str], None]) -> RunResult:
    """The load half of a verification run, for the in-cluster Job: its per-request records."""

    async def main() -> RunResult:
        gen = await start_generator(opts, model)
        stop = asyncio.Event()
        follow_task = _follow(opts, gen, stop)
        task = asyncio.create_task(gen.run())
        try:
            while not task.done():
                s = gen.stats()
                on_progress(f"t={s.elapsed_s:.0f}s load {s.schedule_value:g} sent {s.sent} ok {s.ok} failed {s.failed} "
                            f"targets {len(gen.targets)}")
                await asyncio.wait({task}, timeout=opts.interval_s)
        finally:
            stop.set()
            gen.stop()
        result = await task
        if follow_task is not None:
            await asyncio.gather(follow_task, return_exceptions=True)
        return result

    return asyncio.run(main())
