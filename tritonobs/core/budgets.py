"""Budget evaluation: timeline in, one result per budget out. Pure.

Definitions (llm-d's for T_scale_up, docs/facts.md):
- first scale-up: the load step -> the first upward HPA decision after it.
- T_scale_up: an HPA scale-up (`lastScaleTime`) -> the newest replica it created is Ready; worst scale-up.
- node ready: NodeClaim (or Node) created -> Node Ready; worst node.
- TTFT over SLO: seconds during which the TTFT p95 sample was above the strictest model SLO (sample-and-hold).
- return to min: load stop -> the scale target is back at min replicas (and stays there to the end).
- failed requests: the share of the run's own requests that failed (client side); no request succeeding fails.
- signal missing: seconds under load (load start to stop) during which the HPA had no value of its signal
  (Prometheus down, series absent); the report also lists every Prometheus outage.
- replica-seconds, GPU-hours and cost integrate pods and pool nodes over the run (sample-and-hold).

In the lab every duration budget is divided by the time factor; GPU-hours and cost are converted back to
real-cluster hours (lab seconds x factor) so they compare with the spec's budget as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tritonobs.core.config import Budgets
from tritonobs.core.timeline import Event, Sample, Timeline


@dataclass(frozen=True)
class BudgetResult:
    name: str
    title: str
    measured: float | None  # None: never happened / could not be measured
    limit: float | None  # None: informational, no budget
    unit: str
    passed: bool
    note: str = ""


def load_step_time(tl: Timeline) -> float | None:
    """When the load stepped up: the first `load_step` event (the runner emits one for a step profile),
    else `load_start` (a profile that starts at its level)."""
    step = tl.first("load_step") or tl.first("load_start")
    return step.t if step else None


def first_scale_up(tl: Timeline) -> tuple[float | None, str]:
    step = load_step_time(tl)
    if step is None:
        return None, "no load step in the run"
    desired = _initial_replicas(tl)
    for e in tl.of_kind("scale_decision"):
        value = int(e.value or 0)
        if e.t >= step and value > desired:
            return e.t - step, f"decision {desired} -> {value} at t={e.t:.1f}s, step at t={step:.1f}s"
        desired = value
    return None, "the HPA never decided to scale up after the step"


def _initial_replicas(tl: Timeline) -> int:
    """Replicas at the start of the run: the first observation, else min replicas."""
    seen = [s.current_replicas for s in sorted(tl.samples, key=lambda s: s.t) if s.current_replicas is not None]
    return seen[0] if seen else tl.info.min_replicas


def _scale_ups(tl: Timeline) -> list[Event]:
    ups, replicas = [], _initial_replicas(tl)
    for e in tl.of_kind("hpa_scale"):
        value = int(e.value or 0)
        if value > replicas:
            ups.append(e)
        replicas = value
    return ups


def scale_up_times(tl: Timeline) -> tuple[float | None, str]:
    """Worst (lastScaleTime -> newest replica Ready) over all scale-ups; None if one never got Ready."""
    # API timestamps have one-second resolution: a pod created in the same second belongs to the scale.
    slack = 1.0 if tl.info.mode == "cluster" else 0.0
    ups = _scale_ups(tl)
    if not ups:
        return None, "no scale-up happened"
    created = {e.subject: e.t for e in tl.of_kind("pod_created")}
    ready = {e.subject: e.t for e in reversed(tl.of_kind("pod_ready"))}  # first Ready per pod
    deleted = {e.subject: e.t for e in tl.of_kind("pod_terminating", "pod_deleted")}
    worst, measured, notes = 0.0, 0, []
    for i, up in enumerate(ups):
        until = ups[i + 1].t - slack if i + 1 < len(ups) else float("inf")
        pods = sorted((t, p) for p, t in created.items() if up.t - slack <= t < until)
        # Pods deleted before they got Ready were undone by a later scale-down: they say nothing.
        kept = [(t, p) for t, p in pods if p in ready or p not in deleted]
        if not kept:
            why = "its pods were scaled away before Ready" if pods else "no new pod observed"
            notes.append(f"scale to {int(up.value or 0)} at t={up.t:.1f}s: {why}")
            continue
        pods = kept
        newest = pods[-1][1]
        if newest not in ready:
            return None, f"{newest} (scale to {int(up.value or 0)} at t={up.t:.1f}s) never became Ready"
        took = ready[newest] - up.t
        notes.append(f"to {int(up.value or 0)}: {took:.1f}s")
        worst = max(worst, took)
        measured += 1
    return (worst if measured else None), "; ".join(notes)


def node_ready_times(tl: Timeline) -> tuple[float | None, str]:
    launched = {e.subject: e.t for e in tl.of_kind("node_launched")}
    if not launched:
        return 0.0, "no node launched"
    ready = {e.subject: e.t for e in reversed(tl.of_kind("node_ready"))}
    removed = {e.subject for e in tl.of_kind("node_removed")}
    worst = 0.0
    for node, t in sorted(launched.items(), key=lambda kv: kv[1]):
        if node not in ready:
            if node in removed:
                continue
            return None, f"node {node} (launched t={t:.1f}s) never became Ready"
        worst = max(worst, ready[node] - t)
    return worst, f"{len(launched)} node(s) launched"


def _hold_integral(samples: Sequence[Sample], value: Callable[[Sample], float | None]) -> float:
    """Integral of a step function that holds each sample's value until the next sample."""
    ordered = sorted(samples, key=lambda s: s.t)
    total = 0.0
    for a, b in zip(ordered, ordered[1:], strict=False):
        v = value(a)
        if v is not None:
            total += v * (b.t - a.t)
    return total


