"""Signal truth: how well does each scaling signal track the requests a pod really holds?

A lab with 2 replicas takes a step load from a seed-style client (the seed's prompt template and sampling,
gRPC streaming, closed loop): low -> about 4x capacity -> low. Every second it samples, per pod, the true
number of requests in flight (counted client side) and every scaling signal evaluated from the lab's
Prometheus exactly as the adapter/recording rule would (`SIGNALS[name].per_pod`). It reports each signal's
Spearman rank correlation with the truth and its delay after each step (time from the step until the signal
crosses half of its step response), saves the raw samples (CSV) and a plot (PNG).

Capacity, simulated engine: the KV-cache-bound number of sequences one engine keeps running with these
answers, kv_cache_tokens / (prompt tokens + max_tokens / 2) -- a sequence holds half its answer on average.
Real engine (`--engine vllm --model DIR`, vLLM's CPU build on a local model): its batch limit max_num_seqs
(the tiny model's KV cache never fills first).

    .venv/bin/python bench/signal_truth.py [--low-s 30 --high-s 60 --tail-s 90 --out DIR]
    .venv/bin/python bench/signal_truth.py --engine vllm --model DIR [--max-num-seqs 8]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tritonobs.core.model import resolve
from tritonobs.core.signals import SIGNALS
from tritonobs.core.spec_loader import load_spec
from tritonobs.lab.engine import LAB_MAX_NUM_SEQS, LabEngine
from tritonobs.lab.lab import Lab
from tritonobs.lab.observe import signals_by_pod, wait_scraped
from tritonobs.load.generator import LoadGenerator, LoadPlan
from tritonobs.load.profiles import Step
from tritonobs.load.request import SAMPLING_PARAMETERS, load_prompts, wrap_prompt
from tritonobs.models.serving.sim_engine import SimParams, count_tokens
from tritonobs.prom.client import PrometheusClient

REPO = Path(__file__).resolve().parent.parent
SIGNAL_NAMES = ("waiting_requests", "inflight_requests", "queue_time_avg", "queue_compute_ratio", "ttft_p90")
TRUTH = "true_inflight"


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load started
    pod: str
    values: dict[str, float]  # TRUTH and every signal (NaN = no value)


# --- statistics (no scipy needed) ---


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties get the average of the ranks they span (what Spearman needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of the ranks. NaN when either side is constant."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if not (math.isnan(a) or math.isnan(b))]
    if len(pairs) < 3:
        return math.nan
    xs, ys = zip(*pairs, strict=True)
    return pearson(ranks(xs), ranks(ys))


@dataclass(frozen=True)
class StepResponse:
    before: float  # median level before the step
    after: float  # median level at the end of the phase
    delay: float  # seconds from the step to the halfway crossing; NaN when the signal does not respond


def step_response(times: Sequence[float], values: Sequence[float], t_step: float, t_end: float,
                  settle: float) -> StepResponse:
    """Level before the step (median of the `settle` seconds before it), level at the end of the phase
    (median of the last `settle` seconds), and the time from the step until the series first crosses
    halfway between them. A change within the noise before the step (2 standard deviations) is no
    response: a flat signal has no delay."""
    before = [v for t, v in zip(times, values, strict=True) if t_step - settle <= t < t_step and not math.isnan(v)]
    after = [v for t, v in zip(times, values, strict=True) if t_end - settle <= t < t_end and not math.isnan(v)]
    if not before or not after:
        return StepResponse(math.nan, math.nan, math.nan)
    lo, hi = statistics.median(before), statistics.median(after)
    noise = statistics.pstdev(before) if len(before) > 1 else 0.0
    if abs(hi - lo) <= max(2 * noise, 1e-9, 0.05 * max(abs(lo), abs(hi))):
        return StepResponse(lo, hi, math.nan)
    half = (lo + hi) / 2
    for t, v in zip(times, values, strict=True):
        if t >= t_step and not math.isnan(v) and ((hi > lo and v >= half) or (hi < lo and v <= half)):
            return StepResponse(lo, hi, t - t_step)
    return StepResponse(lo, hi, math.nan)


# --- the run ---


async def _sample_loop(lab: Lab, gen: LoadGenerator, task: asyncio.Task, t0: float, total: float,  # type: ignore[type-arg]
                       samples: list[Sample], progress: Progress) -> None:
    client = PrometheusClient(lab.prometheus_url)
    bar = progress.add_task("step load", total=total)
    next_tick = time.monotonic()
    while not task.done():
        t = time.monotonic() - t0
        inflight = gen.inflight_by_target()
        values = await asyncio.to_thread(signals_by_pod, client, lab.stack, SIGNAL_NAMES)
        for r in lab.targets:
            row = {TRUTH: float(inflight.get(r.grpc_url, 0))}
            row.update({name: values[name].get(r.pod, math.nan) for name in SIGNAL_NAMES})
            samples.append(Sample(round(t, 3), r.pod, row))
        s = gen.stats()
        progress.update(bar, completed=min(t, total),
                        description=f"step load: concurrency {s.schedule_value:g}, in flight {s.inflight}, ok {s.ok}")
        next_tick += 1.0
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))


async def drive(lab: Lab, model: str, low: int, high: int, low_s: float, high_s: float, tail_s: float,
                prompts: Sequence[str], progress: Progress) -> list[Sample]:
    total = low_s + high_s + tail_s
    plan = LoadPlan("closed", Step(low, ((low_s, high), (low_s + high_s, low))), total, drain_s=5.0, seed=1)
    gen = LoadGenerator(lab.grpc_urls, model, plan, prompts=prompts, connections_per_target=4)
    samples: list[Sample] = []
    t0 = time.monotonic()
    task = asyncio.create_task(gen.run())
    await _sample_loop(lab, gen, task, t0, total, samples, progress)
    await task
    return samples


def write_csv(samples: Sequence[Sample], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "pod", TRUTH, *SIGNAL_NAMES])
        for s in samples:
            w.writerow([f"{s.t:.3f}", s.pod, *(f"{s.values[k]:.6g}" for k in (TRUTH, *SIGNAL_NAMES))])


def read_csv(path: Path) -> list[Sample]:
    with path.open() as f:
        return [Sample(float(row["t_s"]), row["pod"], {k: float(row[k]) for k in (TRUTH, *SIGNAL_NAMES)})
                for row in csv.DictReader(f)]


def plot(samples: Sequence[Sample], steps: tuple[float, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pods = sorted({s.pod for s in samples})
    names = (TRUTH, *SIGNAL_NAMES)
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 2.1 * len(names)), sharex=True)
    for ax, name in zip(axes, names, strict=True):
        for pod in pods:
            pts = [(s.t, s.values[name]) for s in samples if s.pod == pod]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=pod.rsplit("-", 2)[-2] + "-" + pod.rsplit("-", 1)[-1])
        for t in steps:
            ax.axvline(t, color="grey", linestyle="--", linewidth=0.8)
        unit = SIGNALS[name].unit if name in SIGNALS else "requests"
        ax.set_ylabel(f"{name}\n({unit})", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("client-side in-flight requests vs scaling signals per pod (steps dashed)")
    axes[-1].set_xlabel("seconds since load start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(samples: Sequence[Sample], steps: tuple[float, float], end: float) -> Table:
    pods = sorted({s.pod for s in samples})
    t_up, t_down = steps
    settle = 10.0
    table = Table(title="signal truth: per-pod signals vs client-side in-flight requests (2 replicas)")
    for col in ("signal", "sees vLLM queue", "Spearman rho", "n", "low -> high", "delay up (s)",
                "high -> low", "delay down (s)"):
        table.add_column(col, justify="left" if col == "signal" else "right")
    times = sorted({s.t for s in samples if s.pod == pods[0]})
    by_t: dict[float, list[Sample]] = {}
    for s in samples:
        by_t.setdefault(s.t, []).append(s)
    truth = [s.values[TRUTH] for s in samples]
    for name in (TRUTH, *SIGNAL_NAMES):
        vals = [s.values[name] for s in samples]
        rho = spearman(vals, truth)
        n = sum(1 for v in vals if not math.isnan(v))
        # Step responses of the mean over pods: one curve per signal, what a per-pod-average target sees.
        mean = []
        for t in times:
            at = [s.values[name] for s in by_t.get(t, []) if not math.isnan(s.values[name])]
            mean.append(statistics.fmean(at) if at else math.nan)
        up = step_response(times, mean, t_up, t_down, settle)
        down = step_response(times, mean, t_down, end, settle)
        sees = "truth" if name == TRUTH else ("yes" if SIGNALS[name].sees_vllm_queue else "no")
        table.add_row(name, sees, _f(rho), str(n), f"{_g(up.before)} -> {_g(up.after)}", _f(up.delay),
                      f"{_g(down.before)} -> {_g(down.after)}", _f(down.delay))
    return table


def _g(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.3g}"


def _f(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=REPO / "tritonobs.yaml")
    ap.add_argument("--low-s", type=float, default=30.0)
    ap.add_argument("--high-s", type=float, default=60.0)
    ap.add_argument("--tail-s", type=float, default=90.0, help="low again: closed-loop backlog drains")
    ap.add_argument("--time-scale", default="0.5", help="sim engine wall seconds per simulated second")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tritonobs-signal-truth")
    ap.add_argument("--from-csv", type=Path, help="re-analyse a saved samples.csv (same phase lengths) without a lab")
    ap.add_argument("--engine", choices=("simulated", "vllm"), default="simulated")
    ap.add_argument("--model", type=Path, help="vllm: a local Hugging Face model folder (tritonobs lab tiny-model)")
    ap.add_argument("--max-num-seqs", type=int, default=LAB_MAX_NUM_SEQS, help="vllm: batch limit per engine")
    args = ap.parse_args()
    # Piped output (CI logs) gets a table wide enough to read; a terminal keeps its own width.
    console = Console() if sys.stdout.isatty() else Console(width=140)
    steps = (args.low_s, args.low_s + args.high_s)
    end = args.low_s + args.high_s + args.tail_s
    if args.from_csv:
        console.print(report(read_csv(args.from_csv), steps, end))
        return
    stack = resolve(load_spec(args.spec))
    model = stack.model_names[0]
    prompts_file = REPO / "prompts.txt"
    prompts = load_prompts(prompts_file) if prompts_file.exists() else ["Explain what an inference server does."]
    if args.engine == "vllm":
        if args.model is None:
            ap.error("--engine vllm needs --model DIR")
        engine = LabEngine.vllm(args.model, max_num_seqs=args.max_num_seqs)
        per_engine = float(args.max_num_seqs)
        why = f"max_num_seqs {args.max_num_seqs} per engine"
    else:
        engine = LabEngine(sim={"time_scale": args.time_scale})
        kv = SimParams().kv_cache_tokens
        max_tokens = int(SAMPLING_PARAMETERS["max_tokens"])
        prompt_tokens = statistics.fmean(count_tokens(wrap_prompt(p)) for p in prompts)
        per_engine = kv / (prompt_tokens + max_tokens / 2)
        why = f"KV {kv} tokens / ({prompt_tokens:.0f} prompt + {max_tokens}/2) per engine"
    capacity = 2 * per_engine
    low, high = max(1, round(capacity / 4)), round(4 * capacity)
    console.print(f"capacity ~{capacity:.0f} concurrent requests on {model} over 2 replicas ({why}, "
                  f"{engine.describe()}); step {low} -> {high} -> {low}")
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    with console.status("starting the lab (2 replicas, Prometheus)"), \
            Lab(stack, replicas=2, model_repository=REPO / "model_repository", models=[model],
                engine=engine, backfill_seconds=0) as lab:
        console.print(f"lab up: Prometheus {lab.prometheus_url}")
        wait_scraped(PrometheusClient(lab.prometheus_url), lab.stack, (r.pod for r in lab.targets))
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console) as bar:
            samples = asyncio.run(drive(lab, model, low, high, args.low_s, args.high_s, args.tail_s, prompts, bar))
    write_csv(samples, args.out / "samples.csv")
    plot(samples, steps, args.out / "signal_truth.png")
    console.print(report(samples, steps, end))
    console.print(f"raw samples: {args.out / 'samples.csv'}   plot: {args.out / 'signal_truth.png'}   "
                  f"({time.monotonic() - t_start:.0f}s)")


if __name__ == "__main__":
    main()
