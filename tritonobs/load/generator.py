"""The load generator: open loop (Poisson arrivals at a scheduled rate) or closed loop (scheduled concurrency).

Usable from asyncio code alongside other work (the lab runs it next to its HPA controller):

    gen = LoadGenerator(["127.0.0.1:8001"], "llama2", LoadPlan("open", Step(1, ((30, 10),)), 60))
    task = asyncio.create_task(gen.run())
    ...  gen.inflight_by_target()  # {url: requests in flight}, any time, from the same loop
    ...  gen.set_targets([...])     # replicas came or went: new requests go to the new set
    result = await task

Requests go round-robin over `connections_per_target` gRPC connections per URL, interleaved across URLs, so
a stream of requests alternates replicas the way a Service spreads new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import tritonclient.grpc.aio as grpcclient

from tritonobs.load.grpc_stream import RequestProgress, stream_request
from tritonobs.load.profiles import Profile
from tritonobs.load.request import TEXT_OUTPUT, build_inputs, sampling_parameters, wrap_prompt
from tritonobs.load.results import InflightSample, RequestRecord, RunResult
from tritonobs.load.schedule import concurrency_at, poisson_arrivals

Mode = Literal["open", "closed"]
DEFAULT_PROMPT = "Explain in one paragraph what an inference server does."
_CLOSED_LOOP_TICK_S = 0.05  # how often the closed loop re-reads its concurrency schedule
# After a failed request a closed-loop worker waits before its next one (doubling, capped), as a real client
# would: a dead replica must not turn the run into thousands of failures a second.
FAILURE_BACKOFF_S = 0.1
FAILURE_BACKOFF_MAX_S = 2.0


@dataclass(frozen=True)
class LoadPlan:
    mode: Mode  # "open": profile is requests/s; "closed": profile is concurrent requests
    profile: Profile
    duration_s: float  # no new request after this; math.inf runs until stop()
    max_requests: int | None = None
    seed: int = 0
    drain_s: float = 30.0  # after the send window, wait this long for in-flight requests, then cancel them
    stream_timeout_s: float | None = None  # per request; None waits as long as the server streams


@dataclass(frozen=True)
class LoadStats:
    elapsed_s: float
    sent: int
    ok: int
    failed: int
    inflight: int
    streaming: int  # in flight and already past their first token
    schedule_value: float  # the profile's current rate or concurrency


class _Connection:
    """One `InferenceServerClient`: one gRPC channel, i.e. one HTTP/2 connection to one URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = grpcclient.InferenceServerClient(url=url)
        self.inflight = 0
        self.retired = False


