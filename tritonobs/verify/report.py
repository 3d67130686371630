"""The verification report: `report.json` (machine-readable), `report.md` (for humans) and `timeline.png`.

`report_json` and `report_markdown` are pure (timeline and budget results in, data out); `write_report` is
the small edge that writes the three files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tritonobs.core.budgets import BudgetResult, passed
from tritonobs.core.signals import SIGNALS
from tritonobs.core.timeline import Timeline

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
TIMELINE_PNG = "timeline.png"


def _round(value: Any) -> Any:
    """Round floats to milliseconds (or 6 significant digits below 1) so the JSON reads and diffs well."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 6) if abs(value) < 1 else round(value, 3)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def outcome(tl: Timeline, results: Sequence[BudgetResult]) -> str:
    if tl.interrupted:
        return "interrupted"
    return "pass" if passed(results) else "fail"


def summary(tl: Timeline) -> dict[str, Any]:
    def values(attr: str) -> list[float]:
        return [v for s in sorted(tl.samples, key=lambda s: s.t) if (v := getattr(s, attr)) is not None]

    current, ready, nodes = values("current_replicas"), values("ready_replicas"), values("nodes")
    signal = values("signal")
    return {
        "replicas_start": current[0] if current else None,
        "replicas_peak": max(current, default=None),
        "replicas_end": current[-1] if current else None,
        "ready_peak": max(ready, default=None),
        "nodes_peak": max(nodes, default=None),
        "signal_peak": max(signal, default=None),
        "scale_decisions": len(tl.of_kind("scale_decision")),
        "duration_seconds": tl.end,
    }


def report_json(tl: Timeline, results: Sequence[BudgetResult]) -> dict[str, Any]:
    from tritonobs.verify.score import scores_json, timeline_scores

    scores = timeline_scores(tl)
    doc = {
        "score": None if scores is None else scores_json(scores),
        "outcome": outcome(tl, results),
        "budgets": [asdict(r) for r in results],
        "summary": summary(tl),
        "timeline": tl.to_dict(),
    }
    return dict(_round(doc))


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "never"
    if unit == "USD":
        return f"${value:,.2f}"
    if unit == "h":
        return f"{value:.3f} h"
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{value:.1f} {unit}"


def report_markdown(tl: Timeline, results: Sequence[BudgetResult], png_name: str = TIMELINE_PNG) -> str:
    info, s = tl.info, summary(tl)
    verdict = outcome(tl, results).upper()
    lines = [
        f"# Scaling verification: {info.stack} ({info.mode}) — {verdict}",
        "",
        f"- HPA `{info.namespace}/{info.hpa}` on `{info.signal}`, target {info.target:g} per pod, "
        f"{info.min_replicas}–{info.max_replicas} replicas",
        *_signal_lines(info.signal),
        f"- load: {info.profile or 'external'}",
        f"- TTFT SLO: p95 ≤ {info.slo_ttft_seconds:g} s (strictest model)",
        f"- GPU pool: {info.gpus_per_pod} GPU(s) per pod, {info.gpus_per_node} per node, "
        f"${info.hourly_price_usd:g} per node-hour",
    ]
    if info.time_factor != 1:
        lines.append(
            f"- lab time factor {info.time_factor:g}: every spec duration (HPA sync and behavior, node launch, "
            f"image pull, model load, budgets) is divided by it; GPU-hours and cost are in real-cluster time"
        )
    if tl.interrupted:
        lines.append("- **interrupted**: this is a partial report")
    lines += [f"- **fault**: {line}" for line in fault_lines(tl)]
    lines += [f"- **load records missing**: {line}" for line in tl.load_problems]
    lines += [
        "",
        f"Replicas {s['replicas_start']} → peak {s['replicas_peak']} → {s['replicas_end']}; "
        f"peak nodes {s['nodes_peak']}; {s['scale_decisions']} scale decision(s); "
        f"{s['duration_seconds']:.0f} s observed.",
        "",
        "## Budgets",
        "",
        "| budget | measured | limit | result | note |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        limit = "—" if r.limit is None else _fmt(r.limit, r.unit)
        result = "—" if r.limit is None else ("pass" if r.passed else "**FAIL**")
        lines.append(f"| {r.title} | {_fmt(r.measured, r.unit)} | {limit} | {result} | {r.note} |")
    from tritonobs.verify.score import scores_markdown, timeline_scores

    scores = timeline_scores(tl)
    if scores is not None and info.capacity_per_replica is not None:
        lines += ["", *scores_markdown(scores, info.capacity_per_replica, info.cold_start_seconds)]
    else:
        lines += ["", "No score against the oracle: the capacity per replica is not known (pass --capacity, "
                  "measured by `tritonobs tune`)."]
    lines += ["", "## Timeline", "", f"![timeline]({png_name})", "", "| t (s) | event | subject | detail |", "|---|---|---|---|"]
    for e in tl.sorted_events():
        value = "" if e.value is None else f"{e.value:g}"
        detail = f"{e.detail} ({value})" if e.detail and value else (e.detail or value)
        lines.append(f"| {e.t:.1f} | {e.kind} | {e.subject} | {detail} |")
    return "\n".join(lines) + "\n"


def fault_lines(tl: Timeline) -> list[str]:
    """What broke underneath the run, one line each: replicas that stopped serving, Prometheus outages."""
    lines = [f"replica {e.subject} stopped serving at t={e.t:.1f}s: {e.detail}" for e in tl.of_kind("pod_failed")]
    url = next((e.subject for e in tl.of_kind("metrics_unreachable")), "Prometheus")
    lines += [f"Prometheus {url} unreachable from t={a:.1f}s to t={b:.1f}s ({b - a:.1f}s)" for a, b in tl.metrics_gaps()]
    return lines


def _signal_lines(name: str) -> list[str]:
    sig = SIGNALS.get(name)
    if sig is None:
        return []
    sees = "sees" if sig.sees_vllm_queue else "is blind to"
    return [f"- signal: {sig.description} It {sees} the requests waiting inside vLLM."]


def write_report(out_dir: Path, tl: Timeline, results: Sequence[BudgetResult]) -> list[Path]:
    """Write report.json, report.md and timeline.png into out_dir (created if missing)."""
    from tritonobs.verify.plot import timeline_png  # lazily: matplotlib is slow to import (start-up speed)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / REPORT_JSON, out_dir / REPORT_MD, out_dir / TIMELINE_PNG]
    paths[0].write_text(json.dumps(report_json(tl, results), indent=2, sort_keys=True) + "\n")
    paths[1].write_text(report_markdown(tl, results))
    paths[2].write_bytes(timeline_png(tl, results))
    return paths
