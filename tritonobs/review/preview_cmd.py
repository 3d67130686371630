"""Glue shared by `tritonobs preview`, `diff --images` and `lab run`: which dashboards, which source."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from tritonobs.core.model import Stack
from tritonobs.core.render import DashboardSource
from tritonobs.review.preview_data import Window
from tritonobs.review.preview_run import draw_dashboards, fetcher
from tritonobs.review.sources import docs_of


def dashboards_of(files: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, dashboard) for every dashboard in these (file name, text) pairs (JSON or ConfigMap YAML)."""
    out = []
    for name, text in files:
        for doc in docs_of(text, name):
            if doc.kind == "dashboard":
                out.append((name, doc.data))
    return out


def rendered_dashboards(stack: Stack, sources: list[DashboardSource]) -> list[tuple[str, dict[str, Any]]]:
    from tritonobs.core.render import dashboards as dash

    return dashboards_of([(a.path, a.content) for a in dash.render(stack, sources) if a.path.endswith(".json")
                          and "/kubernetes/" not in a.path])


def lab_previews(stack: Stack, sources: list[DashboardSource], out_dir: Path, console: Console) -> Callable[[str], None]:
    """`lab run`'s last step: every dashboard drawn from the lab's Prometheus before it stops."""
    from tritonobs.lab.lab_stack import lab_variant
    from tritonobs.prom.client import PrometheusClient

    started = time.time()

    def draw(url: str) -> None:
        end = time.time()
        w = Window(started, end, lab_variant(stack).scrape_seconds)  # the lab's Prometheus scrapes every second
        with console.status("drawing previews of every dashboard from the lab's data"):
            summary = draw_dashboards(rendered_dashboards(stack, sources), out_dir, fetcher(PrometheusClient(url), w),
                                      f"the lab's Prometheus, {int(end - started)} s of data")
        drawn = sum(1 for d in summary.values() for v in d["panels"].values() if v)
        total = sum(len(d["panels"]) for d in summary.values())
        console.print(f"previews: {len(summary)} dashboards in [bold]{out_dir}/[/] ({drawn}/{total} panels drew data; "
                      "drawn by tritonobs, not Grafana screenshots)")
    return draw
