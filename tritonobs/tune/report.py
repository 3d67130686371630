"""The tune report: tune.json, tune.md and tune.png (TTFT p95 and tokens/s against load, the knee marked).
Pure except `write_tune_report`."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tritonobs.tune.knee import Knee, StepResult

TUNE_JSON, TUNE_MD, TUNE_PNG = "tune.json", "tune.md", "tune.png"


@dataclass(frozen=True)
class TuneRun:
    endpoint: str
    model: str
    engine: str  # what served: the lab's simulated engine (and its batch), real vLLM, or a URL
    signal: str
    current_target: float
    headroom: float
    slo_s: float
    step_s: float
    max_tokens: int
    steps: Sequence[StepResult]
    knee: Knee
    recommended: float | None


def tune_json(run: TuneRun) -> dict[str, Any]:
    doc = asdict(run)
    doc["steps"] = [asdict(s) | {"signals": dict(sorted(s.signals.items()))} for s in run.steps]
    return doc


def tune_markdown(run: TuneRun, png: str = TUNE_PNG) -> str:
    k = run.knee
    lines = [
        f"# tune: {run.model} on {run.endpoint}",
        "",
        f"- engine: {run.engine}; {run.max_tokens} max tokens per request; steps of {run.step_s:g} s (closed loop, "
        "one replica), each measured after its first third",
        f"- SLO: TTFT p95 ≤ {run.slo_s:g} s; signal `{run.signal}` (current target {run.current_target:g}), "
        f"headroom {run.headroom:g}",
        "",
    ]
    if k.found == "between" and k.load is not None:
        value = "—" if k.signal_value is None else f"{k.signal_value:.3g}"
        lines.append(f"**Knee**: {k.load:.2f} requests in flight per replica, {k.tokens_per_s or 0:.0f} tokens/s, "
                     f"`{run.signal}` = {value} ({k.note}).")
    else:
        lines.append(f"**No knee**: {k.note}.")
    if run.recommended is not None:
        lines.append(f"**Recommended target** for `{run.signal}`: {run.recommended:g} (= value at the knee × "
                     f"(1 − {run.headroom:g}); the spec has {run.current_target:g})." + (
                         " The predictive floor is on: it applies the spec's headroom, so the target is the knee."
                         if run.headroom == 0 else ""))
    lines += ["", f"![tune]({png})", "", "| in flight | requests | failed | TTFT p95 (s) | tokens/s | waiting (mean) "
              "| in flight, engine (mean) |", "|---|---|---|---|---|---|---|"]
    for s in run.steps:
        p95 = "—" if s.ttft_p95 is None else f"{s.ttft_p95:.3f}"
        w, f = s.signals.get("waiting_requests"), s.signals.get("inflight_requests")
        lines.append(f"| {s.concurrency:g} | {s.requests} | {s.failed} | {p95} | {s.tokens_per_s:.0f} "
                     f"| {'—' if w is None else f'{w:.2f}'} | {'—' if f is None else f'{f:.2f}'} |")
    return "\n".join(lines) + "\n"


def tune_png(run: TuneRun) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True, constrained_layout=True)
    x = [s.concurrency for s in run.steps]
    measured = [(s.concurrency, s.ttft_p95) for s in run.steps if s.ttft_p95 is not None]
    top.plot([c for c, _ in measured], [v for _, v in measured], "o-", color="tab:blue", label="TTFT p95 (client)")
    top.axhline(run.slo_s, color="tab:red", linestyle="--", label=f"SLO {run.slo_s:g} s")
    top.set_ylabel("TTFT p95 (s)")
    tps = top.twinx()
    tps.plot(x, [s.tokens_per_s for s in run.steps], "s:", color="tab:green", label="streamed tokens/s")
    tps.set_ylabel("tokens/s (one replica)")
    sig = [(s.concurrency, s.signals.get(run.signal)) for s in run.steps if run.signal in s.signals]
    bottom.plot([c for c, _ in sig], [v for _, v in sig], "o-", color="tab:purple", label=f"{run.signal} (mean)")
    if run.recommended is not None:
        bottom.axhline(run.recommended, color="tab:orange", linestyle="--",
                       label=f"recommended target {run.recommended:g}")
    bottom.axhline(run.current_target, color="0.5", linestyle=":", label=f"spec's target {run.current_target:g}")
    bottom.set_ylabel(f"{run.signal}\n(requests per pod)")
    bottom.set_xlabel("requests in flight (closed-loop concurrency, one replica)")
    k = run.knee
    if k.load is not None:
        for ax in (top, bottom):
            ax.axvline(k.load, color="tab:red", linewidth=1)
        top.annotate(f"knee {k.load:.2f} in flight, {k.tokens_per_s or 0:.0f} tok/s", (k.load, run.slo_s),
                     xytext=(6, 8), textcoords="offset points", fontsize="small", color="tab:red")
    fig.suptitle(f"tune: {run.model} ({run.engine})" + ("" if k.load is not None else " — no knee found"))
    lines, labels = top.get_legend_handles_labels()
    l2, lb2 = tps.get_legend_handles_labels()
    top.legend(lines + l2, labels + lb2, loc="upper left", fontsize="small")
    bottom.legend(loc="upper left", fontsize="small")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def write_tune_report(out_dir: Path, run: TuneRun) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / TUNE_JSON, out_dir / TUNE_MD, out_dir / TUNE_PNG]
    paths[0].write_text(json.dumps(_round(tune_json(run)), indent=2, sort_keys=True) + "\n")
    paths[1].write_text(tune_markdown(run))
    paths[2].write_bytes(tune_png(run))
    return paths
