"""`verify --lab --compare reactive,predictive,warm`: one lab run per policy on the same trace, each with its
own report in `<out>/<policy>/`, then one comparison (report.json, report.md, compare.png) in `<out>/`.

The comparison measures; it does not judge the budgets (each policy's outcome is in the table). It exits 1
when a run failed underneath (interrupted, requests failing beyond the budget, the signal missing beyond the
budget, a replica that stopped serving): its figures would not say what the policy does. Unless --settle is
given, each run stops a few seconds after the load (the score covers the load window only).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from tritonobs.core.errors import CheckFailed
from tritonobs.core.model import Stack
from tritonobs.core.timeline import Timeline
from tritonobs.verify.lab_run import LabVerifyOptions

out = Console(highlight=False, soft_wrap=True)
COMPARE_SETTLE_S = 5.0
UNDERNEATH = ("failed_request_ratio", "signal_missing_seconds")


def broken(tl: Timeline, results: Sequence[Any]) -> list[str]:
    """Why a run's figures cannot stand for its policy (empty: they can)."""
    why = ["interrupted"] if tl.interrupted else []
    why += [f"{r.name} over budget" for r in results if r.name in UNDERNEATH and not r.passed]
    why += [f"replica {e.subject} stopped serving" for e in tl.of_kind("pod_failed")]
    return why


def run_compare(stack: Stack, opts: LabVerifyOptions, policies: Sequence[str], out_dir: Path, trace: str, *,
                settle_given: bool, progress: Callable[[Timeline], Any]) -> None:
    from tritonobs.core.budgets import evaluate
    from tritonobs.verify.compare import comparison, comparison_png, policy_stack, write_comparison
    from tritonobs.verify.lab_run import run_info, run_lab_verify
    from tritonobs.verify.report import report_json, write_report
    from tritonobs.verify.score import Pool, Window, reference_curves

    docs: dict[str, dict[str, Any]] = {}
    timelines: dict[str, Timeline] = {}
    problems: list[str] = []
    for policy in policies:
        pstack = policy_stack(stack, policy)
        popts = dataclasses.replace(opts, policy=policy,
                                    settle_s=opts.settle_s if settle_given else COMPARE_SETTLE_S)
        tl = Timeline(run_info(pstack, popts, trace, time.time()))
        out.print(f"--- policy {policy}: {trace}", markup=False)
        show = progress(tl)
        with show.status:
            try:
                run_lab_verify(pstack, popts, tl, show)
            except KeyboardInterrupt:
                tl.interrupted = True
                write_report(out_dir / policy, tl, evaluate(tl, pstack.spec.budgets))
                raise
        results = evaluate(tl, pstack.spec.budgets)
        paths = write_report(out_dir / policy, tl, results)
        out.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)
        docs[policy] = report_json(tl, results)
        timelines[policy] = tl
        problems += [f"{policy}: {w}" for w in broken(tl, results)]

    doc = comparison(docs, trace)
    first = timelines[policies[0]]
    start = first.first("load_start")
    t0 = start.t if start else 0.0
    curves = {p: [(s.t - _start(tl), float(s.current_replicas)) for s in sorted(tl.samples, key=lambda s: s.t)
                  if s.current_replicas is not None] for p, tl in timelines.items()}
    refs: dict[str, list[tuple[float, float]]] = {}
    info = first.info
    if info.capacity_per_replica:
        stop = first.first("load_stop")
        win = Window(0.0, (stop.t if stop else first.end) - t0)
        load = [(s.t - t0, s.load) for s in sorted(first.samples, key=lambda s: s.t) if s.load is not None and s.t >= t0]
        pool = Pool(info.min_replicas, info.max_replicas, info.gpus_per_pod, info.gpus_per_node,
                    info.cold_start_seconds, info.time_factor)
        oracle, reactive = reference_curves(load, info.capacity_per_replica, pool, win)
        refs = {"oracle": list(oracle), "ideal_reactive": list(reactive)}
    png = comparison_png(doc, curves, refs, info.slo_ttft_seconds, info.time_factor)
    paths = write_comparison(out_dir, doc, png)
    for name, row in doc["policies"].items():
        share = row["slo_time_share"]
        out.print(f"{name:>10}: SLO attainment {'—' if share is None else f'{share:.1%}'} of the time, "
                  f"{row['gpu_hours'] or 0:.3f} GPU-hours ({_ratio(row['gpu_hours_vs_oracle'])} oracle), "
                  f"budgets {row['outcome']}", markup=False)
    for t in doc["targets"]:
        measured = "—" if t["measured"] is None else f"{t['measured']:.3f}"
        out.print(f"target {t['policy']}: {t['name']} {t['kind']} {t['limit']:g}: measured {measured} "
                  f"({'met' if t['met'] else 'NOT met'})", markup=False)
    out.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False)
    if problems:
        raise CheckFailed(f"the comparison stands on broken runs: {'; '.join(problems)} (see {paths[1]})")


def _start(tl: Timeline) -> float:
    e = tl.first("load_start")
    return e.t if e else 0.0


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}x"

