"""`tritonobs load`: drive a Triton model with an open- or closed-loop load profile and record every request."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tritonobs.cli.options import LabDirOpt, LabOpt
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.core.inputs import INT32_MAX, MAX_RUN_SECONDS, count, host_port, output_file, seconds
from tritonobs.lab.daemon import running_lab
from tritonobs.load.client import probe_targets
from tritonobs.load.generator import DEFAULT_PROMPT, LoadGenerator, LoadPlan, Mode
from tritonobs.load.plot import plot_run
from tritonobs.load.profiles import PROFILE_KINDS, Profile, parse_profile
from tritonobs.load.progress import show_progress
from tritonobs.load.request import load_prompts, sampling_parameters
from tritonobs.load.results import RunResult, Summary, write_run
from tritonobs.load.shards import MAX_SHARDS, Share, parse_shard

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

PROFILE_HELP = (
    "how the --rate/--concurrency value changes over time: "
    "constant V (5) | step V0:V1:T1[:V2:T2...] (1:10:30s = 1, then 10 from 30 s) | "
    "ramp V0:V1:T (0:20:2m) | sine MEAN:AMPLITUDE:PERIOD (5:4:60s) | "
    "replay FILE.csv (a time_s,value trace, each value held until the next row). "
    "Times take ms, s, m or h."
)


MAX_RATE = 10_000.0  # requests/s: far beyond one Python client (~1000/s) and any LLM fleet's rate
MAX_CONCURRENCY = 10_000  # requests in flight: one coroutine and stream each
MAX_CONNECTIONS = 1_000  # gRPC channels per URL
MAX_REQUESTS = 10_000_000  # every request is recorded in memory


def profile_from_flags(kind: str, rate: str | None, concurrency: str | None) -> tuple[Mode, str, Profile]:
    """(mode, the value as written, profile) from --profile and exactly one of --rate / --concurrency."""
    if (rate is None) == (concurrency is None):
        raise UsageError("give exactly one of --rate (open loop, requests/s) or --concurrency (closed loop)")
    mode: Mode = "open" if rate is not None else "closed"
    spec = rate if rate is not None else concurrency
    assert spec is not None
    option = "--rate" if mode == "open" else "--concurrency"
    profile = parse_profile(kind, spec, option=option)
    limit = MAX_RATE if mode == "open" else MAX_CONCURRENCY
    if profile.peak(math.inf) > limit:
        unit = "requests/s" if mode == "open" else "requests in flight"
        raise UsageError(f"{option} {spec!r}: reaches {profile.peak(math.inf):g}; at most {limit:g} {unit}")
    return mode, spec, profile


def check_sends(mode: Mode, spec: str, profile: Profile, duration_s: float) -> None:
    """A load that can never send a request is a mistake in the flags, not a run."""
    if profile.peak(duration_s) <= 0:
        option = "--rate" if mode == "open" else "--concurrency"
        raise UsageError(f"{option} {spec!r}: stays at 0 for the whole --duration, so no request would be sent; "
                         "give a value above 0")


def check_targets(option: str, urls: list[str]) -> None:
    """Every gRPC target is HOST:PORT, checked before any connection."""
    if not urls:
        raise UsageError(f"{option}: give at least one HOST:PORT")
    for u in urls:
        host_port(option, u)


def build_plan(
    profile_kind: str,
    rate: str | None,
    concurrency: str | None,
    duration: str,
    max_requests: int | None,
    seed: int,
    drain: str,
) -> LoadPlan:
    """The CLI flags as a LoadPlan. Exactly one of --rate (open loop) and --concurrency (closed loop)."""
    mode, value, profile = profile_from_flags(profile_kind, rate, concurrency)
    duration_s = seconds("--duration", duration, hi=MAX_RUN_SECONDS)
    check_sends(mode, value, profile, duration_s)
    if max_requests is not None:
        count("--max-requests", max_requests, 1, MAX_REQUESTS, " (every request is recorded in memory)")
    return LoadPlan(
        mode=mode,
        profile=profile,
        duration_s=duration_s,
        max_requests=max_requests,
        seed=seed,
        drain_s=seconds("--drain", drain, zero_ok=True),
    )


def shard_plan(plan: LoadPlan, index: int, total: int) -> LoadPlan:
    """The plan of share `index` of `total` (tritonobs/load/shards.py)."""
    import dataclasses

    share = Share(plan.profile, index, total, closed=plan.mode == "closed")
    limit = None if plan.max_requests is None else max(1, plan.max_requests // total)
    return dataclasses.replace(plan, profile=share, seed=plan.seed + index, max_requests=limit)


def summary_table(s: Summary) -> Table:
    table = Table(title="load run", show_header=True)
    for col in ("metric", "mean", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="right" if col != "metric" else "left")

    def row(name: str, d: object, scale: float, fmt: str) -> None:
        vals = [getattr(d, k) for k in ("mean", "p50", "p95", "p99", "max")]
        table.add_row(name, *("-" if math.isnan(v) else format(v * scale, fmt) for v in vals))

    row("time to first token (ms)", s.ttft_s, 1000, ".1f")
    row("latency (ms)", s.latency_s, 1000, ".1f")
    row("tokens/s per request", s.tokens_per_s, 1, ".1f")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def load(
        url: list[str] = typer.Option(
            [], "--url", "-u", help="Triton gRPC host:port; repeat for several replicas (default localhost:8001)"
        ),
        lab: bool = LabOpt,
        lab_dir: Path = LabDirOpt,
        model: str = typer.Option(..., "--model", "--model-name", help="model to load, e.g. llama2"),
        profile: str = typer.Option(
            "constant", "--profile", help=f"one of {', '.join(PROFILE_KINDS)}: {PROFILE_HELP}"
        ),
        rate: str | None = typer.Option(
            None, "--rate", help="open loop: Poisson arrivals at this rate (requests/s), per --profile"
        ),
        concurrency: str | None = typer.Option(
            None, "--concurrency", help="closed loop: requests kept in flight, per --profile"
        ),
        duration: str = typer.Option("60s", "--duration", help="send window, e.g. 60s or 5m"),
        max_requests: int | None = typer.Option(
            None, "--max-requests", help="stop sending after this many requests"
        ),
        connections: int = typer.Option(
            2, "--connections", help="gRPC connections per URL (requests go round-robin)"
        ),
        seed: int = typer.Option(0, "--seed", help="seed of the Poisson arrivals (same seed, same schedule)"),
        prompts: Path | None = typer.Option(
            None, "--prompts", help="prompts file, one per line (default: a built-in prompt)"
        ),
        max_tokens: int | None = typer.Option(
            None, "--max-tokens", help="max_tokens sent with each request (default 512)"
        ),
        drain: str = typer.Option(
            "30s", "--drain", help="after the window, wait this long for requests in flight"
        ),
        out_path: Path | None = typer.Option(
            None, "--out", "-o", help="per-request records: .csv, or .json with summary and in-flight samples"
        ),
        plot: Path | None = typer.Option(
            None, "--plot", help="write a PNG of rates, latencies and in-flight requests"
        ),
        processes: int = typer.Option(1, "--processes", help="spread the load over N client processes (one share each), merged into one result"),
        shard: str | None = typer.Option(None, "--shard", help="run share I of N of the load (I/N; what --processes and the load Job use)"),
    ) -> None:
        """Drive load against Triton: open loop (--rate) or closed loop (--concurrency), shaped by --profile.

        Open loop: requests arrive as a Poisson process (seeded by --seed) whose rate follows the profile, whether or not earlier ones finished. Closed loop: the profile says how many requests to keep in flight. Requests go round-robin over --connections gRPC connections per --url. The send window ends at --duration or --max-requests; requests still in flight get --drain to finish.

        Examples:

        --profile step --rate 1:10:30s --duration 60s   (1 request/s, then 10/s from 30 s)

        --profile ramp --concurrency 1:16:2m --duration 3m

        --profile replay --rate trace.csv --url 127.0.0.1:8001 --url 127.0.0.1:9001
        """
        if lab and url:
            raise UsageError("--url and --lab both say where to send: give one")
        if not lab:
            url = url or ["localhost:8001"]
            check_targets("--url", url)
        count("--connections", connections, 1, MAX_CONNECTIONS)
        if max_tokens is not None:
            count("--max-tokens", max_tokens, 1, INT32_MAX)
        plan = build_plan(profile, rate, concurrency, duration, max_requests, seed, drain)
        count("--processes", processes, 1, MAX_SHARDS)
        if shard is not None:
            if processes > 1:
                raise UsageError("--shard runs one share; --processes splits the load itself: give one")
            plan = shard_plan(plan, *parse_shard(shard))
        for option, path in (("--out", out_path), ("--plot", plot)):
            if path is not None:
                output_file(option, path)
        prompt_list = load_prompts(prompts, option="--prompts") if prompts is not None else None
        if lab:  # last: every other option is checked before looking for the lab
            url = list(running_lab(lab_dir).grpc)
        if processes > 1:
            from tritonobs.load.processes import ShardArgs, run_processes

            result = run_processes(ShardArgs(url, model, profile, rate, concurrency, duration, max_requests,
                                             connections, seed, prompts, max_tokens, drain), processes, err)
        else:
            result = asyncio.run(_run(url, model, plan, prompt_list, max_tokens, connections))
        summary = result.summary()
        out.print(summary_table(summary))
        out.print(
            f"{summary.requests} requests: {summary.ok} ok, {summary.failed} failed; "
            f"{summary.completed_rps:.2f} ok/s over {summary.duration_s:.1f} s; {summary.tokens} tokens",
            markup=False,
        )
        for message, times in list(summary.errors.items())[:5]:
            out.print(f"  {times} x {message}", markup=False)
        if out_path is not None:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            write_run(result, out_path)
            out.print(f"wrote {out_path}", markup=False)
        if plot is not None:
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot_run(result, plot, plan.profile)
            out.print(f"wrote {plot}", markup=False)
        if summary.requests and summary.ok == 0:
            first = next(iter(summary.errors), "")
            raise ExternalError(", ".join(url), f"every request failed; first error: {first}")


async def _run(
    urls: list[str],
    model: str,
    plan: LoadPlan,
    prompts: list[str] | None,
    max_tokens: int | None,
    connections: int,
) -> RunResult:
    await probe_targets(urls, model)
    gen = LoadGenerator(
        urls,
        model,
        plan,
        prompts=prompts or (DEFAULT_PROMPT,),
        sampling=sampling_parameters(max_tokens),
        connections_per_target=connections,
    )
    run = asyncio.create_task(gen.run())
    await show_progress(gen, run, err)
    return await run
