"""`verify --lab --compare reactive,predictive,warm`: the same load trace under each scaling policy, one table
and one figure. Pure except `write_comparison`.

Policies (each a variant of the spec, everything else equal):
- reactive: the per-pod signal alone (autoscaling.predictive off, no warm nodes);
- predictive: the predictive floor on (autoscaling.predictive, the spec's lookahead and headroom), no warm nodes;
- warm: reactive, with `gpu_pool.warm_nodes` warm nodes (the spec's, or 1 when it has none).

Each run is scored against the oracle and the ideal reactive controller of its own sampled trace (the same
profile: the references agree up to sampling). The targets of issue 13 are stated with their measured values.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tritonobs.core.model import Stack

POLICIES = ("reactive", "predictive", "warm")
COMPARE_JSON = "report.json"
COMPARE_MD = "report.md"
COMPARE_PNG = "compare.png"
# Issue 13, item 5: predictive + headroom on a 2x ramp; reactive on a step.
PREDICTIVE_MIN_ATTAINMENT = 0.99
PREDICTIVE_MAX_GPU_RATIO = 1.15
REACTIVE_MAX_OVER_SLO_RATIO = 1.2


def policy_stack(stack: Stack, policy: str) -> Stack:
    """The stack as `policy` runs it."""
    from tritonobs.core.model import resolve

    spec = stack.spec
    auto = spec.autoscaling.model_copy(update={"predictive": policy == "predictive"})
    warm = 0 if policy != "warm" else (spec.gpu_pool.warm_nodes or 1)
    pool = spec.gpu_pool.model_copy(update={"warm_nodes": warm})
    return resolve(spec.model_copy(update={"autoscaling": auto, "gpu_pool": pool}))


def parse_policies(text: str) -> list[str]:
    from tritonobs.core.errors import UsageError

    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [n for n in names if n not in POLICIES]
    if not names or bad or len(set(names)) != len(names):
        raise UsageError(f"--compare {text!r}: a comma-separated list of distinct policies from {', '.join(POLICIES)}")
    return names


def _row(doc: Mapping[str, Any]) -> dict[str, Any]:
    score = doc.get("score") or {}
    run = score.get("run") or {}
    over = next((b["measured"] for b in doc.get("budgets", []) if b["name"] == "ttft_over_slo_seconds"), None)
    return {
        "outcome": doc.get("outcome"),
        "slo_time_share": run.get("slo_time_share"),
        "slo_time_share_prometheus": run.get("slo_time_share_prometheus"),
        "slo_request_share": run.get("slo_request_share"),
        "over_slo_seconds": run.get("over_slo_seconds", over),
        "gpu_hours": run.get("gpu_hours"),
        "avg_replicas": run.get("avg_replicas"),
        "gpu_hours_vs_oracle": score.get("gpu_hours_vs_oracle"),
        "over_slo_vs_ideal_reactive": score.get("over_slo_vs_ideal_reactive"),
        "oracle": score.get("oracle"),
        "ideal_reactive": score.get("ideal_reactive"),
    }


def _target(name: str, policy: str, measured: float | None, limit: float, at_least: bool) -> dict[str, Any]:
    met = measured is not None and (measured >= limit if at_least else measured <= limit)
    return {"name": name, "policy": policy, "measured": measured, "limit": limit,
            "kind": "at least" if at_least else "at most", "met": met}


def comparison(docs: Mapping[str, Mapping[str, Any]], trace: str) -> dict[str, Any]:
    """The comparison document from each policy's report.json."""
    rows = {p: _row(d) for p, d in docs.items()}
    first = next(iter(rows.values()), {})
    targets = []
    if "predictive" in rows:
        r = rows["predictive"]
        targets.append(_target("TTFT p95 within the SLO, share of time", "predictive", r["slo_time_share"],
                               PREDICTIVE_MIN_ATTAINMENT, True))
        targets.append(_target("GPU-hours / oracle's", "predictive", r["gpu_hours_vs_oracle"],
                               PREDICTIVE_MAX_GPU_RATIO, False))
    if "reactive" in rows:
        targets.append(_target("TTFT-over-SLO seconds / ideal reactive's", "reactive",
                               rows["reactive"]["over_slo_vs_ideal_reactive"], REACTIVE_MAX_OVER_SLO_RATIO, False))
    return {
        "trace": trace,
        "policies": rows,
        "oracle": first.get("oracle"),
        "ideal_reactive": first.get("ideal_reactive"),
        "targets": targets,
    }


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _num(v: float | None, fmt: str = ".3f", suffix: str = "") -> str:
    return "—" if v is None else f"{v:{fmt}}{suffix}"


