"""`tritonobs verify`: a scaling verification run on a real cluster, or in the local lab with `--lab`.

Writes report.md, report.json and timeline.png to --out and exits 1 when a budget fails. Ctrl-C stops the
load and still writes the (partial) report, then exits 130. `--print-load-job` prints the in-cluster load
(headless Service + Job) for the same profile; `--load-only` is what that Job runs.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.apply_cmd import ClusterOption, ContextOption, KubeconfigOption, RegionOption, connect_to
from tritonobs.cli.load_cmd import MAX_CONNECTIONS, check_sends, profile_from_flags
from tritonobs.cli.options import (
    EngineOpt,
    HfModelOpt,
    MaxSeqsOpt,
    SigV4RegionOpt,
    SpecOption,
    VllmPythonOpt,
    lab_engine,
    load_stack,
)
from tritonobs.core.budgets import evaluate, passed
from tritonobs.core.config import SIGNAL_NAMES
from tritonobs.core.errors import CheckFailed, TritonobsError, UsageError
from tritonobs.core.inputs import (
    INT32_MAX,
    MAX_RUN_SECONDS,
    MAX_WAIT_SECONDS,
    count,
    host_port,
    input_dir,
    number,
    output_dir,
    seconds,
)
from tritonobs.core.inputs import prometheus_url as check_prometheus_url
from tritonobs.core.model import Stack
from tritonobs.core.render.load_job import DEFAULT_IMAGE, LoadJobSpec, job_name, objects
from tritonobs.core.render.yamlfmt import to_yaml_docs
from tritonobs.core.timeline import FAULT_KINDS, Sample, Timeline
from tritonobs.lab.engine import LabEngine
from tritonobs.load.generator import Mode
from tritonobs.load.profiles import PROFILE_KINDS, Profile
from tritonobs.load.shards import MAX_SHARDS, Share, parse_shard
from tritonobs.verify.report import write_report

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Lab default: concurrency 2 -> 10 (one replica holds 4 in its batch, so 6 wait: 3x the default target of 2).
LAB_LOW, LAB_HIGH = 2, 10
STEP_AFTER_S = 100.0  # real-cluster seconds of low load before the step
RECOVERY_S = 200.0  # real-cluster seconds of high load after the new replicas could be Ready


def lab_default_load(stack: Stack, factor: float) -> tuple[str, str, float]:
    """(concurrency spec, duration, seconds) of the lab's default step, in lab time: the high phase lasts a
    full scale-up (node launch + image pull + model load) plus a recovery period."""
    pool = stack.spec.gpu_pool
    step_at = STEP_AFTER_S / factor
    total = step_at + (pool.node_launch_seconds + pool.image_pull_seconds + pool.model_load_seconds + RECOVERY_S) / factor
    return f"{LAB_LOW}:{LAB_HIGH}:{step_at:g}s", f"{total:.0f}s", round(total)


def _seconds(option: str, text: str) -> float:
    return seconds(option, text, hi=MAX_RUN_SECONDS if option == "--duration" else MAX_WAIT_SECONDS)


def _check_flags(url: list[str], discover: str | None, prometheus_url: str | None, max_tokens: int | None,
                 connections: int, time_factor: float, interval: float, out_dir: Path) -> None:
    """Every address, number and path verify was given, before anything starts or connects."""
    for u in url:
        host_port("--url", u)
    if discover is not None:
        host_port("--discover", discover, "triton-grpc.triton-vllm.svc.cluster.local:8001")
    if prometheus_url is not None:
        check_prometheus_url(prometheus_url)
    if max_tokens is not None:
        count("--max-tokens", max_tokens, 1, INT32_MAX)
    count("--connections", connections, 0, MAX_CONNECTIONS, " (0: the default)")
    number("--time-factor", time_factor, 1, 1000)
    number("--interval", interval, 0.05, 3600)
    output_dir("--out", out_dir)


class _Progress:
    """One live status line per sample (rich), a log line on every replica change, and one per fault as it
    is seen (a replica that stopped serving, Prometheus unreachable or back)."""

    def __init__(self, tl: Timeline) -> None:
        self.status = err.status("starting")
        self._last: tuple[int | None, int | None] = (None, None)
        self._tl = tl
        self._seen = 0

    def __call__(self, s: Sample, extra: str) -> None:
        events = self._tl.events[self._seen :]
        self._seen = len(self._tl.events)
        for e in events:
            if e.kind in FAULT_KINDS:
                err.print(f"t={e.t:6.1f}s FAULT {e.kind}: {e.subject} {e.detail}".rstrip(), markup=False)
        def f(v: float | None, fmt: str = ".2f") -> str:
            return "-" if v is None else format(v, fmt)

        line = (f"t={s.t:6.1f}s load {f(s.load, 'g')}  signal {f(s.signal)}  desired {s.desired_replicas} "
                f"pods {s.current_replicas} ready {s.ready_replicas} nodes {s.nodes}  TTFT p95 {f(s.ttft_p95)}s  {extra}")
        self.status.update(line)
        if (s.desired_replicas, s.ready_replicas) != self._last:
            self._last = (s.desired_replicas, s.ready_replicas)
            err.print(line, markup=False)


def _run_and_report(tl: Timeline, stack: Stack, out_dir: Path, run: Callable[[_Progress], None]) -> None:
    """Run, then judge and write the report, also for a partial run: Ctrl-C (exit 130 after writing) or a
    failure of the outside world once something was observed (the error's exit code after writing)."""
    progress = _Progress(tl)
    stopped: BaseException | None = None
    with progress.status:
        try:
            run(progress)
        except KeyboardInterrupt as e:
            stopped = e
        except TritonobsError as e:
            if not (tl.samples or tl.events):
                raise  # nothing observed: no report to write
            tl.event(tl.end, "note", "error", str(e))
            stopped = e
    _finish(tl, stack, out_dir, stopped)


def _finish(tl: Timeline, stack: Stack, out_dir: Path, stopped: BaseException | None) -> None:
    tl.interrupted = tl.interrupted or stopped is not None
    results = evaluate(tl, stack.spec.budgets)
    paths = write_report(out_dir, tl, results)
    for r in results:
        mark = "—" if r.limit is None else ("pass" if r.passed else "FAIL")
        if tl.interrupted and r.measured is None:
            mark = "n/a"  # not reached before the run stopped: neither passed nor failed
        value = "never" if r.measured is None else f"{r.measured:.3g} {r.unit}"
        limit = "" if r.limit is None else f" (limit {r.limit:.3g} {r.unit})"
        out.print(f"{mark:>4}  {r.title}: {value}{limit}", markup=False)
    out.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)
    if stopped is not None:
        err.print(f"INTERRUPTED: the run stopped early; the report above and in {paths[1]} is partial", markup=False)
        raise stopped
    if not passed(results):
        failed = [r.name for r in results if not r.passed]
        raise CheckFailed(f"{len(failed)} budget(s) failed: {', '.join(failed)} (see {paths[1]})")


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        spec: Path = SpecOption,
        lab: bool = typer.Option(False, "--lab", help="run in the local lab (real Triton + Prometheus, no cluster)"),
        signal: str | None = typer.Option(None, "--signal", help=f"lab: scale on this signal instead of the spec's ({', '.join(SIGNAL_NAMES)})"),
        profile: str = typer.Option("step", "--profile", help=f"load profile: {', '.join(PROFILE_KINDS)} (as `tritonobs load`), or diurnal (LOW:HIGH:DAY, a generated day)"),
        rate: str | None = typer.Option(None, "--rate", help="open loop: requests/s per --profile, e.g. 1:10:30s"),
        concurrency: str | None = typer.Option(None, "--concurrency", help="closed loop: requests in flight per --profile"),
        duration: str | None = typer.Option(None, "--duration", help="load send window (lab default: one scale-up plus recovery)"),
        drive: str | None = typer.Option(None, "--drive", help="the model the load drives (default: the spec's first)"),
        max_tokens: int | None = typer.Option(None, "--max-tokens", help="max_tokens per request"),
        connections: int = typer.Option(0, "--connections", help="gRPC connections per target (default: lab 2, cluster 8)"),
        out_dir: Path = typer.Option(Path("verify-report"), "--out", help="where report.md/json and timeline.png go"),
        time_factor: float = typer.Option(10.0, "--time-factor", help="lab: divide every spec duration by this"),
        model_repository: Path | None = typer.Option(None, "--model-repository", help="lab: model repository (default: the spec's)"),
        lab_dir: Path | None = typer.Option(None, "--lab-dir", help="lab: run directory (default: a temporary one; removed at the end)"),
        engine: str = EngineOpt,
        model: Path | None = HfModelOpt,
        vllm_python: Path | None = VllmPythonOpt,
        max_num_seqs: int | None = MaxSeqsOpt,
        url: list[str] = typer.Option([], "--url", help="cluster: gRPC endpoint balancing per request (ingress/LB); repeatable"),
        discover: str | None = typer.Option(None, "--discover", help="cluster: HOST:PORT of a headless Service to follow"),
        external_load: bool = typer.Option(False, "--external-load", help="cluster: only watch; the load Job drives load"),
        load_job: str | None = typer.Option(None, "--load-job", help="--external-load: the load Job whose pod logs are merged (default: the one --print-load-job renders)"),
        prometheus_url: str | None = typer.Option(None, "--prometheus-url", help="cluster: Prometheus (default: the spec's)"),
        sigv4_region: str | None = SigV4RegionOpt,
        interval: float = typer.Option(5.0, "--interval", help="cluster: seconds between polls"),
        settle: str | None = typer.Option(None, "--settle", help="after the load, wait at most this long for min replicas"),
        context: str | None = ContextOption,
        kubeconfig: str | None = KubeconfigOption,
        cluster: str | None = ClusterOption,
        region: str | None = RegionOption,
        print_load_job: bool = typer.Option(False, "--print-load-job", help="print the in-cluster load (Service + Job) and exit"),
        load_image: str | None = typer.Option(None, "--load-image", help="image of the load Job (has tritonobs installed)"),
        load_only: bool = typer.Option(False, "--load-only", help="drive the load only (what the load Job runs)"),
        compare: str | None = typer.Option(None, "--compare", help="lab: run the same trace under each policy (reactive,predictive,warm) and compare"),
        parallelism: int = typer.Option(1, "--parallelism", help="--print-load-job: N load pods, each a share of the rate/concurrency"),
        shard: str | None = typer.Option(None, "--shard", help="--load-only: run share I of N of the load (the load Job sets it)"),
        capacity: float | None = typer.Option(None, "--capacity", help="per-replica load at the SLO (the knee `tritonobs tune` measures), for the score against the oracle"),
    ) -> None:
        """Drive a load profile and watch the HPA, pods, GPU nodes, signal and TTFT; judge against the spec's budgets."""
        if signal is not None and signal not in SIGNAL_NAMES:
            raise UsageError(f"--signal {signal!r}: choose one of {', '.join(SIGNAL_NAMES)}")
        if signal is not None and not lab:
            raise UsageError("--signal only applies to --lab (on a cluster the deployed HPA decides what it reads)")
        _check_flags(url, discover, prometheus_url, max_tokens, connections, time_factor, interval, out_dir)
        if capacity is not None:
            number("--capacity", capacity, 1e-6, 1e6)
        if compare is not None and not lab:
            raise UsageError("--compare runs the lab once per policy: it needs --lab")
        if profile == "diurnal" and not lab:
            raise UsageError("--profile diurnal is a lab profile; on a cluster replay a trace: --profile replay")
        if model_repository is not None:
            input_dir(model_repository, "model repository", " (check --model-repository)")
        if lab_dir is not None:
            output_dir("--lab-dir", lab_dir)
        if not lab and (engine != "simulated" or model is not None):
            raise UsageError("--engine and --model choose the lab's engine: they need --lab")
        chosen = lab_engine(engine, model, vllm_python, max_num_seqs) if lab else None
        count("--parallelism", parallelism, 1, MAX_SHARDS)
        if shard is not None and not load_only:
            raise UsageError("--shard is for --load-only (the load Job's pods)")
        if load_only:
            _load_only(profile, rate, concurrency, duration, drive, max_tokens, connections, url, discover, interval,
                       parse_shard(shard) if shard is not None else None)
            return
        stack = load_stack(spec)
        if drive is not None and drive not in stack.model_names:
            raise UsageError(f"--drive {drive!r}: not in the spec (models: {', '.join(stack.model_names)})",
                             file=str(spec))
        if print_load_job:
            _print_job(stack, profile, rate, concurrency, duration, drive, max_tokens, connections, url, load_image,
                       parallelism)
            return
        if chosen is not None:
            _lab(stack, spec, signal, profile, rate, concurrency, duration, drive, max_tokens, connections, out_dir,
                 time_factor, model_repository, settle, lab_dir, chosen, capacity, compare)
            return
        # lazily, here and in _lab: a cluster run needs kubernetes, a lab run tritonclient (start-up speed).
        from tritonobs.kube.connection import Target
        from tritonobs.prom.target import client_for
        from tritonobs.verify.cluster_run import ClusterVerifyOptions, run_cluster_verify, run_info

        if not (url or discover or external_load):
            raise UsageError("say where the load goes: --url (ingress/LB), --discover (headless Service), "
                             "or --external-load with the Job of --print-load-job")
        if load_job is not None and not external_load:
            raise UsageError("--load-job names the Job of --external-load: add --external-load")
        if load_job is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", load_job):
            raise UsageError(f"--load-job {load_job!r}: not a Job name (lowercase letters, digits and '-', at most 63)")
        if external_load and rate is None and concurrency is None:
            rate = "0"  # the Job carries the real profile; this run only needs its length
            profile = "constant"
        mode, value, prof = profile_from_flags(profile, rate, concurrency)
        duration_s = _seconds("--duration", duration or "15m")
        if not external_load:
            check_sends(mode, value, prof, duration_s)
        opts = ClusterVerifyOptions(
            profile=prof, duration_s=duration_s, urls=tuple(url), discover=discover,
            mode=mode, model=drive, max_tokens=max_tokens, connections=connections or 8, interval_s=interval,
            settle_s=_seconds("--settle", settle) if settle else None, capacity=capacity,
            load_job=(load_job or job_name(stack)) if external_load else None, load_job_required=load_job is not None,
        )
        prom = client_for(stack.spec, prometheus_url, sigv4_region)
        for u in url:
            if u.split(":")[0] in ("localhost", "127.0.0.1", "::1"):
                err.print(f"warning: {u} looks like a port-forward, which pins every connection to one pod", markup=False)
        kube = connect_to(stack, spec, Target.of(stack, context=context, kubeconfig=kubeconfig, cluster=cluster, region=region))
        started = time.time()
        tl = Timeline(run_info(stack, opts, started))
        _run_and_report(tl, stack, out_dir, lambda progress: run_cluster_verify(kube, prom, stack, opts, tl, progress))


