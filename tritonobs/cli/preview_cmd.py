"""`tritonobs preview [DASHBOARD...] --out DIR`: overview PNGs of whole dashboards from real query results."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.options import SpecOption
from tritonobs.cli.render_cmd import DashboardsOption
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import output_dir, read_text, seconds
from tritonobs.review.preview_cmd import dashboards_of
from tritonobs.review.preview_run import draw_dashboards, parse_to, with_source

out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("preview")
    def preview_command(
        files: list[Path] = typer.Argument(None, help="dashboard JSON or ConfigMap files (default: the spec's dashboards)"),
        out_dir: Path = typer.Option(..., "--out", help="folder for the PNGs and previews.json"),
        spec: Path = SpecOption,
        dashboards: Path | None = DashboardsOption,
        prometheus: str | None = typer.Option(None, "--prometheus", help="Prometheus to query"),
        lab: bool = typer.Option(False, "--lab", help="bring up the lab, drive a short load, draw, stop everything"),
        since: str = typer.Option("1h", "--from", help="how far back from --to (e.g. 30m); with --lab, the load's length"),
        to: str = typer.Option("now", "--to", help="end of the range: now, a duration ago (5m) or unix seconds"),
    ) -> None:
        """Draw each dashboard as an overview PNG (panels laid out by gridPos, units, thresholds and legends as the
        panel JSON says), marked as a preview drawn by tritonobs, not a Grafana screenshot."""
        span = seconds("--from", since)
        output_dir("--out", out_dir)
        if prometheus and lab:
            raise UsageError("--prometheus and --lab: pick one")
        if files:
            found = dashboards_of([(str(f), read_text(f, what="dashboard")) for f in files])
        else:
            from tritonobs.cli.render_cmd import prepare

            _, _, artifacts = prepare(spec, dashboards)
            found = dashboards_of([(a.path, a.content) for a in artifacts
                                   if a.path.endswith(".json") and "/kubernetes/" not in a.path])
        if not found:
            raise UsageError("no dashboard in the files named")
        summary = with_source(prometheus, spec if lab else None, span,
                              lambda fetch, sub: draw_dashboards(found, out_dir, fetch, sub), end=parse_to(to))
        for name, s in (summary or {}).items():
            drew = sum(1 for v in s["panels"].values() if v)
            out.print(f"{out_dir / s['image']}: {name}, {drew}/{len(s['panels'])} panels drew data")
