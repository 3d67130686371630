"""The `tritonobs` command. Each command group lives in its own module with a `register(app)` function.

Errors never reach the user as tracebacks: a TritonobsError becomes one line on stderr and its exit code
(2 bad input, 3 outside world unreachable, 1 a check that failed).
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from tritonobs.errors import TritonobsError

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
    "tritonobs.cli.grafana_cmd",
    "tritonobs.cli.lab_cmd",
    "tritonobs.cli.load_cmd",
    "tritonobs.cli.models_cmd",
    "tritonobs.cli.models_sync_cmd",
    "tritonobs.cli.rbac_cmd",
    "tritonobs.cli.render_cmd",
    "tritonobs.cli.simulate_cmd",
    "tritonobs.cli.verify_cmd",
    "tritonobs.cli.status_cmd",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    # Standalone mode: click reports usage errors itself (one line, exit 2) and exits 0 on success; our
    # own errors propagate out of it and become one line with their exit code here.
    try:
        app(args=argv, standalone_mode=True)
    except TritonobsError as e:
        err.print(f"error: {e}", markup=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted (Ctrl-C)", markup=False)
        sys.exit(130)
    except SystemExit as e:
        if e.code == 130:  # typer turns Ctrl-C into a silent exit 130: say what happened
            err.print("interrupted (Ctrl-C)", markup=False)
        raise
