"""Scoring a scaling run like a controller study: SLO attainment, GPU-hours and average replicas of the run,
beside the same figures for two references computed from the same load trace and pool model. Pure.

Definitions (docs/verify.md, "Scoring"):
- Per-replica capacity `c`: the offered load (requests/s in open loop, requests in flight in closed loop) one
  replica carries with TTFT p95 at the SLO — the knee `tritonobs tune` measures, or derived from the signal's
  target (see `capacity_from_signal`).
- Needed capacity: needed(t) = clamp(ceil(load(t) / c), min_replicas, max_replicas). Load before the window
  counts as 0 (the run starts at min replicas).
- Oracle: exactly needed(t) replicas in place at every instant. It misses the SLO only where needed exceeds
  max_replicas (the clamp).
- Ideal reactive: orders needed(t) the instant the load changes and pays the pool's cold start `cold_s`
  (node launch + image pull + model load) before an added replica serves; it releases at once on a drop.
  Replica k serves at t iff needed(s) >= k for every s in [t - cold_s, t], so
  ready(t) = max(min_replicas, min over [t - cold_s, t] of needed). It is billed for what it ordered,
  needed(t), like the oracle: the two differ in attainment, not in GPU-hours.
- Attainment (references): share of time with ready(t) >= load(t)/c (capacity enough); share of requests:
  the same, weighted by the load (the share of arrivals that find enough capacity).
- Attainment (observed): share of the window's time with TTFT p95 at or below the SLO (sample-and-hold, over
  the time a p95 existed). The p95 is the client's: at each sample, over the requests whose first token came in
  the last `ttft_window` seconds (the stack's rate window); Prometheus' histogram p95 is reported beside it
  (`slo_time_share_prometheus`) and used alone when the load was external. Share of requests: requests sent in the window that succeeded with
  TTFT <= SLO, over all requests sent in it (failures count as misses).
- GPU-hours: pool nodes x GPUs per node, in real-cluster hours (lab seconds x time factor); references place
  replicas on ceil(replicas x gpus_per_pod / gpus_per_node) nodes.
- Window: load start -> load stop (the time the load is offered). Everything is in lab seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

# A step function: (t, value) points sorted by t; each value holds until the next point.
Steps = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Window:
    start: float
    end: float


@dataclass(frozen=True)
class Pool:
    """What the references need of the pool and the HPA."""

    min_replicas: int
    max_replicas: int
    gpus_per_pod: int
    gpus_per_node: int
    cold_s: float  # an added replica serves this long after it is ordered (lab seconds)
    time_factor: float = 1.0


@dataclass(frozen=True)
class Score:
    name: str
    slo_time_share: float | None  # None: nothing to judge (no TTFT observed)
    slo_request_share: float | None  # None: requests not counted (external load)
    over_slo_seconds: float  # lab seconds in the window with TTFT (or capacity) short of the SLO
    gpu_hours: float  # real-cluster hours
    avg_replicas: float
    # The run's share of time judged on Prometheus' histogram p95 instead of the client's (None: references).
    # Bucket bounds limit it: vLLM's TTFT buckets go 1 s -> 2.5 s, so a 2 s SLO sits inside a bucket and the
    # interpolated p95 can read above 2 s while every request took less.
    slo_time_share_prometheus: float | None = None


def hold(points: Steps, t: float, before: float = 0.0) -> float:
    """Value of the step function at t (`before` ahead of its first point)."""
    value = before
    for at, v in points:
        if at > t:
            break
        value = v
    return value


def window_min(points: Steps, a: float, b: float, before: float = 0.0) -> float:
    """Minimum of the step function over [a, b]."""
    lo = hold(points, a, before)
    for at, v in points:
        if a < at <= b:
            lo = min(lo, v)
    return lo


def needed(load: float, capacity: float, pool: Pool) -> int:
    """Replicas needed to carry `load` at `capacity` per replica, within the HPA's bounds."""
    # A hair of slack: 6.0 / 2.0 computed from floats must need 3, not 4.
    raw = math.ceil(load / capacity - 1e-9) if load > 0 else 0
    return min(max(raw, pool.min_replicas), pool.max_replicas)


def nodes_for(replicas: float, pool: Pool) -> int:
    return math.ceil(replicas * pool.gpus_per_pod / pool.gpus_per_node - 1e-9)


