"""Splitting a load into shares and merging the shares' runs: hand-checked values."""

from __future__ import annotations

import pytest

from tritonobs.core.errors import UsageError
from tritonobs.load.profiles import Constant, Step
from tritonobs.load.results import InflightSample, RequestRecord, RunResult
from tritonobs.load.shards import Share, merge_runs, parse_shard


def test_closed_loop_shares_add_up_exactly() -> None:
    for total in (0, 1, 5, 7, 8, 32, 129):
        shares = [Share(Constant(total), i, 4, closed=True).value_at(0) for i in range(4)]
        assert sum(shares) == total
        assert max(shares) - min(shares) <= 1
    assert [Share(Constant(7), i, 3, closed=True).value_at(0) for i in range(3)] == [3.0, 2.0, 2.0]
    assert Share(Constant(7), 0, 3, closed=True).peak(10) == 3.0


def test_open_loop_share_divides_the_rate() -> None:
    s = Share(Step(2, ((10, 8),)), 1, 4, closed=False)
    assert s.value_at(0) == 0.5 and s.value_at(11) == 2.0 and s.peak(20) == 2.0
    assert s.describe() == "step 2:8:10s (share 2 of 4)"


def test_parse_shard() -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0", "0/257"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_merge_aligns_clocks() -> None:
    a = RunResult([RequestRecord("1", "u", "m", 1.0, 1.5, 2.0, 10, True)], [InflightSample(1.0, {"u": 1})],
                  100.0, 60.0, "closed", "constant 8 (share 1 of 2)")
    b = RunResult([RequestRecord("1", "u", "m", 0.5, None, 0.7, 0, False, "x", None)], [InflightSample(0.5, {"u": 2})],
                  102.0, 60.0, "closed", "constant 8 (share 2 of 2)")
    m = merge_runs([a, b])
    assert m.started_unix == 100.0 and m.profile == "constant 8"
    assert [(r.request_id, r.start_s, r.first_token_s, r.end_s) for r in m.records] == [
        ("0-1", 1.0, 1.5, 2.0), ("1-1", 2.5, None, 2.7)]
    assert [(s.t_s, s.by_target) for s in m.inflight] == [(1.0, {"u": 1}), (2.5, {"u": 2})]
