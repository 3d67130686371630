"""`tritonobs simulate --hpa FILE --metric-trace CSV`: replay a metric trace through the HPA engine."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tritonobs.core.inputs import INT32_MAX, MAX_WAIT_SECONDS, number, read_text
from tritonobs.hpa.manifest import load_hpa
from tritonobs.hpa.simulate import (
    SyncRow,
    check_sync_count,
    driven_metric_note,
    parse_trace,
    rows_as_json,
    simulate,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"


def _table(rows: list[SyncRow]) -> Table:
    table = Table(title="HPA simulation (one row per sync)")
    for name in ("time_s", "per_pod_value", "desired", "replicas"):
        table.add_column(name, justify="right")
    previous = None
    for r in rows:
        # Highlight the syncs where the replica count changes: those are what a reader looks for.
        style = "bold" if previous is not None and r.replicas != previous else None
        table.add_row(f"{r.time_s:g}", f"{r.per_pod_value:g}", str(r.desired), str(r.replicas), style=style)
        previous = r.replicas
    return table


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        hpa: Path = typer.Option(..., "--hpa", help="autoscaling/v2 HPA manifest, e.g. adapter_rules/hpa.yaml"),
        metric_trace: Path = typer.Option(
            ..., "--metric-trace", help="CSV with header time_s,total_value (the metric summed over pods)"
        ),
        initial_replicas: int | None = typer.Option(
            None, "--initial-replicas", min=0, max=INT32_MAX, help="replicas at the first sync (default: minReplicas; 0 disables scaling, as upstream)"
        ),
        sync_period: float = typer.Option(15.0, "--sync-period", help="controller sync period, seconds"),
        output: Output = typer.Option(Output.table, "--output", "-o", help="table (rich) or json (an array)"),
    ) -> None:
        """Replay a metric trace through a faithful port of the Kubernetes HPA controller (autoscaling/v2).

        One row per sync: time_s, per_pod_value (total / replicas), desired (what the metric asks for, before stabilization windows and scaling policies) and replicas (after them). At each sync the latest sample at or before it applies.

        New replicas are assumed ready at once: no scheduling, node launch, image pull or model load. With several metrics the trace drives the first one and the others are left out.
        """
        number("--sync-period", sync_period, 0.001, MAX_WAIT_SECONDS)
        spec = load_hpa(hpa)
        text = read_text(metric_trace, what="metric trace", hint=" (pass --metric-trace PATH to a time_s,total_value CSV)")
        trace = parse_trace(text, file=str(metric_trace))
        check_sync_count(trace, sync_period)
        note = driven_metric_note(spec)
        if note:
            err.print(f"note: {note}", markup=False)
        rows = simulate(spec, trace, initial_replicas=initial_replicas, sync_period_s=sync_period)
        if output is Output.json:
            out.file.write(rows_as_json(rows))
            return
        out.print(_table(rows))
