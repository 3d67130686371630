"""`tritonobs lint [FILE...]`: dashboards, rules, adapter rules, HPA/KEDA checked; one line per finding.

Without files it lints what the spec renders (in memory, so the lines are those of the committed files
when `render --check` passes). The Kubernetes ConfigMap copies of the dashboards and the PrometheusRule
copy of the rules hold the same content as the files linted and are skipped.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from tritonobs.cli.options import SpecOption
from tritonobs.cli.render_cmd import DashboardsOption
from tritonobs.core.errors import TritonobsError, UsageError
from tritonobs.core.inputs import read_text
from tritonobs.review import lint_output
from tritonobs.review.findings import Doc
from tritonobs.review.lint import ALL_RULES, exit_code, lint
from tritonobs.review.lint_config import load_config
from tritonobs.review.rules_stack import StackSettings
from tritonobs.review.sources import docs_of

SKIPPED_COPIES = ("dashboards/kubernetes/", "alerts/prometheusrule.yaml")


class LintOutput(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def stack_docs(spec: Path, dashboards: Path | None) -> tuple[list[Doc], StackSettings]:
    from tritonobs.cli.render_cmd import prepare
    from tritonobs.core.config import duration_seconds

    stack, _, artifacts = prepare(spec, dashboards)
    root = spec.resolve().parent
    docs: list[Doc] = []
    for a in artifacts:
        if a.path.startswith(SKIPPED_COPIES):
            continue
        docs += docs_of(a.content, _display(root / a.path))
    relist = duration_seconds(stack.spec.monitoring.adapter_relist_interval)
    return docs, StackSettings(stack.scrape_seconds, relist)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def file_docs(files: list[Path]) -> list[Doc]:
    docs: list[Doc] = []
    for f in files:
        found = docs_of(read_text(f, what="file to lint"), _display(f))
        if not found:
            raise UsageError("holds no dashboard, rules, adapter rules, HPA or ScaledObject; name such a file", file=_display(f))
        docs += found
    return docs


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint_command(
        files: list[Path] = typer.Argument(None, help="dashboard JSON, dashboard ConfigMap, rules, adapter, HPA or "
                                           "ScaledObject files (default: everything the spec renders)"),
        spec: Path = SpecOption,
        dashboards: Path | None = DashboardsOption,
        config: Path | None = typer.Option(None, "--config", "-c", help="lint config (default: .tritonobs-lint.yaml "
                                           "beside the spec, when present)"),
        output: LintOutput = typer.Option(LintOutput.text, "--output", "-o", help="text, json or github (annotations)"),
        show_excluded: bool = typer.Option(False, "--show-excluded", help="text: also list excluded findings"),
        list_rules: bool = typer.Option(False, "--rules", help="list the rules and exit"),
    ) -> None:
        """Lint Grafana dashboards (grafana/dashboard-linter's rules and tritonobs' own), alert and recording
        rules, prometheus-adapter rules, HPA and KEDA. Exit 1 on errors, 0 with warnings only."""
        if list_rules:
            sys.stdout.write("\n".join(ALL_RULES) + "\n")
            return
        cfg = load_config(config, spec.resolve().parent if not files else Path.cwd(), set(ALL_RULES))
        if files:
            docs, settings = file_docs(files), StackSettings()
        else:
            docs, settings = stack_docs(spec, dashboards)
        findings = lint(docs, cfg, settings)
        if output is LintOutput.json:
            sys.stdout.write(lint_output.as_json(findings))
        elif output is LintOutput.github:
            sys.stdout.write(lint_output.github(findings))
            sys.stderr.write(lint_output.text(findings).splitlines()[-1] + "\n")
        else:
            sys.stdout.write(lint_output.text(findings, show_excluded))
        code = exit_code(findings)
        if code:
            raise _Found()


class _Found(TritonobsError):
    """Lint found errors: exit 1, the findings already printed."""

    exit_code = 1

    def __init__(self) -> None:
        super().__init__("lint found errors")