class LoadGenerator:
    def __init__(
        self,
        targets: Sequence[str],
        model: str,
        plan: LoadPlan,
        *,
        prompts: Sequence[str] = (DEFAULT_PROMPT,),
        sampling: dict[str, Any] | None = None,
        connections_per_target: int = 2,
        text_output: str = TEXT_OUTPUT,
        sample_interval_s: float = 1.0,
    ) -> None:
        if not targets:
            raise ValueError("at least one target URL")
        if connections_per_target < 1:
            raise ValueError("connections_per_target must be >= 1")
        self.model = model
        self.plan = plan
        self._urls = list(dict.fromkeys(targets))
        self._per_target = connections_per_target
        self._text_output = text_output
        self._sample_interval_s = sample_interval_s
        params = sampling if sampling is not None else sampling_parameters()
        # Tensors are built once per prompt and reused: per-request numpy work is client CPU not spent sending.
        self._inputs = [build_inputs(wrap_prompt(p), params) for p in prompts] or [
            build_inputs(wrap_prompt(DEFAULT_PROMPT), params)
        ]
        self._connections: list[_Connection] = []
        self._retired: list[_Connection] = []
        self._next = 0
        self._inflight_by_url: dict[str, int] = {}
        self._running: dict[str, RequestProgress] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._records: list[RequestRecord] = []
        self._samples: list[InflightSample] = []
        self._sent = self._ok = self._failed = 0
        self._t0 = 0.0
        self._target_concurrency = 0
        self._stop = asyncio.Event()
        self._started = False

    # --- what other components read -------------------------------------------------------------------

    def inflight_by_target(self) -> dict[str, int]:
        """Requests sent and not yet finished, per target URL (current targets always listed, maybe 0)."""
        counts = {url: 0 for url in self._urls}
        for url, n in self._inflight_by_url.items():
            if n or url in counts:
                counts[url] = n
        return dict(sorted(counts.items()))

    def stats(self) -> LoadStats:
        elapsed = time.perf_counter() - self._t0 if self._started else 0.0
        return LoadStats(
            elapsed_s=elapsed,
            sent=self._sent,
            ok=self._ok,
            failed=self._failed,
            inflight=len(self._running),
            streaming=sum(1 for p in self._running.values() if p.first_token is not None),
            schedule_value=self.plan.profile.value_at(elapsed),
        )

    @property
    def targets(self) -> list[str]:
        return list(self._urls)

    # --- what other components do ---------------------------------------------------------------------

    def set_targets(self, urls: Sequence[str]) -> None:
        """Send new requests to this set of URLs from now on. Call from the generator's event loop.

        Requests already in flight on a removed URL finish there; its connections close once idle.
        """
        if not urls:
            raise ValueError("at least one target URL")
        self._urls = list(dict.fromkeys(urls))
        if self._started:
            self._rebuild_connections()

    def stop(self) -> None:
        """End the send window now; in-flight requests still get the drain period."""
        self._stop.set()

    # --- the run --------------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        if self._started:
            raise RuntimeError("a LoadGenerator runs once")
        self._started = True
        started_unix = time.time()
        self._t0 = time.perf_counter()
        self._rebuild_connections()
        sampler = asyncio.create_task(self._sample_inflight())
        try:
            if self.plan.mode == "open":
                await self._open_loop()
            else:
                await self._closed_loop()
            await self._drain()
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await self._cancel_all("cancelled: the run ended")
            await self._close_all()
        self._records.sort(key=lambda r: (r.start_s, r.request_id))
        return RunResult(
            records=self._records,
            inflight=self._samples,
            started_unix=started_unix,
            planned_duration_s=self.plan.duration_s,
            mode=self.plan.mode,
            profile=self.plan.profile.describe(),
        )

    def _elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def _send_window_open(self) -> bool:
        if self._stop.is_set() or self._elapsed() >= self.plan.duration_s:
            return False
        return self.plan.max_requests is None or self._sent < self.plan.max_requests

    async def _sleep_or_stop(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if seconds < 0.25:  # short gaps: a plain sleep is cheaper than a wait_for task per arrival
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _open_loop(self) -> None:
        rng = random.Random(self.plan.seed)
        for at in poisson_arrivals(self.plan.profile, self.plan.duration_s, rng):
            await self._sleep_or_stop(at - self._elapsed())
            if not self._send_window_open():
                return
            task = asyncio.create_task(self._issue(scheduled_s=at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # the arrival process ended before the window did (e.g. the rate fell to 0): idle until it closes
        await self._sleep_or_stop(self.plan.duration_s - self._elapsed())

    async def _closed_loop(self) -> None:
        workers: dict[int, asyncio.Task[None]] = {}
        while self._send_window_open():
            self._target_concurrency = concurrency_at(self.plan.profile, self._elapsed())
            for i in range(self._target_concurrency):
                if i not in workers or workers[i].done():
                    workers[i] = asyncio.create_task(self._worker(i))
            await self._sleep_or_stop(min(_CLOSED_LOOP_TICK_S, self.plan.duration_s - self._elapsed()))
        self._target_concurrency = 0
        for task in workers.values():
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _worker(self, index: int) -> None:
        # A worker keeps one request in flight while its index is below the scheduled concurrency.
        backoff = 0.0
        while index < self._target_concurrency and self._send_window_open():
            if await self._issue(scheduled_s=None):
                backoff = 0.0
            else:
                backoff = min(max(2 * backoff, FAILURE_BACKOFF_S), FAILURE_BACKOFF_MAX_S)
                await self._sleep_or_stop(backoff)

    async def _issue(self, scheduled_s: float | None) -> bool:
        """Send one request and record it; True when it succeeded."""
        conn = self._pick_connection()
        seq = self._sent
        self._sent += 1
        progress = RequestProgress(
            request_id=str(seq), url=conn.url, model=self.model, scheduled_s=scheduled_s
        )
        self._running[progress.request_id] = progress
        conn.inflight += 1
        self._inflight_by_url[conn.url] = self._inflight_by_url.get(conn.url, 0) + 1
        try:
            await stream_request(
                conn.client,
                progress,
                self._inputs[seq % len(self._inputs)],
                text_output=self._text_output,
                stream_timeout_s=self.plan.stream_timeout_s,
            )
        finally:
            # runs on cancellation too: the request is accounted for exactly once
            self._running.pop(progress.request_id, None)
            conn.inflight -= 1
            self._inflight_by_url[conn.url] -= 1
            if progress.end is None:
                progress.fail("cancelled: the run ended", time.perf_counter())
            record = progress.to_record(self._t0)
            self._records.append(record)
            if record.ok:
                self._ok += 1
            else:
                self._failed += 1
            if conn.retired and conn.inflight == 0:
                self._close_later(conn)
        return record.ok

    def _pick_connection(self) -> _Connection:
        conn = self._connections[self._next % len(self._connections)]
        self._next += 1
        return conn

    def _rebuild_connections(self) -> None:
        keep = [c for c in self._connections if c.url in self._urls]
        for conn in self._connections:
            if conn.url not in self._urls:
                conn.retired = True
                if conn.inflight == 0:
                    self._close_later(conn)
                else:
                    self._retired.append(conn)
        have = {c.url for c in keep}
        for url in self._urls:
            if url not in have:
                keep.extend(_Connection(url) for _ in range(self._per_target))
        # interleave: connection k of every URL before connection k+1 of any
        by_url = {url: [c for c in keep if c.url == url] for url in self._urls}
        self._connections = [by_url[u][k] for k in range(self._per_target) for u in self._urls]
        for url in self._urls:
            self._inflight_by_url.setdefault(url, 0)

    def _close_later(self, conn: _Connection) -> None:
        if conn in self._retired:
            self._retired.remove(conn)
        task = asyncio.create_task(conn.client.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sample_inflight(self) -> None:
        # on a fixed grid (k * interval), so samples do not drift when the loop is busy
        k = 0
        while True:
            self._samples.append(InflightSample(round(self._elapsed(), 6), self.inflight_by_target()))
            k += 1
            await asyncio.sleep(max(0.0, k * self._sample_interval_s - self._elapsed()))

    async def _drain(self) -> None:
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=self.plan.drain_s)

    async def _cancel_all(self, reason: str) -> None:
        pending = [t for t in self._tasks if not t.done()]
        now = time.perf_counter()
        for progress in self._running.values():
            progress.fail(reason, now)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _close_all(self) -> None:
        for conn in self._connections + self._retired:
            with contextlib.suppress(Exception):
                await conn.client.close()
        self._connections = []
        self._retired = []
