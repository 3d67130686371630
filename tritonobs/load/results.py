"""Per-request records of a load run, their summary, and the CSV/JSON files they are written to.

Times are seconds from the run's start (`time.perf_counter()` based), so records from one run line up with
each other and with the in-flight samples; `RunResult.started_unix` anchors them to wall-clock time when a
consumer needs to align them with Prometheus samples.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tritonobs.core.errors import UsageError


@dataclass(frozen=True)
class RequestRecord:
    """One request as the client saw it."""

    request_id: str
    url: str
    model: str
    start_s: float  # handed to the gRPC stream
    first_token_s: float | None  # first response that carried output
    end_s: float  # final response, error, or cancellation
    tokens: int
    ok: bool
    error: str = ""
    scheduled_s: float | None = None  # open loop: when the arrival process wanted it sent

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None else self.first_token_s - self.start_s

    @property
    def latency_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def tokens_per_s(self) -> float:
        """Tokens over the whole request latency (what a caller experiences end to end)."""
        return self.tokens / self.latency_s if self.latency_s > 0 else 0.0


CSV_COLUMNS = [f.name for f in fields(RequestRecord)]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), q in [0, 100]. NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Distribution:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            count=len(values),
            mean=sum(values) / len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
            max=max(values),
        )


@dataclass(frozen=True)
class Summary:
    requests: int
    ok: int
    failed: int
    duration_s: float  # first start to last end
    completed_rps: float  # ok requests per second over duration_s
    tokens: int
    ttft_s: Distribution
    latency_s: Distribution
    tokens_per_s: Distribution
    errors: dict[str, int] = field(default_factory=dict)  # error message -> count


def summarize(records: Sequence[RequestRecord]) -> Summary:
    ok = [r for r in records if r.ok]
    errors: dict[str, int] = {}
    for r in records:
        if not r.ok:
            errors[r.error] = errors.get(r.error, 0) + 1
    duration = (max(r.end_s for r in records) - min(r.start_s for r in records)) if records else 0.0
    return Summary(
        requests=len(records),
        ok=len(ok),
        failed=len(records) - len(ok),
        duration_s=duration,
        completed_rps=len(ok) / duration if duration > 0 else 0.0,
        tokens=sum(r.tokens for r in ok),
        ttft_s=Distribution.of([t for r in ok if (t := r.ttft_s) is not None]),
        latency_s=Distribution.of([r.latency_s for r in ok]),
        tokens_per_s=Distribution.of([r.tokens_per_s for r in ok]),
        errors=dict(sorted(errors.items())),
    )


@dataclass(frozen=True)
class InflightSample:
    """Client-side in-flight requests per target at one instant of the run."""

    t_s: float
    by_target: dict[str, int]


@dataclass(frozen=True)
class RunResult:
    records: list[RequestRecord]
    inflight: list[InflightSample]
    started_unix: float  # wall clock at t=0 of the run
    planned_duration_s: float
    mode: str  # "open" or "closed"
    profile: str  # the profile as written (e.g. "step 1:10:30s")

    def summary(self) -> Summary:
        return summarize(self.records)


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def write_records_csv(records: Iterable[RequestRecord], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow([_csv_value(getattr(r, c)) for c in CSV_COLUMNS])


def read_records_csv(path: Path) -> list[RequestRecord]:
    def opt_float(s: str) -> float | None:
        return float(s) if s else None

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != CSV_COLUMNS:
            raise UsageError(f"expected the columns {','.join(CSV_COLUMNS)}", file=str(path), line=1)
        return [
            RequestRecord(
                request_id=row["request_id"],
                url=row["url"],
                model=row["model"],
                start_s=float(row["start_s"]),
                first_token_s=opt_float(row["first_token_s"]),
                end_s=float(row["end_s"]),
                tokens=int(row["tokens"]),
                ok=row["ok"] == "True",
                error=row["error"],
                scheduled_s=opt_float(row["scheduled_s"]),
            )
            for row in reader
        ]


def _jsonable(value: object) -> object:
    """NaN is not JSON: write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def run_to_json(result: RunResult) -> str:
    doc = {
        "mode": result.mode,
        "profile": result.profile,
        "planned_duration_s": result.planned_duration_s,
        "started_unix": result.started_unix,
        "summary": asdict(result.summary()),
        "requests": [asdict(r) for r in result.records],
        "inflight": [asdict(s) for s in result.inflight],
    }
    return json.dumps(_jsonable(doc), indent=2, sort_keys=True) + "\n"


def write_run(result: RunResult, path: Path) -> None:
    """Write per-request records: `.json` gets the whole run (summary, in-flight samples), anything else CSV."""
    if path.suffix.lower() == ".json":
        path.write_text(run_to_json(result), encoding="utf-8")
    else:
        write_records_csv(result.records, path)
