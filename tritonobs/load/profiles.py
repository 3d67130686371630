"""Load profiles: a value over time, used as a request rate (open loop) or a concurrency (closed loop).

A profile is pure: `value_at(t)` for t seconds into the run, and `peak(duration)` an upper bound of the
value on [0, duration] (the Poisson thinning needs one). CLI syntax, one spec string per profile kind
(times take s, m, h or ms; a bare number is seconds):

    constant  V                     V all the time                   e.g. 5
    step      V0:V1:T1[:V2:T2 ...]  V0, then V1 from T1, V2 from T2  e.g. 1:10:30s
    ramp      V0:V1:T               linear V0 -> V1 over T, then V1  e.g. 0:20:2m
    sine      MEAN:AMPLITUDE:PERIOD MEAN + AMPLITUDE*sin(2πt/PERIOD), never below 0   e.g. 5:4:60s
    replay    FILE.csv              a `time_s,value` trace; each value holds until the next row
"""

from __future__ import annotations

import bisect
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import (
    parse_duration as parse_duration,  # re-exported: the load commands' durations
)
from tritonobs.core.inputs import read_text

PROFILE_KINDS = ("constant", "step", "ramp", "sine", "replay")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} must be a finite number >= 0")
    return value


def _fmt(x: float) -> str:
    return f"{x:g}"


class Profile(Protocol):
    def value_at(self, t: float) -> float: ...

    def peak(self, duration: float) -> float: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Constant:
    value: float

    def value_at(self, t: float) -> float:
        return self.value

    def peak(self, duration: float) -> float:
        return self.value

    def describe(self) -> str:
        return f"constant {_fmt(self.value)}"


@dataclass(frozen=True)
class Step:
    """`initial` until the first change; `changes` are (at_s, value), sorted by time."""

    initial: float
    changes: tuple[tuple[float, float], ...]

    def value_at(self, t: float) -> float:
        value = self.initial
        for at, v in self.changes:
            if t < at:
                break
            value = v
        return value

    def peak(self, duration: float) -> float:
        return max([self.initial] + [v for at, v in self.changes if at <= duration])

    def describe(self) -> str:
        parts = [_fmt(self.initial)] + [f"{_fmt(v)}:{_fmt(at)}s" for at, v in self.changes]
        return "step " + ":".join(parts)


@dataclass(frozen=True)
class Ramp:
    start: float
    end: float
    over_s: float

    def value_at(self, t: float) -> float:
        if self.over_s <= 0 or t >= self.over_s:
            return self.end
        return self.start + (self.end - self.start) * max(t, 0.0) / self.over_s

    def peak(self, duration: float) -> float:
        return max(self.start, self.value_at(duration))

    def describe(self) -> str:
        return f"ramp {_fmt(self.start)}:{_fmt(self.end)}:{_fmt(self.over_s)}s"


@dataclass(frozen=True)
class Sine:
    mean: float
    amplitude: float
    period_s: float

    def value_at(self, t: float) -> float:
        return max(0.0, self.mean + self.amplitude * math.sin(2 * math.pi * t / self.period_s))

    def peak(self, duration: float) -> float:
        return self.mean + abs(self.amplitude)

    def describe(self) -> str:
        return f"sine {_fmt(self.mean)}:{_fmt(self.amplitude)}:{_fmt(self.period_s)}s"


@dataclass(frozen=True)
class Replay:
    """A recorded trace: each value holds from its time until the next point; 0 before the first point."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    source: str = "trace"

    def value_at(self, t: float) -> float:
        i = bisect.bisect_right(self.times, t) - 1
        return self.values[i] if i >= 0 else 0.0

    def peak(self, duration: float) -> float:
        upto = bisect.bisect_right(self.times, duration)
        return max(self.values[:upto], default=0.0)

    def describe(self) -> str:
        return f"replay {self.source}"


def load_trace(path: Path) -> Replay:
    """Read a `time_s,value` CSV (header required). Bad rows are UsageErrors located at file:line."""
    where = str(path)
    try:
        text = read_text(path, what="trace", hint="; pass a time_s,value CSV")
    except UsageError as e:
        raise UsageError(f"cannot read the trace: {e.detail}", file=where, line=e.line) from None
    reader = csv.reader(text.splitlines())
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as e:
        raise UsageError(f"not a CSV row ({e})", file=where, line=len(rows) + 1) from None
    if not rows or [c.strip() for c in rows[0]] != ["time_s", "value"]:
        raise UsageError("the first row must be the header `time_s,value`", file=where, line=1)
    times: list[float] = []
    values: list[float] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise UsageError(f"expected 2 columns time_s,value, got {len(row)}", file=where, line=lineno)
        try:
            t, v = _number(row[0].strip()), _number(row[1].strip())
        except ValueError as e:
            raise UsageError(str(e), file=where, line=lineno) from None
        if times and t < times[-1]:
            raise UsageError(
                f"time_s {t:g} goes back in time (previous {times[-1]:g})", file=where, line=lineno
            )
        times.append(t)
        values.append(v)
    if not times:
        raise UsageError("the trace has no rows after the header", file=where, line=1)
    return Replay(tuple(times), tuple(values), source=path.name)


def parse_profile(kind: str, spec: str, *, option: str = "--rate") -> Profile:
    """Build a profile from its CLI spec (see the module docstring). Errors name the option."""
    if kind not in PROFILE_KINDS:
        raise UsageError(f"--profile {kind!r}: choose one of {', '.join(PROFILE_KINDS)}")
    if kind == "replay":
        return load_trace(Path(spec))
    parts = [p.strip() for p in spec.split(":")]
    try:
        if kind == "constant" and len(parts) == 1:
            return Constant(_number(parts[0]))
        if kind == "step" and len(parts) >= 3 and len(parts) % 2 == 1:
            changes = [(parse_duration(parts[i + 1]), _number(parts[i])) for i in range(1, len(parts), 2)]
            if any(b[0] <= a[0] for a, b in zip(changes, changes[1:], strict=False)):
                raise ValueError("the step times must increase")
            return Step(_number(parts[0]), tuple(changes))
        if kind == "ramp" and len(parts) == 3:
            return Ramp(_number(parts[0]), _number(parts[1]), parse_duration(parts[2]))
        if kind == "sine" and len(parts) == 3:
            period = parse_duration(parts[2])
            if period <= 0:
                raise ValueError("the period must be > 0")
            return Sine(_number(parts[0]), _number(parts[1]), period)
    except ValueError as e:
        raise UsageError(f"{option} {spec!r} ({kind}): {e}") from None
    raise UsageError(f"{option} {spec!r} does not fit the {kind} profile: write {_SYNTAX[kind]}")


_SYNTAX = {
    "constant": "V (e.g. 5)",
    "step": "V0:V1:T1[:V2:T2...] (e.g. 1:10:30s)",
    "ramp": "V0:V1:T (e.g. 0:20:2m)",
    "sine": "MEAN:AMPLITUDE:PERIOD (e.g. 5:4:60s)",
}
