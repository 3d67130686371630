"""Drive one replica with rising closed-loop concurrency and measure each step (the I/O side of `tune`).

One load generator runs a step profile (levels[i] in flight from i x step_s); a poller reads the replica's own
/metrics every POLL_S for the engine gauges. Each step is measured after its first third (the queue settles):
TTFT p95 over the requests whose first token came in that window, streamed tokens/s (each request's tokens
spread evenly from its first token to its end), and the mean of each gauge signal.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from tritonobs.core import catalogue as c
from tritonobs.core.errors import ExternalError
from tritonobs.load.generator import LoadGenerator, LoadPlan
from tritonobs.load.profiles import Step
from tritonobs.load.request import sampling_parameters
from tritonobs.load.results import RequestRecord
from tritonobs.tune.knee import StepResult, percentile

POLL_S = 0.25
SETTLE_FRACTION = 1 / 3  # of each step, before measuring
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LINE = re.compile(r'^(?P<name>[^\s{]+)(\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')


def gauges(text: str, model: str) -> dict[str, float]:
    """{waiting_requests, inflight_requests} of `model` from a Triton /metrics text (0 when absent)."""
    waiting = running = 0.0
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or f'model="{model}"' not in (m["labels"] or ""):
            continue
        if m["name"] == c.VLLM_WAITING.name:
            waiting += float(m["value"])
        elif m["name"] == c.VLLM_RUNNING.name:
            running += float(m["value"])
    return {"waiting_requests": waiting, "inflight_requests": waiting + running}


def read_gauges(metrics_url: str, model: str) -> dict[str, float]:
    try:
        with _DIRECT.open(metrics_url, timeout=2) as resp:
            return gauges(resp.read().decode(errors="replace"), model)
    except (urllib.error.URLError, OSError) as e:
        raise ExternalError(metrics_url, f"cannot read the replica's metrics: {e}") from None


def _tokens_in(r: RequestRecord, a: float, b: float) -> float:
    """A request's tokens streamed in [a, b), taking them as spread evenly from its first token to its end."""
    start = r.first_token_s if r.first_token_s is not None else r.end_s
    if r.end_s <= start:
        return float(r.tokens) if a <= start < b else 0.0
    overlap = max(0.0, min(b, r.end_s) - max(a, start))
    return r.tokens * overlap / (r.end_s - start)


def measure(levels: Sequence[float], step_s: float, records: Sequence[RequestRecord],
            polls: Sequence[tuple[float, dict[str, float]]]) -> list[StepResult]:
    """Per step: the measuring window is [i x step + settle, (i + 1) x step). Pure."""
    out = []
    for i, level in enumerate(levels):
        a, b = i * step_s + step_s * SETTLE_FRACTION, (i + 1) * step_s
        firsts = [r for r in records if r.ok and r.first_token_s is not None and a <= r.first_token_s < b]
        ttfts = [r.ttft_s for r in firsts if r.ttft_s is not None]
        tokens = sum(_tokens_in(r, a, b) for r in records if r.ok)
        failed = sum(1 for r in records if not r.ok and a <= r.end_s < b)
        seen = [g for t, g in polls if a <= t < b]
        signals = {k: sum(g[k] for g in seen) / len(seen) for k in seen[0]} if seen else {}
        out.append(StepResult(level, len(ttfts), failed, percentile(ttfts, 0.95) if ttfts else None,
                              tokens / (b - a), signals))
    return out


async def drive(grpc_url: str, metrics_url: str, model: str, levels: Sequence[float], step_s: float,
                max_tokens: int, on_tick: Callable[[float, float, int], None] | None = None) -> list[StepResult]:
    """Run the steps against one replica; ExternalError (exit 3) when it does not serve or its metrics fail."""
    from tritonobs.load.client import probe_targets

    await probe_targets([grpc_url], model)
    await asyncio.to_thread(read_gauges, metrics_url, model)  # fail early on a wrong metrics address
    profile = Step(levels[0], tuple((i * step_s, v) for i, v in enumerate(levels) if i > 0))
    duration = len(levels) * step_s
    gen = LoadGenerator([grpc_url], model, LoadPlan("closed", profile, duration, drain_s=5.0),
                        sampling=sampling_parameters(max_tokens), connections_per_target=2)
    polls: list[tuple[float, dict[str, float]]] = []
    task = asyncio.create_task(gen.run())
    t0 = time.perf_counter()
    while not task.done():
        t = time.perf_counter() - t0
        try:
            polls.append((t, await asyncio.to_thread(read_gauges, metrics_url, model)))
        except ExternalError:
            if t < duration:
                gen.stop()
                await asyncio.gather(task, return_exceptions=True)
                raise
        if on_tick is not None:
            s = gen.stats()
            on_tick(t, s.schedule_value, s.ok)
        await asyncio.wait({task}, timeout=POLL_S)
    # The generator's clock starts when its task first runs, within milliseconds of ours.
    return measure(levels, step_s, task.result().records, polls)
