"""Replay a metric trace through the HPA engine: one row per controller sync.

The trace (`time_s,total_value`) is the metric summed over pods. At each sync the latest sample at or
before the sync time applies; every replica is ready at once and reports total / replicas (Pods metric),
or the total is the value of the Object/External metric. Only the first metric of the HPA is driven.
Pure: text in, rows out.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from tritonobs.core.errors import UsageError
from tritonobs.hpa.engine import (
    Decision,
    ExternalReading,
    HpaController,
    ObjectReading,
    Reading,
    UniformPodsReading,
)
from tritonobs.hpa.manifest import HpaSpec, MetricSpec
from tritonobs.hpa.replicas import to_milli

TRACE_COLUMNS = ("time_s", "total_value")
MAX_TOTAL = 1e15  # the adapter sends int64(value * 1000): ~9.2e15 at most
MAX_SYNCS = 200_000  # a week of 15 s syncs is 40,320 (~0.5 s); this bounds a run to a few seconds


@dataclass(frozen=True)
class Trace:
    times: tuple[float, ...]
    totals: tuple[float, ...]


class SyncRow(NamedTuple):
    time_s: float
    per_pod_value: float  # total / replicas at this sync
    desired: int  # what the metric asked for, before stabilization and policies
    replicas: int  # after this sync

    def as_dict(self) -> dict[str, float | int]:
        return {"time_s": self.time_s, "per_pod_value": self.per_pod_value, "desired": self.desired,
                "replicas": self.replicas}


def parse_trace(text: str, file: str = "trace.csv") -> Trace:
    """CSV with header `time_s,total_value`; times non-decreasing, values finite and >= 0."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))  # spreadsheets prepend a BOM
    try:
        return _rows(reader, file)
    except csv.Error as e:
        raise UsageError(f"not a CSV row ({e})", file=file, line=reader.line_num) from None


def _rows(reader: Any, file: str) -> Trace:
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != TRACE_COLUMNS:
        raise UsageError(f"first line must be the header {','.join(TRACE_COLUMNS)} (got {header!r})", file=file, line=1)
    times: list[float] = []
    totals: list[float] = []
    last = -math.inf
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 2:
            raise UsageError(f"expected 2 columns time_s,total_value (got {len(row)})", file=file, line=line)
        try:
            t, v = float(row[0]), float(row[1])
        except ValueError:
            raise UsageError(f"not numbers: {','.join(row)!r}", file=file, line=line) from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise UsageError("time_s and total_value must be finite numbers", file=file, line=line)
        if v < 0:
            raise UsageError(f"total_value must be >= 0 (got {v})", file=file, line=line)
        if v > MAX_TOTAL:
            raise UsageError(f"total_value {v:g} is beyond what the HPA reads (int64 milli-values): at most "
                             f"{MAX_TOTAL:g}", file=file, line=line)
        if t < last:
            raise UsageError(f"time_s must not decrease ({t} after {last}): sort the trace by time", file=file, line=line)
        last = t
        times.append(t)
        totals.append(v)
    if not times:
        raise UsageError("no samples after the header", file=file, line=2)
    return Trace(tuple(times), tuple(totals))


def check_sync_count(trace: Trace, sync_period_s: float) -> None:
    """Refuse a run of more than MAX_SYNCS syncs (time and memory: one row per sync)."""
    span = trace.times[-1] - trace.times[0]
    syncs = math.floor(span / sync_period_s) + 1
    if syncs > MAX_SYNCS:
        raise UsageError(f"--sync-period {sync_period_s:g}: the trace spans {span:g} s, {syncs} syncs; at most "
                         f"{MAX_SYNCS} (raise --sync-period or shorten the trace)")


def _reading(metric: MetricSpec, total: float, replicas: int) -> Reading:
    if metric.kind == "Pods":
        return UniformPodsReading(to_milli(total / replicas) if replicas else 0)
    if metric.kind == "Object":
        return ObjectReading(to_milli(total))
    return ExternalReading((to_milli(total),))


def simulate_decisions(
    spec: HpaSpec, trace: Trace, *, initial_replicas: int | None = None, sync_period_s: float = 15.0
) -> list[tuple[float, Decision]]:
    """Syncs every `sync_period_s` from the first sample to the last. Returns (per-pod value, decision)."""
    if not sync_period_s > 0 or not math.isfinite(sync_period_s):
        raise ValueError("sync period must be a finite number > 0")
    # Only the first metric is driven; the others are left out rather than fed as missing, which
    # would block every scale-down (computeReplicasForMetrics).
    controller = HpaController(replace(spec, metrics=spec.metrics[:1]))
    metric = spec.metrics[0]
    replicas = spec.min_replicas if initial_replicas is None else initial_replicas
    times, totals = trace.times, trace.totals
    start, end = times[0], times[-1]
    out: list[tuple[float, Decision]] = []
    i = 0
    k = 0
    while True:
        now = start + k * sync_period_s  # multiply, not accumulate: no float drift over a week
        if now > end:
            break
        while i + 1 < len(times) and times[i + 1] <= now:
            i += 1
        total = totals[i]
        decision = controller.sync(now, replicas, [_reading(metric, total, replicas)])
        out.append((total / replicas if replicas else 0.0, decision))
        replicas = decision.replicas  # ready at once: the next sync sees them all
        k += 1
    return out


def simulate(
    spec: HpaSpec, trace: Trace, *, initial_replicas: int | None = None, sync_period_s: float = 15.0
) -> list[SyncRow]:
    return [
        SyncRow(d.time_s, per_pod, d.desired, d.replicas)
        for per_pod, d in simulate_decisions(spec, trace, initial_replicas=initial_replicas, sync_period_s=sync_period_s)
    ]


def driven_metric_note(spec: HpaSpec) -> str | None:
    """What to tell the user when the HPA has metrics the trace does not drive."""
    if len(spec.metrics) == 1:
        return None
    return (f"the trace drives the first metric ({spec.metrics[0].description}); the other "
            f"{len(spec.metrics) - 1} metric(s) are left out of the simulation")


def rows_as_json(rows: Sequence[SyncRow]) -> str:
    body = ",\n".join(json.dumps(r.as_dict(), sort_keys=True) for r in rows)
    return f"[\n{body}\n]\n" if rows else "[]\n"
