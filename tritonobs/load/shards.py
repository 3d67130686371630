"""Load split over several processes or pods: each runs one share of the profile; their runs merge into one.

- Open loop: every share runs the profile's rate / N with its own seed (seed + index); independent Poisson
  processes add up to one Poisson process at the full rate.
- Closed loop: the rounded concurrency c is split into N whole shares that add up to c exactly, the larger
  ones first: share i of c is floor((c + N - 1 - i) / N).

Pure except `read_run_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tritonobs.core.errors import UsageError
from tritonobs.load.profiles import Profile
from tritonobs.load.results import InflightSample, RequestRecord, RunResult

MAX_SHARDS = 256


@dataclass(frozen=True)
class Share:
    """Share `index` (0-based) of `count` of a profile."""

    base: Profile
    index: int
    count: int
    closed: bool  # closed loop: whole requests in flight; open loop: a fraction of the rate

    def value_at(self, t: float) -> float:
        v = self.base.value_at(t)
        if not self.closed:
            return v / self.count
        total = max(0, math.floor(v + 0.5))
        return float((total + self.count - 1 - self.index) // self.count)

    def peak(self, duration: float) -> float:
        p = self.base.peak(duration)
        return p / self.count if not self.closed else float(math.ceil(math.floor(p + 0.5) / self.count))

    def describe(self) -> str:
        return f"{self.base.describe()} (share {self.index + 1} of {self.count})"


def parse_shard(text: str, option: str = "--shard") -> tuple[int, int]:
    """`I/N`, 0 <= I < N <= MAX_SHARDS."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: write INDEX/COUNT, e.g. 0/4") from None
    if not (1 <= n <= MAX_SHARDS and 0 <= i < n):
        raise UsageError(f"{option} {text!r}: need 0 <= INDEX < COUNT <= {MAX_SHARDS}")
    return i, n


def merge_runs(runs: Sequence[RunResult]) -> RunResult:
    """One run from several shares: times on the earliest share's clock, request ids prefixed by share."""
    if not runs:
        raise ValueError("nothing to merge")
    t0 = min(r.started_unix for r in runs)
    records: list[RequestRecord] = []
    inflight: list[InflightSample] = []
    for i, run in enumerate(runs):
        shift = run.started_unix - t0
        for r in run.records:
            records.append(RequestRecord(
                f"{i}-{r.request_id}", r.url, r.model, r.start_s + shift,
                None if r.first_token_s is None else r.first_token_s + shift, r.end_s + shift, r.tokens, r.ok,
                r.error, None if r.scheduled_s is None else r.scheduled_s + shift,
            ))
        inflight += [InflightSample(s.t_s + shift, dict(s.by_target)) for s in run.inflight]
    records.sort(key=lambda r: (r.start_s, r.request_id))
    inflight.sort(key=lambda s: s.t_s)
    first = runs[0]
    return RunResult(records, inflight, t0, max(r.planned_duration_s for r in runs), first.mode,
                     first.profile.split(" (share ")[0])


def read_run_json(path: Path) -> RunResult:
    """A run written by `load --out run.json`."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    records = [RequestRecord(**r) for r in doc["requests"]]
    inflight = [InflightSample(s["t_s"], dict(s["by_target"])) for s in doc["inflight"]]
    return RunResult(records, inflight, float(doc["started_unix"]), float(doc["planned_duration_s"]),
                     str(doc["mode"]), str(doc["profile"]))
