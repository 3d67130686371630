"""A PNG of a load run: sent/completed per second against the schedule, latencies, in-flight per target."""

from __future__ import annotations

import math
from pathlib import Path

from tritonobs.load.profiles import Profile
from tritonobs.load.results import RunResult


def per_second(times: list[float], horizon_s: float) -> list[int]:
    """Histogram of event times in 1 s bins over [0, horizon_s)."""
    bins = [0] * max(1, math.ceil(horizon_s))
    for t in times:
        i = int(t)
        if 0 <= i < len(bins):
            bins[i] += 1
    return bins


def plot_run(result: RunResult, path: Path, profile: Profile | None = None) -> None:
    import matplotlib  # here, not at the top: matplotlib costs ~0.5 s and only plots need it

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    records = result.records
    horizon = max(
        [r.end_s for r in records]
        + [result.planned_duration_s if math.isfinite(result.planned_duration_s) else 0.0, 1.0]
    )
    fig, (ax_rate, ax_lat, ax_inf) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)

    edges = list(range(math.ceil(horizon) + 1))
    grid = [horizon * i / 500 for i in range(501)]  # fine enough to draw steps and sines faithfully
    ax_rate.stairs(per_second([r.start_s for r in records], horizon), edges, label="sent/s")
    ax_rate.stairs(per_second([r.end_s for r in records if r.ok], horizon), edges, label="completed ok/s")
    failed_ends = [r.end_s for r in records if not r.ok]
    if failed_ends:
        ax_rate.stairs(per_second(failed_ends, horizon), edges, label="failed/s", color="red")
    if profile is not None and result.mode == "open":
        ax_rate.plot(grid, [profile.value_at(t) for t in grid], "k--", label=f"schedule ({result.profile})")
    ax_rate.set_ylabel("requests / s")
    ax_rate.legend(loc="upper left", fontsize="small")
    ax_rate.set_title(f"{result.mode} loop, {result.profile}: {len(records)} requests")

    ok = [r for r in records if r.ok]
    ax_lat.scatter([r.start_s for r in ok], [r.latency_s for r in ok], s=6, label="latency")
    ttft = [(r.start_s, t) for r in ok if (t := r.ttft_s) is not None]
    ax_lat.scatter([s for s, _ in ttft], [t for _, t in ttft], s=6, label="time to first token")
    ax_lat.set_ylabel("seconds")
    ax_lat.legend(loc="upper left", fontsize="small")

    urls = sorted({r.url for r in records} | {u for s in result.inflight for u in s.by_target})
    for url in urls:
        spans = [(r.start_s, r.end_s) for r in records if r.url == url]
        (line,) = ax_inf.plot(grid, [sum(a <= t < b for a, b in spans) for t in grid], label=url)
        samples = [(s.t_s, s.by_target[url]) for s in result.inflight if url in s.by_target]
        ax_inf.plot(
            [t for t, _ in samples], [n for _, n in samples], "o", color=line.get_color(), markersize=3
        )
    if profile is not None and result.mode == "closed":
        ax_inf.plot(grid, [profile.value_at(t) for t in grid], "k--", label="scheduled concurrency")
    ax_inf.set_ylabel("in flight, client side\n(line: from records, dots: live samples)")
    ax_inf.set_xlabel("seconds since start")
    if urls:
        ax_inf.legend(loc="upper left", fontsize="small")

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