def _lab(
    stack: Stack, spec: Path, signal: str | None, profile: str, rate: str | None, concurrency: str | None,
    duration: str | None, model: str | None, max_tokens: int | None, connections: int, out_dir: Path,
    factor: float, model_repository: Path | None, settle: str | None, lab_dir: Path | None, engine: LabEngine,
    capacity: float | None = None, compare: str | None = None,
) -> None:
    from tritonobs.core.measures import with_signal
    from tritonobs.verify.lab_profiles import default_concurrency, default_ramp, parse_diurnal
    from tritonobs.verify.lab_run import MAX_TOKENS, SCALING_SIM, LabVerifyOptions, run_info, run_lab_verify

    if signal is not None:
        stack = with_signal(stack, signal)
    policies = None
    if compare is not None:
        from tritonobs.verify.compare import parse_policies

        policies = parse_policies(compare)
    default = default_concurrency(stack, profile, factor) if rate is None and concurrency is None else None
    ramp = default_ramp(stack, factor) if profile == "ramp" and rate is None and concurrency is None else None
    if default is not None:
        concurrency = default[0]
        duration = duration or f"{default[1]:g}s"
    elif ramp is not None:
        duration = duration or f"{ramp[1]:g}s"
    elif rate is None and concurrency is None:
        concurrency, default_duration, _ = lab_default_load(stack, factor)
        duration = duration or default_duration
        profile = "step"
    if ramp is not None:
        mode: Mode = "closed"
        prof: Profile = ramp[0]
        value = "default ramp"
    elif profile == "diurnal":
        if (rate is None) == (concurrency is None):
            raise UsageError("give exactly one of --rate (open loop, requests/s) or --concurrency (closed loop)")
        mode = "open" if rate is not None else "closed"
        value = rate or concurrency or ""
        prof = parse_diurnal(value, "--rate" if rate is not None else "--concurrency")
        profile_from_flags("constant", f"{prof.peak(math.inf):g}" if rate else None,
                           None if rate else f"{prof.peak(math.inf):g}")  # the same limits as any profile
    else:
        mode, value, prof = profile_from_flags(profile, rate, concurrency)
    duration_s = _seconds("--duration", duration or "90s")
    check_sends(mode, value, prof, duration_s)
    repo = model_repository or spec.resolve().parent / stack.spec.model_repository.path
    opts = LabVerifyOptions(
        profile=prof, duration_s=duration_s, mode=mode, time_factor=factor,
        model=model, max_tokens=max_tokens or MAX_TOKENS, connections=connections or 2,
        settle_s=_seconds("--settle", settle) if settle else None, model_repository=repo, workdir=lab_dir,
        # The simulation tuned for scaling runs (SCALING_SIM), unless the real vLLM is chosen.
        engine=engine if engine.kind == "vllm" else LabEngine(sim=dict(SCALING_SIM)), capacity=capacity,
    )
    if policies is not None:
        from tritonobs.cli.verify_compare import run_compare

        run_compare(stack, opts, policies, out_dir, f"{mode} loop, {prof.describe()} for {opts.duration_s:g}s",
                    settle_given=settle is not None, progress=_Progress)
        return
    tl = Timeline(run_info(stack, opts, f"{mode} loop, {prof.describe()} for {opts.duration_s:g}s", time.time()))
    _run_and_report(tl, stack, out_dir, lambda progress: run_lab_verify(stack, opts, tl, progress))