def _grid(points: Steps, win: Window, shift: float = 0.0) -> list[float]:
    ts = {win.start, win.end}
    for at, _ in points:
        for x in (at, at + shift):
            if win.start < x < win.end:
                ts.add(x)
    return sorted(ts)


def references(load: Steps, capacity: float, pool: Pool, win: Window) -> tuple[Score, Score]:
    """(oracle, ideal reactive) over the window for this load trace."""
    if capacity <= 0:
        raise ValueError("capacity per replica must be > 0")
    need = [(t, float(needed(v, capacity, pool))) for t, v in load]
    grid = _grid(load, win, pool.cold_s)
    min_r = float(pool.min_replicas)
    span = win.end - win.start
    out = []
    for name in ("oracle", "ideal_reactive"):
        good_t = load_total = load_good = over = replica_s = node_s = 0.0
        for a, b in zip(grid, grid[1:], strict=False):
            dt = b - a
            lv = hold(load, a)
            ordered = hold(need, a, min_r)
            ready = ordered if name == "oracle" else max(min_r, window_min(need, a - pool.cold_s, a, min_r))
            enough = ready * capacity >= lv - 1e-9
            good_t += dt if enough else 0.0
            over += 0.0 if enough else dt
            load_total += lv * dt
            load_good += lv * dt if enough else 0.0
            replica_s += ordered * dt
            node_s += nodes_for(ordered, pool) * dt
        out.append(Score(
            name,
            good_t / span if span > 0 else None,
            load_good / load_total if load_total > 0 else None,
            over,
            node_s * pool.time_factor * pool.gpus_per_node / 3600,
            replica_s / span if span > 0 else 0.0,
        ))
    return out[0], out[1]


def reference_curves(load: Steps, capacity: float, pool: Pool, win: Window) -> tuple[Steps, Steps]:
    """(oracle replicas, ideal reactive Ready replicas) as step functions over the window (for figures)."""
    need = [(t, float(needed(v, capacity, pool))) for t, v in load]
    min_r = float(pool.min_replicas)
    grid = _grid(load, win, pool.cold_s)
    oracle = [(t, hold(need, t, min_r)) for t in grid]
    reactive = [(t, max(min_r, window_min(need, t - pool.cold_s, t, min_r))) for t in grid]
    return oracle, reactive


def observed(
    name: str,
    win: Window,
    slo_s: float,
    ttft_p95: Steps,
    replicas: Steps,
    nodes: Steps,
    pool: Pool,
    requests: Sequence[tuple[float, float | None]] | None = None,
) -> Score:
    """The run's own figures. `ttft_p95`, `replicas`, `nodes`: (t, value) samples, held until the next one
    (missing values left out); `requests`: (sent at, TTFT or None when it failed) per request, or None."""
    grid = sorted({win.start, win.end, *(t for t, _ in (*ttft_p95, *replicas, *nodes) if win.start < t < win.end)})
    judged = good = over = replica_s = node_s = 0.0
    first_ttft = ttft_p95[0][0] if ttft_p95 else math.inf
    for a, b in zip(grid, grid[1:], strict=False):
        dt = b - a
        if a >= first_ttft:
            judged += dt
            if hold(ttft_p95, a) <= slo_s:
                good += dt
            else:
                over += dt
        replica_s += hold(replicas, a) * dt
        node_s += hold(nodes, a) * dt
    sent = [ttft for t, ttft in (requests or ()) if win.start <= t <= win.end]
    req_share = None
    if requests is not None and sent:
        req_share = sum(1 for ttft in sent if ttft is not None and ttft <= slo_s) / len(sent)
    span = win.end - win.start
    return Score(
        name,
        good / judged if judged > 0 else None,
        req_share,
        over,
        node_s * pool.time_factor * pool.gpus_per_node / 3600,
        replica_s / span if span > 0 else 0.0,
    )


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def capacity_from_signal(signal: str, target: float, mode: str, batch: int | None) -> float | None:
    """Per-replica capacity in offered-load units, read off the signal's target when it says it directly:
    closed loop (load = requests in flight), `inflight_requests` at target t carries t per replica;
    `waiting_requests` at target t carries the engine's batch plus t. Otherwise None (pass the knee that
    `tritonobs tune` measured)."""
    if mode != "closed":
        return None
    if signal == "inflight_requests":
        return target
    if signal == "waiting_requests" and batch is not None:
        return batch + target
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def client_p95(requests: Sequence[tuple[float, float | None]], times: Sequence[float], window: float,
               q: float = 0.95) -> list[tuple[float, float]]:
    """(t, p95) at each time, over the TTFTs of requests whose first token came in (t - window, t]; times with
    no such request are left out (the previous value holds)."""
    firsts = sorted((start + ttft, ttft) for start, ttft in requests if ttft is not None)
    out = []
    for t in times:
        recent = [ttft for at, ttft in firsts if t - window < at <= t]
        if recent:
            out.append((t, percentile(recent, q)))
    return out


