"""Live progress of a load run with rich: time through the run, sent/ok/failed, in flight, recent rps."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tritonobs.load.generator import LoadGenerator, LoadStats

_REFRESH_S = 0.25
_RATE_WINDOW_S = 5.0  # completions per second over this window


def status_line(stats: LoadStats, recent_rps: float, mode: str) -> str:
    target = "rate" if mode == "open" else "concurrency"
    return (
        f"sent {stats.sent}  ok {stats.ok}  failed {stats.failed}  in flight {stats.inflight} "
        f"({stats.streaming} streaming)  "
        f"{recent_rps:.1f} ok/s  ({target} now {stats.schedule_value:.1f})"
    )


async def show_progress(gen: LoadGenerator, run: asyncio.Task[Any], console: Console) -> None:
    """Render until `run` finishes. Only reads the generator; never slows the run down by more than a poll."""
    duration = gen.plan.duration_s
    window: deque[tuple[float, int]] = deque()
    with Progress(
        TextColumn("[bold]load"),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("load", total=duration if math.isfinite(duration) else None, status="starting")
        while not run.done():
            stats = gen.stats()
            window.append((stats.elapsed_s, stats.ok))
            while window and stats.elapsed_s - window[0][0] > _RATE_WINDOW_S:
                window.popleft()
            span = window[-1][0] - window[0][0]
            recent = (window[-1][1] - window[0][1]) / span if span > 0 else 0.0
            bar.update(
                task,
                completed=min(stats.elapsed_s, duration),
                status=status_line(stats, recent, gen.plan.mode),
            )
            await asyncio.wait({run}, timeout=_REFRESH_S)
        stats = gen.stats()
        overall = stats.ok / stats.elapsed_s if stats.elapsed_s > 0 else 0.0  # the whole run, once it is over
        bar.update(
            task, completed=min(stats.elapsed_s, duration), status=status_line(stats, overall, gen.plan.mode)
        )
