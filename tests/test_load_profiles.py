"""Load profiles: values over time, the CLI spec syntax, trace files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tritonobs.core.errors import UsageError
from tritonobs.load.profiles import (
    Constant,
    Ramp,
    Replay,
    Sine,
    Step,
    load_trace,
    parse_duration,
    parse_profile,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("12.5", 12.5),
        (" 3 s ", 3.0),
        (".5m", 30.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "10x", "1e3", "ten"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_constant() -> None:
    p = Constant(4.0)
    assert [p.value_at(t) for t in (0, 10, 1e6)] == [4.0, 4.0, 4.0]
    assert p.peak(60) == 4.0


def test_step_changes_at_their_times() -> None:
    p = Step(1.0, ((30.0, 10.0), (90.0, 2.0)))
    assert [p.value_at(t) for t in (0, 29.999, 30, 89.9, 90, 1000)] == [1, 1, 10, 10, 2, 2]
    assert p.peak(20) == 1.0  # the step to 10 is after the window
    assert p.peak(60) == 10.0


def test_ramp_is_linear_then_holds() -> None:
    p = Ramp(0.0, 20.0, 120.0)
    assert p.value_at(0) == 0.0
    assert p.value_at(30) == pytest.approx(5.0)
    assert p.value_at(60) == pytest.approx(10.0)
    assert p.value_at(120) == 20.0
    assert p.value_at(500) == 20.0
    assert p.peak(60) == pytest.approx(10.0)
    assert Ramp(8.0, 2.0, 10.0).peak(100) == 8.0  # a falling ramp peaks at its start


def test_sine_shape_and_clamp() -> None:
    p = Sine(5.0, 4.0, 60.0)
    assert p.value_at(0) == pytest.approx(5.0)
    assert p.value_at(15) == pytest.approx(9.0)
    assert p.value_at(45) == pytest.approx(1.0)
    assert p.peak(1000) == 9.0
    deep = Sine(1.0, 3.0, 4.0)
    assert deep.value_at(3) == 0.0  # 1 - 3 clamped: a rate is never negative


def test_replay_holds_each_value_until_the_next_point() -> None:
    p = Replay((5.0, 10.0, 20.0), (2.0, 8.0, 0.0))
    assert [p.value_at(t) for t in (0, 4.99, 5, 9.9, 10, 19, 20, 100)] == [0, 0, 2, 2, 8, 8, 0, 0]
    assert p.peak(9) == 2.0
    assert p.peak(100) == 8.0


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("constant", "5", Constant(5.0)),
        ("step", "1:10:30s", Step(1.0, ((30.0, 10.0),))),
        ("step", "1:10:30s:2:1.5m", Step(1.0, ((30.0, 10.0), (90.0, 2.0)))),
        ("ramp", "0:20:2m", Ramp(0.0, 20.0, 120.0)),
        ("sine", "5:4:60s", Sine(5.0, 4.0, 60.0)),
    ],
)
def test_parse_profile(kind: str, spec: str, expected: object) -> None:
    profile = parse_profile(kind, spec)
    assert profile == expected
    # describe() writes the same syntax back: it parses to the same profile
    described_kind, described_spec = profile.describe().split(" ", 1)
    assert parse_profile(described_kind, described_spec) == expected


@pytest.mark.parametrize(
    ("kind", "spec", "fragment"),
    [
        ("step", "1:10", "does not fit the step profile: write V0:V1:T1"),
        ("step", "1:10:30s:5:20s", "the step times must increase"),
        ("ramp", "0:x:10s", "'x' is not a number"),
        ("sine", "5:4:0s", "the period must be > 0"),
        ("constant", "-3", "must be a finite number >= 0"),
        ("burst", "5", "--profile 'burst': choose one of constant, step, ramp, sine, replay"),
    ],
)
def test_parse_profile_errors_name_the_option_and_the_syntax(kind: str, spec: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_profile(kind, spec, option="--concurrency")
    assert fragment in str(info.value)
    if kind != "burst":
        assert str(info.value).startswith(f"--concurrency {spec!r}")


def test_load_trace(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,value\n0,1\n\n10,4.5\n25,0\n")
    profile = parse_profile("replay", str(trace))
    assert profile == Replay((0.0, 10.0, 25.0), (1.0, 4.5, 0.0), source="trace.csv")
    assert profile.describe() == "replay trace.csv"


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        ("t,v\n0,1\n", 1, "header `time_s,value`"),
        ("time_s,value\n0,1\n5,abc\n", 3, "'abc' is not a number"),
        ("time_s,value\n10,1\n5,2\n", 3, "goes back in time"),
        ("time_s,value\n0,1,2\n", 2, "expected 2 columns"),
        ("time_s,value\n", 1, "no rows after the header"),
    ],
)
def test_load_trace_errors_are_located(tmp_path: Path, content: str, line: int, fragment: str) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(content)
    with pytest.raises(UsageError) as info:
        load_trace(trace)
    assert str(info.value).startswith(f"{trace}:{line}: ")
    assert fragment in str(info.value)
    assert info.value.exit_code == 2


def test_missing_trace_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the trace"):
        load_trace(tmp_path / "nope.csv")


def test_profiles_are_finite_everywhere() -> None:
    for p in (Constant(1), Step(1, ((1, 2),)), Ramp(1, 3, 5), Sine(2, 1, 7), Replay((0.0,), (3.0,))):
        assert all(math.isfinite(p.value_at(t)) and p.value_at(t) >= 0 for t in range(0, 100))