def timeline_scores(tl: object) -> dict[str, Score] | None:
    """{"run", "oracle", "ideal_reactive"} for a timeline whose RunInfo knows the capacity per replica;
    None when it does not, or the load never started."""
    from tritonobs.core.timeline import Timeline

    assert isinstance(tl, Timeline)
    info = tl.info
    start, stop = tl.first("load_start"), tl.first("load_stop")
    if info.capacity_per_replica is None or info.capacity_per_replica <= 0 or start is None:
        return None
    win = Window(start.t, stop.t if stop is not None else tl.end)
    if win.end <= win.start:
        return None
    pool = Pool(info.min_replicas, info.max_replicas, info.gpus_per_pod, info.gpus_per_node,
                info.cold_start_seconds, info.time_factor)
    samples = sorted(tl.samples, key=lambda s: s.t)

    def series(attr: str) -> list[tuple[float, float]]:
        return [(s.t, float(v)) for s in samples if (v := getattr(s, attr)) is not None]

    load = [(t, v) for t, v in series("load") if win.start <= t <= win.end]
    if load and load[0][0] > win.start:
        load.insert(0, (win.start, load[0][1]))  # the first sample comes a moment after the load started
    oracle, reactive = references(load, info.capacity_per_replica, pool, win)
    name = info.policy or "run"
    prom = observed(name, win, info.slo_ttft_seconds, series("ttft_p95"), series("current_replicas"),
                    series("nodes"), pool, tl.requests)
    run = prom
    if tl.requests and info.ttft_window_seconds > 0:
        client = client_p95(tl.requests, [s.t for s in samples], info.ttft_window_seconds)
        run = observed(name, win, info.slo_ttft_seconds, client, series("current_replicas"), series("nodes"), pool,
                       tl.requests)
    run = replace(run, slo_time_share_prometheus=prom.slo_time_share)
    return {"run": run, "oracle": oracle, "ideal_reactive": reactive}


def scores_json(scores: dict[str, Score]) -> dict[str, object]:
    """The report's `score` section: each score, and the run's ratios to the references."""
    from dataclasses import asdict

    run, oracle, reactive = scores["run"], scores["oracle"], scores["ideal_reactive"]
    return {
        **{k: asdict(v) for k, v in scores.items()},
        "gpu_hours_vs_oracle": ratio(run.gpu_hours, oracle.gpu_hours),
        "over_slo_vs_ideal_reactive": ratio(run.over_slo_seconds, reactive.over_slo_seconds),
    }


def scores_markdown(scores: dict[str, Score], capacity: float, cold_s: float) -> list[str]:
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    lines = [
        "## Score against the references",
        "",
        f"Needed capacity = ceil(load / {capacity:g} per replica), within the HPA's bounds. Oracle: exactly that, "
        f"in place when needed. Ideal reactive: orders it the instant the load changes, serves {cold_s:g} s "
        "(lab) later. Over the load window; GPU-hours in real-cluster time.",
        "",
        "| | SLO attainment (time) | same, Prometheus p95 | SLO attainment (requests) | over SLO (s) | GPU-hours "
        "| avg replicas |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, s in scores.items():
        lines.append(f"| {s.name if key == 'run' else key.replace('_', ' ')} | {pct(s.slo_time_share)} "
                     f"| {pct(s.slo_time_share_prometheus)} | {pct(s.slo_request_share)} "
                     f"| {s.over_slo_seconds:.1f} | {s.gpu_hours:.3f} | {s.avg_replicas:.2f} |")
    j = scores_json(scores)
    g, o = j["gpu_hours_vs_oracle"], j["over_slo_vs_ideal_reactive"]
    lines += ["", f"GPU-hours vs oracle: {'—' if g is None else f'{g:.2f}x'}; over-SLO time vs ideal reactive: "
              f"{'—' if o is None else f'{o:.2f}x'}.", ""]
    return lines
