"""`tritonobs validate` and `tritonobs render [--out DIR] [--check]`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tritonobs import emit
from tritonobs.cli.options import SpecOption, load_stack, spec_location
from tritonobs.core import scaleahead
from tritonobs.core.advice import warnings
from tritonobs.core.artifacts import DashboardSource
from tritonobs.core.checks import run_all
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.errors import CheckFailed, UsageError
from tritonobs.core.inputs import input_dir, output_dir
from tritonobs.core.model import Stack
from tritonobs.core.render import Bundle, render
from tritonobs.core.vllm_backend import MISSING, WORKS, custom_metrics_value, image_release

out = Console(highlight=False, soft_wrap=True)

DashboardsOption = typer.Option(
    None, "--dashboards", help="folder of *.dashboard.py sources (default: dashboards/ beside the spec)"
)


def prepare(spec: Path, dashboards: Path | None) -> tuple[Stack, list[DashboardSource], Bundle]:
    """Resolve, render every artifact once, check the rendered bundle. Raises UsageError (exit 2) before
    anything is written or applied."""
    if dashboards is not None:
        input_dir(dashboards, "dashboards folder", " (check --dashboards)")
    stack = load_stack(spec)
    sources = load_dashboards(dashboards or spec.resolve().parent / "dashboards")
    bundle = render(stack, sources)
    problems = run_all(bundle)
    if problems:
        raise UsageError(f"{len(problems)} problem(s); first: {problems[0]}", file=str(spec))
    return stack, sources, bundle


def backend_notes(stack: Stack) -> list[str]:
    """What still works for models on Triton's official vllm_backend, and what stays empty."""

    release = image_release(stack.spec.triton.image)
    value = custom_metrics_value(release) if release else None
    notes = []
    for m in stack.spec.models:
        if m.backend != "vllm":
            continue
        flag = f'REPORT_CUSTOM_METRICS "{value}"' if value else "REPORT_CUSTOM_METRICS (yes up to 24.11, true from 24.12)"
        notes.append(
            f"note: {m.name} runs on Triton's vllm_backend (needs {flag} in its config.pbtxt): works: "
            f"{', '.join(WORKS)}, signal {m.scaling_signal}; stays empty: {', '.join(MISSING)} (no such gauges), "
            "so waiting_requests/inflight_requests cannot scale it; queue_time_avg/queue_compute_ratio are blind "
            "to vLLM's queue."
        )
    return notes


def print_warnings(stack: Stack, spec: Path) -> None:
    """Valid values that will not do what they suggest: `warning: file:line: key: what`, exit status unchanged."""

    for w in warnings(stack):
        file, line = spec_location(spec, w.key)
        where = f"{file}:{line}" if line else file
        out.print(f"warning: {where}: {w.path}: {w.message}", markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(spec: Path = SpecOption, dashboards: Path | None = DashboardsOption) -> None:
        """Load the spec, resolve it, run the cross-artifact checks. Writes nothing."""
        stack, _, bundle = prepare(spec, dashboards)
        artifacts = bundle.artifacts
        out.print(f"{spec}: ok ({len(stack.model_names)} models, {len(artifacts)} artifacts would render)")
        print_warnings(stack, spec)
        for line in backend_notes(stack):
            out.print(line, markup=False)
        for line in scaleahead.notes(stack.spec, stack.scale_ahead):
            out.print(line, markup=False)

    @app.command()
    def render(
        spec: Path = SpecOption,
        dashboards: Path | None = DashboardsOption,
        out_dir: Path | None = typer.Option(None, "--out", help="output root (default: beside the spec)"),
        check: bool = typer.Option(False, "--check", help="exit 1 with a diff when committed outputs are stale"),
    ) -> None:
        """Render every artifact of the stack (dashboards, adapter rules, HPA/KEDA, alerts)."""
        if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out {out_dir}: is a file; name a folder")
        stack, _, bundle = prepare(spec, dashboards)
        artifacts = bundle.artifacts
        print_warnings(stack, spec)
        root = out_dir or spec.resolve().parent
        if check:
            drifted = emit.drift(artifacts, root)
            if drifted:
                for d in drifted:
                    out.print(d.diff, markup=False, end="")
                raise CheckFailed(
                    f"{len(drifted)} rendered file(s) differ from the spec: run `tritonobs render` and commit"
                )
            out.print(f"up to date: {len(artifacts)} artifacts")
            return
        if out_dir is not None:
            output_dir("--out", out_dir)
        emit.check_writable(artifacts, root)
        written, removed = emit.write(artifacts, root)
        for p in written:
            out.print(f"wrote   {p}")
        for p in removed:
            out.print(f"removed {p}")
        out.print(f"{len(artifacts)} artifacts, {len(written)} changed, {len(removed)} removed")