def ttft_over_slo(tl: Timeline) -> float:
    slo = tl.info.slo_ttft_seconds
    return _hold_integral(tl.samples, lambda s: 1.0 if s.ttft_p95 is not None and s.ttft_p95 > slo else 0.0)


def return_to_min(tl: Timeline) -> tuple[float | None, str]:
    stop = tl.first("load_stop")
    if stop is None:
        return None, "the load never stopped"
    ordered = sorted((s for s in tl.samples if s.current_replicas is not None), key=lambda s: s.t)
    after = [s for s in ordered if s.t >= stop.t]
    if not after or after[-1].current_replicas != tl.info.min_replicas:
        final = after[-1].current_replicas if after else None
        return None, f"not back at {tl.info.min_replicas} replica(s) by the end (last seen: {final})"
    back = after[-1].t
    for s in reversed(after):
        if s.current_replicas != tl.info.min_replicas:
            break
        back = s.t
    return back - stop.t, f"back at {tl.info.min_replicas} at t={back:.1f}s, load stopped at t={stop.t:.1f}s"


def failed_requests(tl: Timeline) -> tuple[float | None, str]:
    """Share of failed requests at the last sample that counted them (None: the load was external)."""
    counted = [s for s in sorted(tl.samples, key=lambda s: s.t) if s.requests_ok is not None]
    if not counted:
        return None, "external load: not counted by this run"
    last = counted[-1]
    ok, failed = last.requests_ok or 0, last.requests_failed or 0
    if ok + failed == 0:
        return None, "no request completed"
    return failed / (ok + failed), f"{failed} of {ok + failed} requests failed"


def signal_missing(tl: Timeline) -> tuple[float, str]:
    start, stop = tl.first("load_start"), tl.first("load_stop")
    begin = start.t if start else 0.0
    end = stop.t if stop else tl.end
    # The first HPA sync comes one period after the start: only count after the signal was first seen.
    seen = next((s.t for s in sorted(tl.samples, key=lambda s: s.t) if s.signal is not None), None)
    window = [s for s in tl.samples if max(begin, seen if seen is not None else end) <= s.t <= end]
    missing = _hold_integral(window, lambda s: 1.0 if s.signal is None else 0.0)
    gaps = tl.metrics_gaps()
    note = "; ".join(f"Prometheus unreachable t={a:.1f}-{b:.1f}s" for a, b in gaps) or "signal read throughout"
    if seen is None and tl.samples:
        return end - begin, "the HPA never read its signal"
    return missing, note


