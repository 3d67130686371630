"""Per-request records: derived timings, summaries, CSV/JSON files, the run plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tritonobs.core.errors import UsageError
from tritonobs.load.plot import per_second, plot_run
from tritonobs.load.profiles import Step
from tritonobs.load.results import (
    InflightSample,
    RequestRecord,
    RunResult,
    percentile,
    read_records_csv,
    run_to_json,
    summarize,
    write_records_csv,
    write_run,
)


def _rec(
    i: int,
    start: float,
    first: float | None,
    end: float,
    tokens: int,
    ok: bool = True,
    error: str = "",
    url: str = "127.0.0.1:8001",
) -> RequestRecord:
    return RequestRecord(
        str(i), url, "llama2", start, first, end, tokens, ok, error, scheduled_s=start - 0.001
    )


RECORDS = [
    _rec(0, 0.0, 0.1, 1.0, 10),
    _rec(1, 0.5, 0.7, 2.5, 40),
    _rec(2, 1.0, 1.2, 1.5, 5),
    _rec(3, 1.5, None, 1.6, 0, ok=False, error="UNAVAILABLE: connection refused"),
    _rec(4, 2.0, None, 2.1, 0, ok=False, error="UNAVAILABLE: connection refused"),
    _rec(5, 3.0, 3.3, 4.0, 20),
]


def test_derived_timings() -> None:
    r = RECORDS[1]
    assert r.ttft_s == pytest.approx(0.2)
    assert r.latency_s == pytest.approx(2.0)
    assert r.tokens_per_s == pytest.approx(20.0)
    assert RECORDS[3].ttft_s is None


@pytest.mark.parametrize("q", [0, 1, 37.5, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy(q: float) -> None:
    values = [3.1, 0.2, 9.9, 4.4, 4.4, 7.0, 1.5]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(percentile([], q))


def test_summary_values() -> None:
    s = summarize(RECORDS)
    assert (s.requests, s.ok, s.failed, s.tokens) == (6, 4, 2, 75)
    assert s.duration_s == pytest.approx(4.0)
    assert s.completed_rps == pytest.approx(1.0)
    assert s.errors == {"UNAVAILABLE: connection refused": 2}
    # ttft of the ok requests: 0.1, 0.2, 0.2, 0.3
    assert s.ttft_s.count == 4
    assert s.ttft_s.p50 == pytest.approx(0.2)
    assert s.ttft_s.max == pytest.approx(0.3)
    # latencies 1.0, 2.0, 0.5, 1.0
    assert s.latency_s.mean == pytest.approx(1.125)
    assert s.latency_s.p95 == pytest.approx(float(np.percentile([1.0, 2.0, 0.5, 1.0], 95)))
    # tokens/s 10, 20, 10, 20
    assert s.tokens_per_s.p50 == pytest.approx(15.0)


def test_empty_summary() -> None:
    s = summarize([])
    assert (s.requests, s.ok, s.completed_rps) == (0, 0, 0.0)
    assert math.isnan(s.latency_s.p50)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    write_records_csv(RECORDS, path)
    header = path.read_text().splitlines()[0]
    assert header == "request_id,url,model,start_s,first_token_s,end_s,tokens,ok,error,scheduled_s"
    back = read_records_csv(path)
    assert [r.request_id for r in back] == [r.request_id for r in RECORDS]
    for a, b in zip(back, RECORDS, strict=True):
        assert (a.ok, a.tokens, a.error, a.url) == (b.ok, b.tokens, b.error, b.url)
        assert a.latency_s == pytest.approx(b.latency_s, abs=1e-6)
        assert (a.ttft_s is None) == (b.ttft_s is None)


def test_csv_with_other_columns_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match=r"x.csv:1: expected the columns request_id,"):
        read_records_csv(path)


def _result() -> RunResult:
    samples = [InflightSample(0.0, {"127.0.0.1:8001": 0}), InflightSample(1.0, {"127.0.0.1:8001": 2})]
    return RunResult(
        RECORDS,
        samples,
        started_unix=1700000000.0,
        planned_duration_s=4.0,
        mode="open",
        profile="step 1:3:2s",
    )


def test_json_has_summary_records_and_samples(tmp_path: Path) -> None:
    doc = json.loads(run_to_json(_result()))
    assert doc["summary"]["ok"] == 4
    assert doc["summary"]["errors"] == {"UNAVAILABLE: connection refused": 2}
    assert len(doc["requests"]) == 6 and doc["requests"][3]["first_token_s"] is None
    assert doc["inflight"][1] == {"t_s": 1.0, "by_target": {"127.0.0.1:8001": 2}}
    assert doc["profile"] == "step 1:3:2s"
    empty = json.loads(run_to_json(RunResult([], [], 0.0, 1.0, "closed", "constant 1")))
    assert empty["summary"]["latency_s"]["p50"] is None  # NaN written as null, still valid JSON
    out = tmp_path / "run.json"
    write_run(_result(), out)
    assert json.loads(out.read_text())["mode"] == "open"
    write_run(_result(), tmp_path / "run.csv")
    assert len(read_records_csv(tmp_path / "run.csv")) == 6


def test_per_second_bins() -> None:
    assert per_second([0.0, 0.5, 0.99, 1.0, 3.7, 9.0, -1.0], 4.0) == [3, 1, 0, 1]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "run.png"
    plot_run(_result(), path, Step(1.0, ((2.0, 3.0),)))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 900)
