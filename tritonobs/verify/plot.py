"""The timeline figure: load, signal vs target, replicas and nodes, TTFT vs SLO, on one time axis."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on CI machines; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from tritonobs.core.timeline import Sample, Timeline  # noqa: E402


def _series(samples: Sequence[Sample], attr: str) -> tuple[list[float], list[float]]:
    pts = [(s.t, v) for s in samples if (v := getattr(s, attr)) is not None]
    return [t for t, _ in pts], [float(v) for _, v in pts]


def _mark_load(ax: Axes, tl: Timeline) -> None:
    for e in tl.of_kind("load_start", "load_step", "load_stop"):
        ax.axvline(e.t, color="0.6", linestyle=":", linewidth=1)


def timeline_png(tl: Timeline) -> bytes:
    samples = sorted(tl.samples, key=lambda s: s.t)
    info = tl.info
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    load_ax, signal_ax, replica_ax, ttft_ax = axes
    title = f"{info.stack} — {info.mode} verify, signal {info.signal}"
    if info.time_factor != 1:
        title += f" (time ÷{info.time_factor:g})"
    fig.suptitle(title)

    t, v = _series(samples, "load")
    load_ax.step(t, v, where="post", color="tab:gray")
    load_ax.set_ylabel("offered load")

    t, v = _series(samples, "signal")
    signal_ax.plot(t, v, color="tab:blue", label=f"{info.signal} per pod (HPA)")
    t, v = _series(samples, "signal_prometheus")
    signal_ax.plot(t, v, color="tab:cyan", linestyle=":", label="same, from Prometheus")
    signal_ax.axhline(info.target, color="tab:red", linestyle="--", label=f"target {info.target:g}")
    signal_ax.set_ylabel("signal")
    signal_ax.legend(loc="upper right", fontsize="small")

    for attr, color, label, style, width in (
        ("current_replicas", "tab:purple", "pods", "-", 2.5),
        ("ready_replicas", "tab:green", "ready", "-", 2.0),
        ("nodes", "tab:brown", "nodes", "--", 1.5),
        ("desired_replicas", "tab:orange", "desired", ":", 2.0),  # drawn last: it often equals pods
    ):
        t, v = _series(samples, attr)
        replica_ax.step(t, v, where="post", color=color, label=label, linestyle=style, linewidth=width)
    replica_ax.axhline(info.min_replicas, color="0.8", linewidth=0.8)
    replica_ax.axhline(info.max_replicas, color="0.8", linewidth=0.8)
    for e in tl.of_kind("hpa_scale"):
        replica_ax.plot([e.t], [e.value or 0], marker="v", color="tab:orange", markersize=5)
    replica_ax.set_ylabel("replicas / nodes")
    replica_ax.set_ylim(0, info.max_replicas + 1)
    replica_ax.legend(loc="upper right", fontsize="small", ncol=4)

    for attr, color, label in (("ttft_p90", "tab:cyan", "TTFT p90"), ("ttft_p95", "tab:blue", "TTFT p95")):
        t, v = _series(samples, attr)
        ttft_ax.plot(t, v, color=color, label=label)
    ttft_ax.axhline(info.slo_ttft_seconds, color="tab:red", linestyle="--", label=f"SLO {info.slo_ttft_seconds:g}s")
    ttft_ax.set_ylabel("TTFT (s)")
    ttft_ax.set_xlabel("seconds since start" + (" (lab time)" if info.time_factor != 1 else ""))
    ttft_ax.legend(loc="upper right", fontsize="small")

    for e in tl.of_kind("pod_failed"):
        replica_ax.plot([e.t], [0.3], marker="x", color="tab:red", markersize=9, markeredgewidth=2)
        replica_ax.annotate("replica failed", (e.t, 0.3), textcoords="offset points", xytext=(4, 4),
                            fontsize="small", color="tab:red")
    for ax in axes:
        _mark_load(ax, tl)
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