def evaluate(tl: Timeline, budgets: Budgets) -> list[BudgetResult]:
    f = tl.info.time_factor
    results: list[BudgetResult] = []

    def duration(name: str, title: str, measured: float | None, limit: float, note: str) -> None:
        scaled = limit / f
        if measured is None and tl.interrupted:
            note = f"not measured: run interrupted ({note})"
        ok = measured is not None and measured <= scaled
        results.append(BudgetResult(name, title, measured, scaled, "s", ok, note))

    m, note = first_scale_up(tl)
    duration("first_scale_up_seconds", "load step -> first scale-up decision", m, budgets.first_scale_up_seconds, note)
    m, note = scale_up_times(tl)
    duration("scale_up_seconds", "T_scale_up: lastScaleTime -> newest replica Ready", m, budgets.scale_up_seconds, note)
    m, note = node_ready_times(tl)
    duration("node_ready_seconds", "NodeClaim -> node Ready", m, budgets.node_ready_seconds, note)
    over = ttft_over_slo(tl)
    slo_note = f"TTFT p95 above {tl.info.slo_ttft_seconds:g}s"
    results.append(
        BudgetResult(
            "ttft_over_slo_seconds",
            "time with TTFT over the SLO",
            over,
            budgets.ttft_over_slo_seconds / f,
            "s",
            over <= budgets.ttft_over_slo_seconds / f,
            slo_note,
        )
    )
    m, note = return_to_min(tl)
    duration("return_to_min_seconds", "load stop -> back at min replicas", m, budgets.return_to_min_seconds, note)
    ratio, note = failed_requests(tl)
    counted = any(s.requests_ok is not None for s in tl.samples)
    ok = not counted or (ratio is not None and ratio <= budgets.max_failed_request_ratio)
    if tl.load_problems:  # a share of the load unread: its failures may be missing from the count
        counted, ok = True, False
        note = f"{note}; not all load records read: {'; '.join(tl.load_problems)}"
    results.append(BudgetResult(
        "failed_request_ratio", "requests failed", ratio, budgets.max_failed_request_ratio if counted else None,
        "ratio", ok, note,
    ))
    missing, note = signal_missing(tl)
    missing_limit = budgets.max_signal_missing_seconds / f
    results.append(BudgetResult("signal_missing_seconds", "time under load without the HPA's signal", missing,
                                missing_limit, "s", missing <= missing_limit, note))

    replica_s = _hold_integral(tl.samples, lambda s: s.current_replicas)
    node_s = _hold_integral(tl.samples, lambda s: s.nodes)
    gpu_hours = node_s * f * tl.info.gpus_per_node / 3600
    cost = node_s * f / 3600 * tl.info.hourly_price_usd
    real = f" ({replica_s * f:.0f} real-cluster s)" if f != 1 else ""
    results.append(BudgetResult("replica_seconds", "replica-seconds", replica_s, None, "s", True, f"lab time{real}"))
    limit = budgets.max_gpu_hours
    results.append(
        BudgetResult(
            "gpu_hours",
            "GPU-hours of the pool (real-cluster time)",
            gpu_hours,
            limit,
            "h",
            limit is None or gpu_hours <= limit,
            f"{node_s:.1f} node-seconds x {tl.info.gpus_per_node} GPUs",
        )
    )
    results.append(
        BudgetResult(
            "cost_usd", "cost of the pool (real-cluster time)", cost, None, "USD", True,
            f"{tl.info.hourly_price_usd:g} USD per node-hour",
        )
    )
    return results


def passed(results: Sequence[BudgetResult]) -> bool:
    return all(r.passed for r in results)