def _print_job(
    stack: Stack, profile: str, rate: str | None, concurrency: str | None, duration: str | None, model: str | None,
    max_tokens: int | None, connections: int, url: list[str], image: str | None, parallelism: int = 1,
) -> None:

    mode, value, _ = profile_from_flags(profile, rate, concurrency)
    text = duration or "15m"
    job = LoadJobSpec(
        profile_kind=profile, mode=mode, value=value, duration=text, duration_seconds=_seconds("--duration", text),
        model=model or stack.model_names[0], connections=connections or 8, max_tokens=max_tokens,
        image=image or DEFAULT_IMAGE, url=url[0] if url else None, parallelism=parallelism,
    )
    out.print(to_yaml_docs(objects(stack, job)), markup=False, end="")


def _load_only(
    profile: str, rate: str | None, concurrency: str | None, duration: str | None, model: str | None,
    max_tokens: int | None, connections: int, url: list[str], discover: str | None, interval: float,
    shard: tuple[int, int] | None = None,
) -> None:
    from tritonobs.verify.cluster_run import ClusterVerifyOptions, run_load_only  # lazily: kubernetes

    if model is None:
        raise UsageError("--load-only needs --drive MODEL")
    if not (url or discover):
        raise UsageError("--load-only needs --url or --discover")
    mode, value, prof = profile_from_flags(profile, rate, concurrency)
    duration_s = _seconds("--duration", duration or "15m")
    check_sends(mode, value, prof, duration_s)
    if shard is not None:
        prof = Share(prof, shard[0], shard[1], closed=mode == "closed")
    opts = ClusterVerifyOptions(profile=prof, duration_s=duration_s, urls=tuple(url),
                                discover=discover, mode=mode, max_tokens=max_tokens, connections=connections or 8,
                                interval_s=interval)
    from tritonobs.load.framing import frame_run

    result = run_load_only(opts, model, lambda line: out.print(line, markup=False))
    # The records, framed, on stdout: `verify` reads them back from the pod's log and merges the shares.
    for line in frame_run(result, f"{shard[0]}/{shard[1]}" if shard is not None else "0/1"):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    ok = sum(1 for r in result.records if r.ok)
    failed = len(result.records) - ok
    who = f"share {shard[0] + 1} of {shard[1]}: " if shard is not None else ""
    out.print(f"{who}{ok} requests ok, {failed} failed", markup=False)
    if ok == 0:
        raise CheckFailed("no request succeeded")

