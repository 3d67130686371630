"""The timeline figure: load, signal vs target with the engines' waiting queue, replicas (Ready vs not yet
Ready) and nodes, TTFT vs SLO, on one time axis. It tells its story without the report: the verdict and every
budget's window are drawn, every marker is labelled, every axis has its unit."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from tritonobs.core.budgets import BudgetResult, load_step_time  # noqa: E402
from tritonobs.core.timeline import Sample, Timeline  # noqa: E402

LOAD_MARKS = {"load_start": "load start", "load_step": "load step", "load_stop": "load stop"}


def _series(samples: Sequence[Sample], attr: str) -> tuple[list[float], list[float]]:
    pts = [(s.t, v) for s in samples if (v := getattr(s, attr)) is not None]
    return [t for t, _ in pts], [float(v) for _, v in pts]


def _load_unit(tl: Timeline) -> str:
    profile = tl.info.profile
    if profile.startswith("open"):
        return "requests/s"
    if profile.startswith("closed"):
        return "requests in flight"
    return "completed requests/s" if tl.info.mode == "cluster" else "load"


def _mark_load(axes: Sequence[Axes], tl: Timeline) -> None:
    """A dotted line per load change on every panel, named once on the top one."""
    for e in tl.of_kind("load_start", "load_step", "load_stop"):
        for ax in axes:
            ax.axvline(e.t, color="0.5", linestyle=":", linewidth=1)
        value = "" if e.value is None else f" → {e.value:g}"
        axes[0].annotate(LOAD_MARKS[e.kind] + value, (e.t, 1.0), xycoords=("data", "axes fraction"),
                         xytext=(2, -10), textcoords="offset points", fontsize="x-small", color="0.3")


def _verdict(tl: Timeline, results: Sequence[BudgetResult] | None) -> tuple[str, str]:
    if tl.interrupted:
        return "INTERRUPTED (partial)", "tab:orange"
    if results is None:
        return "", "black"
    failed = [r.name for r in results if not r.passed]
    # The failed budgets go on a line of their own: a long list must not run off the figure.
    return ("PASS", "tab:green") if not failed else (f"FAIL\n{', '.join(failed)}", "tab:red")


def _budget_windows(ax: Axes, tl: Timeline, results: Sequence[BudgetResult] | None) -> None:
    """Shade where each duration budget runs, from the moment it starts to its limit, on the replica panel."""
    if not results:
        return
    by = {r.name: r for r in results}
    step = load_step_time(tl)
    stop = tl.first("load_stop")
    windows = [
        ("first_scale_up_seconds", step, "tab:orange", "first scale-up budget"),
        ("return_to_min_seconds", stop.t if stop else None, "tab:purple", "return-to-min budget"),
    ]
    ups = [e.t for e in tl.of_kind("hpa_scale")]
    if ups:
        windows.append(("scale_up_seconds", ups[0], "tab:green", "T_scale_up budget (first scale)"))
    for name, start, color, label in windows:
        r = by.get(name)
        if r is None or start is None or r.limit is None:
            continue
        verdict = "pass" if r.passed else "FAIL"
        measured = "never" if r.measured is None else f"{r.measured:.1f}s"
        ax.axvspan(start, start + r.limit, color=color, alpha=0.08,
                   label=f"{label} {r.limit:g}s: {measured} ({verdict})")


def _references(ax: Axes, tl: Timeline) -> None:
    """The oracle's needed replicas and the ideal reactive's Ready ones over the load window, and the score."""
    from tritonobs.verify.score import Pool, Window, reference_curves, timeline_scores

    info, start, stop = tl.info, tl.first("load_start"), tl.first("load_stop")
    scores = timeline_scores(tl)
    if scores is None or start is None or info.capacity_per_replica is None:
        return
    win = Window(start.t, stop.t if stop is not None else tl.end)
    load = [(s.t, float(s.load)) for s in sorted(tl.samples, key=lambda s: s.t)
            if s.load is not None and win.start <= s.t <= win.end]
    if load and load[0][0] > win.start:
        load.insert(0, (win.start, load[0][1]))
    pool = Pool(info.min_replicas, info.max_replicas, info.gpus_per_pod, info.gpus_per_node,
                info.cold_start_seconds, info.time_factor)
    oracle, reactive = reference_curves(load, info.capacity_per_replica, pool, win)
    ax.step([t for t, _ in oracle], [v for _, v in oracle], where="post", color="k", linestyle="--", linewidth=1,
            label=f"oracle: needed (load ÷ {info.capacity_per_replica:g})")
    ax.step([t for t, _ in reactive], [v for _, v in reactive], where="post", color="k", linestyle=":",
            linewidth=1, label="ideal reactive: Ready")
    run, o, r = scores["run"], scores["oracle"], scores["ideal_reactive"]

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    ax.text(0.99, 0.03, f"SLO attainment {pct(run.slo_time_share)} of the time (oracle {pct(o.slo_time_share)}, "
            f"ideal reactive {pct(r.slo_time_share)}); GPU-hours {run.gpu_hours:.3g} = "
            f"{run.gpu_hours / o.gpu_hours if o.gpu_hours else float('nan'):.2f}× oracle",
            transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})


def timeline_png(tl: Timeline, results: Sequence[BudgetResult] | None = None) -> bytes:
    samples = sorted(tl.samples, key=lambda s: s.t)
    info = tl.info
    fig, axes = plt.subplots(4, 1, figsize=(11, 11.5), sharex=True, constrained_layout=True)
    load_ax, signal_ax, replica_ax, ttft_ax = axes
    verdict, color = _verdict(tl, results)
    title = f"{info.stack} — {info.mode} verify, signal {info.signal}" + (f" ({info.policy})" if info.policy else "")
    if info.time_factor != 1:
        title += f", time ÷{info.time_factor:g}"
    fig.suptitle(title + (f" — {verdict}" if verdict else ""), color=color, fontweight="bold")

    t, v = _series(samples, "load")
    unit = _load_unit(tl)
    load_ax.step(t, v, where="post", color="tab:gray", label=f"offered load ({unit})")
    load_ax.set_ylabel(f"offered load\n({unit})")
    load_ax.legend(loc="upper right", fontsize="small")

    t, v = _series(samples, "signal")
    signal_ax.plot(t, v, color="tab:blue", label=f"{info.signal} per pod, as the HPA read it")
    t, v = _series(samples, "signal_prometheus")
    signal_ax.plot(t, v, color="tab:cyan", linestyle=":", label="same, from Prometheus now")
    t, v = _series(samples, "engine_waiting")
    if t:
        signal_ax.step(t, v, where="post", color="tab:olive", linewidth=1.2,
                       label="requests waiting in the engines (all pods)")
    signal_ax.axhline(info.target, color="tab:red", linestyle="--", label=f"target {info.target:g} per pod")
    signal_ax.set_ylabel("signal / queue\n(requests)")
    signal_ax.legend(loc="upper right", fontsize="small")

    t, ready = _series(samples, "ready_replicas")
    tc, current = _series(samples, "current_replicas")
    replica_ax.fill_between(t, 0, ready, step="post", color="tab:green", alpha=0.35, label="pods Ready (serving)")
    if len(tc) == len(t) and tc == t:
        replica_ax.fill_between(t, ready, current, step="post", color="tab:orange", alpha=0.35, hatch="//",
                                label="pods not yet Ready (no signal value)")
    for attr, col, label, style, width in (
        ("current_replicas", "tab:purple", "pods", "-", 2.0),
        ("nodes", "tab:brown", "GPU nodes Ready", "--", 1.5),
        ("desired_replicas", "tab:orange", "desired (HPA)", ":", 2.0),
    ):
        ts, vs = _series(samples, attr)
        replica_ax.step(ts, vs, where="post", color=col, label=label, linestyle=style, linewidth=width)
    scales = tl.of_kind("hpa_scale")
    if scales:
        replica_ax.plot([e.t for e in scales], [e.value or 0 for e in scales], "v", color="tab:orange",
                        markersize=6, linestyle="none", label="HPA scaled (lastScaleTime)")
    fails = tl.of_kind("pod_failed")
    if fails:
        replica_ax.plot([e.t for e in fails], [0.3] * len(fails), "x", color="tab:red", markersize=9,
                        markeredgewidth=2, linestyle="none", label="replica stopped serving")
    _references(replica_ax, tl)
    _budget_windows(replica_ax, tl, results)
    replica_ax.set_ylabel("replicas / nodes\n(count)")
    replica_ax.set_ylim(0, info.max_replicas + 1.5)
    replica_ax.axhline(info.max_replicas, color="0.7", linewidth=0.8)
    replica_ax.annotate(f"max {info.max_replicas}", (1.0, info.max_replicas), xycoords=("axes fraction", "data"),
                        xytext=(-2, 2), textcoords="offset points", fontsize="x-small", color="0.4", ha="right")
    replica_ax.legend(loc="upper left", fontsize="x-small", ncol=3)

    for attr, col, label in (("ttft_p90", "tab:cyan", "TTFT p90 (Prometheus)"),
                             ("ttft_p95", "tab:blue", "TTFT p95 (Prometheus histogram)")):
        ts, vs = _series(samples, attr)
        ttft_ax.plot(ts, vs, color=col, label=label)
    if tl.requests and info.ttft_window_seconds > 0:
        from tritonobs.verify.score import client_p95

        pts = client_p95(tl.requests, [s.t for s in samples], info.ttft_window_seconds)
        ttft_ax.plot([t for t, _ in pts], [v for _, v in pts], color="k", linewidth=1.2,
                     label=f"TTFT p95 (client, last {info.ttft_window_seconds:g}s)")
    slo = info.slo_ttft_seconds
    ttft_ax.axhline(slo, color="tab:red", linestyle="--", label=f"SLO p95 ≤ {slo:g} s")
    ts, vs = _series(samples, "ttft_p95")
    over = [vs[i] > slo for i in range(len(vs))]
    if any(over):
        ttft_ax.fill_between(ts, 0, 1, where=over, step="post", color="tab:red", alpha=0.12,
                             transform=ttft_ax.get_xaxis_transform(), label=_over_label(results))
    ttft_ax.set_ylabel("TTFT (s)")
    ttft_ax.set_xlabel("seconds since start" + (" (lab time)" if info.time_factor != 1 else ""))
    ttft_ax.legend(loc="upper right", fontsize="small")

    _mark_load(list(axes), tl)
    for ax in axes:
        for i, (a, b) in enumerate(tl.metrics_gaps()):
            ax.axvspan(a, b, color="tab:red", alpha=0.12, label="Prometheus unreachable" if i == 0 and ax is
                       signal_ax else None)
        ax.grid(True, alpha=0.3)
    if tl.metrics_gaps():
        signal_ax.legend(loc="upper right", fontsize="small")
    buf = io.BytesIO()
    # No Software/date metadata: the same timeline gives the same bytes.
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _over_label(results: Sequence[BudgetResult] | None) -> str:
    r = next((r for r in results or () if r.name == "ttft_over_slo_seconds"), None)
    if r is None or r.limit is None or r.measured is None:
        return "TTFT p95 over the SLO"
    return f"over the SLO: {r.measured:.1f}s of {r.limit:g}s budget ({'pass' if r.passed else 'FAIL'})"
