"""`tritonobs models ...`: the Triton model repository. This module owns the `models` sub-app.

Other `models` commands live in their own modules and attach to the same sub-app:

    from tritonobs.cli.models_cmd import models_app

    def register(app: typer.Typer) -> None:   # listed with models_cmd under "models" in cli.COMMANDS
        @models_app.command("sync")
        def sync(...) -> None: ...

`register` below adds the sub-app to the root app once; typer reads its commands when the CLI runs, so
the order of the modules does not matter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from tritonobs.core.errors import UsageError
from tritonobs.core.spec_loader import load_spec, parse_spec, read_spec_text

if TYPE_CHECKING:
    from tritonobs.models.config_check import Problem

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

models_app = typer.Typer(
    name="models",
    help="The Triton model repository (config.pbtxt + model.py per model).",
    no_args_is_help=True,
)


def validate_repository(repository: Path, spec_path: Path | None) -> list[str]:
    """Check the repository (and its agreement with the spec, if given). Returns the model names;
    raises UsageError (exit 2) located at the first problem after listing all of them on stderr."""
    # Imported here: Triton's schema pulls in grpc, which every other command can do without.
    from tritonobs.models.config_check import check_against_spec, check_repository

    names, problems = check_repository(repository)
    if spec_path is not None:
        text = read_spec_text(spec_path)
        spec = parse_spec(text, str(spec_path))
        problems += check_against_spec(repository, spec, str(spec_path), text)
    if problems:
        _raise(problems)
    return names


def _raise(problems: list[Problem]) -> None:
    if len(problems) > 1:
        for p in problems:
            err.print(str(p), markup=False)
    first = problems[0].error()
    if len(problems) > 1:
        raise UsageError(
            f"{first.detail} (1 of {len(problems)} problems, all listed above)",
            file=first.file,
            line=first.line,
        )
    raise first


@models_app.command("validate")
def validate(
    repository: Path | None = typer.Option(
        None,
        "--repository",
        "-r",
        help="model repository (default: model_repository.path of --spec, else ./model_repository)",
    ),
    spec: Path | None = typer.Option(
        None,
        "--spec",
        "-f",
        help="check the repository serves exactly this spec's models, with its settings (default: ./tritonobs.yaml)",
    ),
    no_spec: bool = typer.Option(False, "--no-spec", help="check the repository alone, not against a spec"),
) -> None:
    """Check every config.pbtxt with Triton's schema, the layout, the seed client's I/O and model.py's parameters,
    and that the repository agrees with the spec."""
    if no_spec and spec is not None:
        raise UsageError("--spec and --no-spec contradict each other: give one")
    if spec is None and not no_spec:
        spec = Path("tritonobs.yaml")
        if not spec.is_file():
            raise UsageError("no tritonobs.yaml here to compare the repository with: pass --spec FILE, or --no-spec "
                             "to check the repository alone", file=str(spec))
    if repository is None:
        if spec is not None:
            repository = spec.parent / load_spec(spec).model_repository.path
        else:
            repository = Path("model_repository")
    names = validate_repository(repository, spec)
    checked = f" and {spec}" if spec else ""
    out.print(
        f"{repository}: ok ({len(names)} models: {', '.join(names)}; checked against Triton's schema{checked})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
