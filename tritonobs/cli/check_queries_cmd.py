"""`tritonobs check-queries --prometheus URL`: does every rendered query return data on a live Prometheus?"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from tritonobs.cli.options import LabDirOpt, SigV4RegionOpt, load_stack
from tritonobs.core.config import duration_seconds
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.errors import CheckFailed, UsageError
from tritonobs.core.inputs import input_dir, prometheus_url
from tritonobs.core.render import DashboardSource
from tritonobs.lab.daemon import running_lab
from tritonobs.lab.example import find_spec
from tritonobs.lab.lab_stack import LAB_SCRAPE_INTERVAL, lab_variant
from tritonobs.prom.query_check import CheckResult, run_checks
from tritonobs.prom.target import client_for

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

MAX_LOOKBACK_SECONDS = 30 * 86400.0  # range queries over a month; beyond that Prometheus has dropped the data
_STATUS_STYLE = {"data": "green", "empty": "yellow", "error": "red"}


def _dashboards(spec: Path, folder: Path | None) -> list[DashboardSource]:
    path = folder or spec.resolve().parent / "dashboards"
    if folder is None and not path.is_dir():
        err.print(f"note: no dashboards folder beside {spec}; checking rules and adapter queries only")
        return []
    return load_dashboards(path)


def table(results: list[CheckResult]) -> Table:
    t = Table(title="check-queries", show_lines=False)
    for col in ("origin", "where", "status", "series", "source", "ok", "detail"):
        t.add_column(col, overflow="fold")
    for r in results:
        style = _STATUS_STYLE[r.status]
        detail = r.detail
        if r.per_pod:
            detail = (detail + "; " if detail else "") + ", ".join(f"{p}={n}" for p, n in r.per_pod.items())
        if not r.expect_data and r.status == "empty":
            detail = detail or "not firing (allowed)"
        t.add_row(r.origin, r.where, f"[{style}]{r.status}[/]", str(r.series), r.provenance,
                  "[green]yes[/]" if r.ok else "[red]NO[/]", detail)
    return t


def register(app: typer.Typer) -> None:
    @app.command("check-queries")
    def check_queries(
        prometheus: str | None = typer.Option(None, "--prometheus", help="Prometheus base URL, e.g. "
                                              "http://127.0.0.1:9090 (with --lab: the running lab's)"),
        spec: Path | None = typer.Option(None, "--spec", "-f", help="the stack spec (default: ./tritonobs.yaml)"),
        dashboards: Path | None = typer.Option(None, "--dashboards", help="folder of *.dashboard.py sources"),
        lab: bool = typer.Option(False, "--lab", help=f"check the lab running here (`tritonobs lab up`), the stack "
                                 f"as it runs it ({LAB_SCRAPE_INTERVAL} scrape, short rate windows)"),
        lab_dir: Path = LabDirOpt,
        sigv4_region: str | None = SigV4RegionOpt,
        lookback: str = typer.Option("15m", "--lookback", help="range-query window ending now (data in it counts)"),
        output: str = typer.Option("table", "--output", "-o", help="table or json"),
    ) -> None:
        """Evaluate every dashboard, alert, recording-rule, adapter and KEDA query; exit 1 if one that should
        return data does not (alerts may be empty), 3 if Prometheus is unreachable.

        Adapter rules are expanded for the pods their seriesQuery finds, as prometheus-adapter does, and
        evaluated as instant queries: each pod must get exactly one value. Everything else is a range query
        over --lookback, so backfilled (synthetic) GPU and cluster series count; they are marked `synthetic`.
        """
        if output not in ("table", "json"):
            raise UsageError(f"--output must be table or json (got {output!r})")
        if prometheus is not None:
            prometheus_url(prometheus)
        try:
            window = duration_seconds(lookback)
        except ValueError as e:
            raise UsageError(f"--lookback: {e}") from None
        if not 0 < window <= MAX_LOOKBACK_SECONDS:
            raise UsageError(f"--lookback {lookback}: must be more than 0 and at most 30d")
        if dashboards is not None:
            input_dir(dashboards, "dashboards folder", " (check --dashboards)")
        spec_path, _ = find_spec(spec)
        stack = load_stack(spec_path)
        if prometheus is None and not lab and stack.spec.monitoring.backend != "amp":
            raise UsageError("say which Prometheus: --prometheus URL, or --lab for the lab running here "
                             "(a spec with monitoring.backend: amp reads its workspace)")
        if lab:
            stack = lab_variant(stack)
        sources = _dashboards(spec_path, dashboards)
        if prometheus is None and lab:
            prometheus = running_lab(lab_dir).prometheus_url
        client = client_for(stack.spec, prometheus, sigv4_region)
        # The spinner only on a terminal: elsewhere it would leave a blank line before an error.
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("querying", total=None)
            results = run_checks(client, stack, sources, lookback=window,
                                 on_progress=lambda what: bar.update(task, description=f"querying {what}"))
        failed = [r for r in results if not r.ok]
        if output == "json":
            out.print_json(json.dumps([r.as_dict() for r in results]))
        else:
            out.print(table(results))
            synthetic = sum(1 for r in results if r.provenance != "live" and r.status == "data")
            out.print(f"{len(results)} queries: {sum(r.status == 'data' for r in results)} with data "
                      f"({synthetic} on synthetic series), {len(failed)} failing")
        if failed:
            raise CheckFailed(f"{len(failed)} queries failed; first: {failed[0].origin} {failed[0].where}: "
                              f"{failed[0].status} {failed[0].detail}".rstrip())
