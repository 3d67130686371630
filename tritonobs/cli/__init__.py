"""The `tritonobs` command. Each command group lives in its own module with a `register(app)` function.

Errors never reach the user as tracebacks: a TritonobsError becomes one line on stderr and its exit code
(2 bad input, 3 outside world unreachable, 1 a check that failed).
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from tritonobs.core.errors import TritonobsError

try:  # typer vendors click from 0.2x on
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]

app = typer.Typer(
    name="tritonobs",
    help="Observability and autoscaling for NVIDIA Triton + vLLM on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# One module per command group; each defines register(app). Keep sorted.
_COMMAND_MODULES = [
    "tritonobs.cli.apply_cmd",
    "tritonobs.cli.check_queries_cmd",
    "tritonobs.cli.client_cmd",
    "tritonobs.cli.diff_cmd",
    "tritonobs.cli.grafana_cmd",
    "tritonobs.cli.iam_cmd",
    "tritonobs.cli.lab_cmd",
    "tritonobs.cli.lint_cmd",
    "tritonobs.cli.load_cmd",
    "tritonobs.cli.models_cmd",
    "tritonobs.cli.models_sync_cmd",
    "tritonobs.cli.rbac_cmd",
    "tritonobs.cli.preview_cmd",
    "tritonobs.cli.render_cmd",
    "tritonobs.cli.simulate_cmd",
    "tritonobs.cli.tune_cmd",
    "tritonobs.cli.verify_cmd",
    "tritonobs.cli.status_cmd",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> None:
    # Not standalone: click's usage errors (a bad option value, a missing option) come back here and are
    # printed as one line like every other bad input, instead of click's multi-line box.
    try:
        rv = app(args=argv, prog_name="tritonobs", standalone_mode=False)
    except NoArgsIsHelpError as e:
        from typer import rich_utils

        rich_utils.rich_format_error(e)  # the help text, as click shows it
        sys.exit(e.exit_code)
    except ClickException as e:
        ctx = getattr(e, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        err.print(f"error: {_one_line(e.format_message())}{where}", markup=False)
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(1)
    except TritonobsError as e:
        err.print(f"error: {_one_line(str(e))}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted (Ctrl-C)", markup=False)
        sys.exit(130)
    except RecursionError:
        err.print("error: input nested too deeply to process (is this the right file?)", markup=False)
        sys.exit(2)
    if rv == 130:  # typer turns Ctrl-C inside a command into a silent exit 130: say what happened
        err.print("interrupted (Ctrl-C)", markup=False)
    sys.exit(rv if isinstance(rv, int) else 0)
