"""Load generator accounting and scheduling, against loopback ports where nothing listens.

Every request fails fast there (connection refused), which exercises the whole send path without a
server: the generator must send exactly the scheduled requests, account for each once, and spread them.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

import pytest

from tritonobs.load import generator
from tritonobs.load.generator import LoadGenerator, LoadPlan
from tritonobs.load.profiles import Constant, Step
from tritonobs.load.results import RunResult
from tritonobs.load.schedule import poisson_arrivals


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests about where requests go: a dead target's failures then come back at once, not 2 s apart."""
    monkeypatch.setattr(generator, "FAILURE_BACKOFF_MAX_S", 0.001)


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _run(gen: LoadGenerator) -> RunResult:
    return asyncio.run(gen.run())


def test_open_loop_sends_exactly_the_seeded_schedule() -> None:
    profile = Step(20.0, ((0.5, 60.0),))
    plan = LoadPlan("open", profile, duration_s=1.0, seed=42, drain_s=5.0)
    result = _run(LoadGenerator([_closed_url()], "llama2", plan, sample_interval_s=0.25))
    expected = list(poisson_arrivals(profile, 1.0, random.Random(42)))
    assert len(result.records) == len(expected)
    assert sorted(r.scheduled_s for r in result.records if r.scheduled_s is not None) == expected
    assert all(not r.ok and r.error.startswith("UNAVAILABLE") for r in result.records)
    assert sorted(int(r.request_id) for r in result.records) == list(range(len(expected)))
    assert result.mode == "open" and result.profile == "step 20:60:0.5s"
    # in-flight samples on a 0.25 s grid, never early, every one listing the target
    assert len(result.inflight) >= 2
    assert all(s.t_s >= k * 0.25 for k, s in enumerate(result.inflight))
    assert all(list(s.by_target) == [result.records[0].url] for s in result.inflight)


def test_requests_go_round_robin_over_urls_and_connections(no_backoff: None) -> None:
    urls = [_closed_url(), _closed_url(), _closed_url()]
    plan = LoadPlan("closed", Constant(1.0), duration_s=30.0, max_requests=12, drain_s=5.0)
    gen = LoadGenerator(urls, "llama2", plan, connections_per_target=2)
    result = _run(gen)
    by_id = sorted(result.records, key=lambda r: int(r.request_id))
    assert len(by_id) == 12
    # one worker, sequential requests: URL order repeats every len(urls) requests
    assert [r.url for r in by_id] == [urls[i % 3] for i in range(12)]
    assert gen.inflight_by_target() == {u: 0 for u in sorted(urls)}


def test_closed_loop_never_exceeds_the_scheduled_concurrency() -> None:
    url = _closed_url()
    plan = LoadPlan("closed", Constant(3.0), duration_s=30.0, max_requests=12, drain_s=5.0)
    gen = LoadGenerator([url], "llama2", plan)
    peak = 0

    async def run_and_watch() -> RunResult:
        nonlocal peak
        task = asyncio.create_task(gen.run())
        while not task.done():
            peak = max(peak, gen.inflight_by_target()[url], gen.stats().inflight)
            await asyncio.sleep(0)
        return await task

    result = asyncio.run(run_and_watch())
    assert len(result.records) == 12  # bounded by max_requests, each accounted once
    assert 1 <= peak <= 3
    assert gen.stats().sent == 12 and gen.stats().failed == 12 and gen.stats().inflight == 0


def test_failing_requests_back_off_instead_of_spinning() -> None:
    """A dead target: each closed-loop worker waits 0.1, 0.2, 0.4, ... s (at most 2 s) between failures, so
    3 workers over 3 s send at most 3 x 6 requests, where a tight loop sent thousands."""
    plan = LoadPlan("closed", Constant(3.0), duration_s=3.0, drain_s=1.0)
    gen = LoadGenerator([_closed_url()], "llama2", plan)
    asyncio.run(gen.run())
    assert 3 <= gen.stats().sent <= 18 and gen.stats().failed == gen.stats().sent


def test_stop_ends_the_send_window_early() -> None:
    plan = LoadPlan("open", Constant(50.0), duration_s=60.0, drain_s=5.0)
    gen = LoadGenerator([_closed_url()], "llama2", plan)

    async def run_then_stop() -> tuple[RunResult, float]:
        task = asyncio.create_task(gen.run())
        deadline = time.monotonic() + 10
        while gen.stats().sent < 5:  # poll until the send window is open and sending
            assert time.monotonic() < deadline, "no request sent within 10 s"
            await asyncio.sleep(0.01)
        stopped = time.monotonic()
        gen.stop()
        result = await asyncio.wait_for(task, timeout=10)
        return result, time.monotonic() - stopped

    result, after_stop = asyncio.run(run_then_stop())
    assert 5 <= len(result.records) < 200  # at 50/s; the 60 s window (3000 requests) never ran out
    assert after_stop < 6.0  # at most the 5 s drain after stop()


def test_set_targets_moves_new_requests(no_backoff: None) -> None:
    first, second = _closed_url(), _closed_url()
    plan = LoadPlan("closed", Constant(1.0), duration_s=30.0, max_requests=40, drain_s=5.0)
    gen = LoadGenerator([first], "llama2", plan)

    async def switch() -> RunResult:
        task = asyncio.create_task(gen.run())
        while gen.stats().sent < 10:
            await asyncio.sleep(0)
        gen.set_targets([second])
        return await task

    result = asyncio.run(switch())
    by_id = sorted(result.records, key=lambda r: int(r.request_id))
    switched = next(i for i, r in enumerate(by_id) if r.url == second)
    assert 10 <= switched <= 11
    assert all(r.url == second for r in by_id[switched:])
    assert gen.targets == [second]


def test_constructor_checks() -> None:
    plan = LoadPlan("open", Constant(1.0), duration_s=1.0)
    with pytest.raises(ValueError, match="at least one target URL"):
        LoadGenerator([], "m", plan)
    with pytest.raises(ValueError, match="connections_per_target"):
        LoadGenerator(["127.0.0.1:1"], "m", plan, connections_per_target=0)
