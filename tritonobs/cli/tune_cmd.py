"""`tritonobs tune`: drive ONE replica with rising closed-loop concurrency, find the knee (the load at which
TTFT p95 reaches the model's SLO) and the tokens/s there, recommend the scaling signal's target with the
spec's headroom, and with `--write` set it in tritonobs.yaml in place (comments and layout kept).

`--lab` starts a one-replica lab (the simulated engine with `--sim-max-num-seqs`, or the real vLLM with
`--engine vllm --model DIR`); `--url HOST:PORT` drives a replica that is already serving (its /metrics at
`--metrics-url`, default http://HOST:8002/metrics). Exit 1 when no knee is found (nothing written).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.options import (
    EngineOpt,
    HfModelOpt,
    MaxSeqsOpt,
    SpecOption,
    VllmPythonOpt,
    lab_engine,
    load_stack,
)
from tritonobs.core.errors import CheckFailed, UsageError
from tritonobs.core.inputs import count, host_port, output_dir, seconds
from tritonobs.core.model import Stack
from tritonobs.lab.engine import LabEngine
from tritonobs.tune.report import TuneRun

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
DEFAULT_LEVELS = "1,2,4,6,8,10,12,14,16,20"
MAX_LEVEL = 4096


def _levels(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--levels {text!r}: comma-separated numbers of requests in flight, e.g. {DEFAULT_LEVELS}") from None
    if len(values) < 2 or any(not (1 <= v <= MAX_LEVEL) or not v.is_integer() for v in values) or values != sorted(set(values)):
        raise UsageError(f"--levels {text!r}: at least two increasing whole numbers from 1 to {MAX_LEVEL}")
    return values


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        spec: Path = SpecOption,
        lab: bool = typer.Option(False, "--lab", help="start a one-replica lab and tune against it"),
        url: str | None = typer.Option(None, "--url", help="gRPC HOST:PORT of one replica (instead of --lab)"),
        metrics_url: str | None = typer.Option(None, "--metrics-url", help="with --url: its /metrics (default http://HOST:8002/metrics)"),
        drive_model: str | None = typer.Option(None, "--drive", help="the model to drive (default: the spec's first)"),
        signal: str | None = typer.Option(None, "--signal", help="signal to recommend a target for (default: the spec's first)"),
        levels: str = typer.Option(DEFAULT_LEVELS, "--levels", help="requests in flight per step, increasing"),
        step: str = typer.Option("6s", "--step", help="length of each step"),
        max_tokens: int = typer.Option(32, "--max-tokens", help="max_tokens per request"),
        write: bool = typer.Option(False, "--write", help="set the recommended target in the spec, in place"),
        out_dir: Path = typer.Option(Path("tune-report"), "--out", help="where tune.md/json/png go"),
        sim_max_num_seqs: int | None = typer.Option(None, "--sim-max-num-seqs", help="lab, simulated engine: batch limit (default 4, as verify --lab)"),
        model_repository: Path | None = typer.Option(None, "--model-repository", help="lab: model repository (default: the spec's)"),
        engine: str = EngineOpt,
        model: Path | None = HfModelOpt,
        vllm_python: Path | None = VllmPythonOpt,
        max_num_seqs: int | None = MaxSeqsOpt,
    ) -> None:
        """Measure one replica's knee and recommend the scaling signal's target."""
        from tritonobs.tune.knee import TUNABLE

        if lab == (url is not None):
            raise UsageError("give exactly one of --lab or --url HOST:PORT")
        if url is not None:
            host_port("--url", url)
        if metrics_url is not None and not metrics_url.startswith(("http://", "https://")):
            raise UsageError(f"--metrics-url {metrics_url!r}: expected http://HOST:PORT/metrics")
        step_s = seconds("--step", step, hi=3600)
        count("--max-tokens", max_tokens, 1, 65536)
        if sim_max_num_seqs is not None:
            count("--sim-max-num-seqs", sim_max_num_seqs, 1, 4096)
        level_values = _levels(levels)
        output_dir("--out", out_dir)
        chosen = lab_engine(engine, model, vllm_python, max_num_seqs) if lab else None
        stack = load_stack(spec)
        name = drive_model or stack.model_names[0]
        if name not in stack.model_names:
            raise UsageError(f"--drive {name!r}: not in the spec (models: {', '.join(stack.model_names)})", file=str(spec))
        use = next((u for u in stack.signals if signal is None or u.name == signal), None)
        sig = signal or (use.name if use else "")
        if sig not in TUNABLE:
            raise UsageError(f"tune measures {' and '.join(TUNABLE)} (engine gauges); {sig!r} is not one: pass --signal")
        current = use.target if use is not None else float(stack.spec.autoscaling.targets.get(sig, 0))  # type: ignore[call-overload]
        slo = min(m.slo.ttft_p95_seconds for m in stack.spec.models if m.name == name)
        if chosen is not None:
            run = _tune_lab(stack, spec, name, sig, current, slo, level_values, step_s, max_tokens, chosen,
                            sim_max_num_seqs, model_repository)
        else:
            assert url is not None
            murl = metrics_url or f"http://{host_port('--url', url)[0]}:8002/metrics"
            run = _tune(url, murl, url, name, sig, current, slo, level_values, step_s, max_tokens,
                        _headroom(stack))
        _finish(run, out_dir, spec, write)


def _headroom(stack: Stack) -> float:
    from tritonobs.tune.knee import target_headroom
    a = stack.spec.autoscaling
    return target_headroom(a.predictive, a.headroom)


def _tune_lab(stack: Stack, spec: Path, name: str, sig: str, current: float, slo: float, levels: list[float],
              step_s: float, max_tokens: int, engine: LabEngine, sim_seqs: int | None, repo: Path | None) -> TuneRun:
    from tritonobs.lab.lab import Lab
    from tritonobs.verify.lab_run import SCALING_SIM

    if engine.kind != "vllm":
        engine = LabEngine(sim={**SCALING_SIM, **({"sim_max_num_seqs": str(sim_seqs)} if sim_seqs else {})})
    elif sim_seqs is not None:
        raise UsageError("--sim-max-num-seqs is for the simulated engine; the real one takes --max-num-seqs")
    repository = repo or spec.resolve().parent / stack.spec.model_repository.path
    with err.status("starting a one-replica lab"), Lab(stack, replicas=1, model_repository=repository, engine=engine,
                                                       backfill_seconds=0, models=[name]) as lab:
        replica = lab.targets[0]
        what = engine.describe() + (f", max_num_seqs {engine.sim.get('sim_max_num_seqs')}" if engine.kind != "vllm" else "")
        return _tune(replica.grpc_url, f"http://{replica.metrics_address}/metrics", "the lab (one replica)", name,
                     sig, current, slo, levels, step_s, max_tokens, _headroom(stack), what)


def _tune(grpc_url: str, metrics_url: str, endpoint: str, name: str, sig: str, current: float, slo: float,
          levels: list[float], step_s: float, max_tokens: int, headroom: float,
          engine_text: str = "the replica at --url") -> TuneRun:
    from tritonobs.tune.drive import drive
    from tritonobs.tune.knee import find_knee, recommend
    total = len(levels) * step_s
    with err.status("driving") as status:
        def tick(t: float, level: float, ok: int) -> None:
            status.update(f"t={t:5.1f}/{total:g}s  {level:g} in flight  {ok} requests done")

        steps = asyncio.run(drive(grpc_url, metrics_url, name, levels, step_s, max_tokens, tick))
    knee = find_knee(steps, slo, sig)
    return TuneRun(endpoint, name, engine_text, sig, current, headroom, slo, step_s, max_tokens, steps, knee,
                   recommend(knee, headroom))


def _finish(run: TuneRun, out_dir: Path, spec: Path, write: bool) -> None:
    from tritonobs.tune.report import write_tune_report
    from tritonobs.tune.spec_write import set_target

    paths = write_tune_report(out_dir, run)
    for s in run.steps:
        p95 = "—" if s.ttft_p95 is None else f"{s.ttft_p95:.2f}s"
        out.print(f"{s.concurrency:>5g} in flight: TTFT p95 {p95:>7}  {s.tokens_per_s:7.0f} tokens/s  "
                  f"{run.signal} {s.signals.get(run.signal, float('nan')):.2f}", markup=False)
    k = run.knee
    if k.load is None or run.recommended is None:
        out.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)
        raise CheckFailed(f"no knee: {k.note}")
    out.print(f"knee: {k.load:.2f} in flight per replica, {k.tokens_per_s or 0:.0f} tokens/s, {run.signal} "
              f"{k.signal_value if k.signal_value is not None else float('nan'):.2f}; recommended target "
              f"{run.recommended:g} (spec: {run.current_target:g})", markup=False)
    if write:
        note = (f"tritonobs tune: knee {k.load:.2f} in flight, {k.tokens_per_s or 0:.0f} tok/s at TTFT p95 "
                f"{run.slo_s:g}s, headroom {run.headroom:g}")
        spec.write_text(set_target(spec.read_text(), run.signal, run.recommended, note, file=str(spec)))
        out.print(f"updated {spec}: autoscaling.targets.{run.signal} = {run.recommended:g}", markup=False)
    out.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)