def comparison_markdown(doc: Mapping[str, Any], png_name: str = COMPARE_PNG) -> str:
    lines = [
        "# Scaling policies compared on one trace",
        "",
        f"- trace: {doc['trace']}",
        "- each policy's own report: `<policy>/report.md`; the references are computed from the same trace",
        "",
        "- SLO attainment (time) is judged on the client's TTFT p95; Prometheus' histogram p95 (bucket-bounded) beside",
        "- budgets: each run's own verdict (with --compare's short settle, return-to-min is not waited for)",
        "",
        "| policy | budgets | SLO attainment (time) | same, Prometheus p95 | SLO attainment (requests) | over SLO (s) "
        "| GPU-hours | × oracle GPU-h | avg replicas | over SLO × ideal reactive |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["policies"].items():
        lines.append(
            f"| {name} | {r['outcome']} | {_pct(r['slo_time_share'])} | {_pct(r['slo_time_share_prometheus'])} "
            f"| {_pct(r['slo_request_share'])} "
            f"| {_num(r['over_slo_seconds'], '.1f')} | {_num(r['gpu_hours'])} | {_num(r['gpu_hours_vs_oracle'], '.2f', '×')} "
            f"| {_num(r['avg_replicas'], '.2f')} | {_num(r['over_slo_vs_ideal_reactive'], '.2f', '×')} |"
        )
    for key in ("oracle", "ideal_reactive"):
        ref = doc.get(key)
        if ref:
            lines.append(
                f"| *{key.replace('_', ' ')}* | — | {_pct(ref['slo_time_share'])} | — | {_pct(ref['slo_request_share'])} "
                f"| {_num(ref['over_slo_seconds'], '.1f')} | {_num(ref['gpu_hours'])} | — | {_num(ref['avg_replicas'], '.2f')} | — |"
            )
    if doc["targets"]:
        lines += ["", "## Targets (issue 13), as measured", "", "| target | policy | measured | limit | met |",
                  "|---|---|---|---|---|"]
        for t in doc["targets"]:
            lines.append(f"| {t['name']} | {t['policy']} | {_num(t['measured'], '.3f')} | {t['kind']} {t['limit']:g} "
                         f"| {'yes' if t['met'] else '**no**'} |")
        missed = [t for t in doc["targets"] if not t["met"]]
        lines += ["", "Closing note: " + ("every target met." if not missed else "; ".join(_miss(t) for t in missed) + ".")]
    lines += ["", f"![comparison]({png_name})", ""]
    return "\n".join(lines)


def _miss(t: Mapping[str, Any]) -> str:
    """How far a target was missed, in its own terms."""
    m, limit = t["measured"], t["limit"]
    if m is None:
        return f"{t['policy']}: {t['name']} not measured"
    gap = (limit - m) if t["kind"] == "at least" else (m - limit)
    unit = " points" if t["kind"] == "at least" and limit <= 1 else ""
    shown = f"{100 * gap:.1f}{unit}" if unit else f"{gap:.3g}"
    return f"{t['policy']} misses '{t['name']}' by {shown} ({m:.3f} against {t['kind']} {limit:g})"


def comparison_png(doc: Mapping[str, Any], curves: Mapping[str, Sequence[tuple[float, float]]],
                   references: Mapping[str, Sequence[tuple[float, float]]], slo_s: float, time_factor: float) -> bytes:
    """Replicas over time per policy with the oracle's and ideal reactive's; attainment and GPU-hours bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, att, gpu) = plt.subplots(3, 1, figsize=(11, 10), constrained_layout=True,
                                       gridspec_kw={"height_ratios": [2, 1, 1]})
    fig.suptitle(f"Policies on one trace: {doc['trace']}" + (f" (time ÷{time_factor:g})" if time_factor != 1 else ""))
    for name, pts in curves.items():
        ax.step([t for t, _ in pts], [v for _, v in pts], where="post", label=f"{name}: pods", linewidth=2)
    for (name, pts), style in zip(references.items(), ("--", ":"), strict=False):
        ax.step([t for t, _ in pts], [v for _, v in pts], where="post", color="k", linestyle=style,
                label=name.replace("_", " ") + (": needed" if name == "oracle" else ": Ready"))
    ax.set_ylabel("replicas (pods)")
    ax.set_xlabel("seconds since the load started (lab time)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(True, alpha=0.3)

    names = [*doc["policies"], "oracle", "ideal_reactive"]
    rows = [*doc["policies"].values(), doc.get("oracle") or {}, doc.get("ideal_reactive") or {}]
    share = [100 * (r.get("slo_time_share") or 0.0) for r in rows]
    bars = att.bar(names, share, color=["tab:blue"] * len(doc["policies"]) + ["0.4", "0.7"])
    att.bar_label(bars, labels=[_pct(r.get("slo_time_share")) for r in rows], fontsize="small")
    att.axhline(100 * PREDICTIVE_MIN_ATTAINMENT, color="tab:red", linestyle="--",
                label=f"target {PREDICTIVE_MIN_ATTAINMENT:.0%} (predictive)")
    att.set_ylabel(f"time with TTFT p95 ≤ {slo_s:g} s (%)")
    att.set_ylim(0, 110)
    att.legend(loc="lower right", fontsize="small")

    hours = [r.get("gpu_hours") or 0.0 for r in rows]
    bars = gpu.bar(names, hours, color=["tab:green"] * len(doc["policies"]) + ["0.4", "0.7"])
    gpu.bar_label(bars, labels=[_num(r.get("gpu_hours")) for r in rows], fontsize="small")
    oracle = (doc.get("oracle") or {}).get("gpu_hours")
    if oracle:
        gpu.axhline(oracle * PREDICTIVE_MAX_GPU_RATIO, color="tab:red", linestyle="--",
                    label=f"{PREDICTIVE_MAX_GPU_RATIO:g}× oracle")
        gpu.legend(loc="lower right", fontsize="small")
    gpu.set_ylabel("GPU-hours (real-cluster time)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_comparison(out_dir: Path, doc: Mapping[str, Any], png: bytes) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / COMPARE_JSON, out_dir / COMPARE_MD, out_dir / COMPARE_PNG]
    paths[0].write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    paths[1].write_text(comparison_markdown(doc))
    paths[2].write_bytes(png)
    return paths
