"""The `tritonobs` command. Each command group lives in its own module with a `register(app)` function,
imported only when its command runs.

Errors never reach the user as tracebacks: a TritonobsError becomes one line on stderr and its exit code
(2 bad input, 3 outside world unreachable, 1 a check that failed).
"""

from __future__ import annotations

import importlib
import sys

import typer
import typer.main
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from tritonobs.core.errors import TritonobsError

try:  # typer vendors click from 0.2x on
    from typer._click import core as click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click import core as click  # type: ignore[no-redef]
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[assignment]

# Every command: its module (each defines register(app)) and the first paragraph of its help. Listed here so
# that `tritonobs --help` imports no command module and a command imports only its own (start-up speed:
# kubernetes, boto3, tritonclient and matplotlib cost ~1 s together). tests/test_cli_startup.py checks this
# table against the modules.
COMMANDS: dict[str, tuple[str, str]] = {  # name: (module[,module...], help)
    "apply": ("apply_cmd", "Server-side-apply the stack's Kubernetes objects next to the Triton release."),
    "check-queries": ("check_queries_cmd", "Evaluate every dashboard, alert, recording-rule, adapter and KEDA query; "
                      "exit 1 if one that should\nreturn data does not (alerts may be empty), 3 if Prometheus is "
                      "unreachable."),
    "client": ("client_cmd", "Stream every prompt to a Triton vLLM model and print time to first token, latency and "
               "tokens/s."),
    "load": ("load_cmd", "Drive load against Triton: open loop (--rate) or closed loop (--concurrency), shaped by "
             "--profile."),
    "rbac": ("rbac_cmd", "Print the minimal RBAC for `apply` (incl. --prune, --wait), `status` and `verify`, as YAML "
             "to kubectl apply."),
    "validate": ("render_cmd", "Load the spec, resolve it, run the cross-artifact checks. Writes nothing."),
    "render": ("render_cmd", "Render every artifact of the stack (dashboards, adapter rules, HPA/KEDA, alerts)."),
    "simulate": ("simulate_cmd", "Replay a metric trace through a faithful port of the Kubernetes HPA controller "
                 "(autoscaling/v2)."),
    "verify": ("verify_cmd", "Drive a load profile and watch the HPA, pods, GPU nodes, signal and TTFT; judge "
               "against the spec's budgets."),
    "status": ("status_cmd", "One screen: pods ready, models ready, HPA metric vs target, g5 nodes, firing alerts."),
    "grafana": ("grafana_cmd", "Grafana: admin password, dashboard push."),
    "lab": ("lab_cmd", "The local lab: N Triton replicas (simulated vLLM engine, or the real vLLM on a local model) "
            "scraped by Prometheus, loopback only, no GPU needed."),
    "diff": ("diff_cmd", "Semantic diff of dashboards, rules, adapter rules, HPA/KEDA and ServiceMonitor between two "
             "revisions,\neach rendered from its own spec and sources; HPA changes replayed on a trace. Exit 0 (a diff "
             "is not a failure)."),
    "lint": ("lint_cmd", "Lint Grafana dashboards (grafana/dashboard-linter's rules and tritonobs' own), alert and "
             "recording\nrules, prometheus-adapter rules, HPA and KEDA. Exit 1 on errors, 0 with warnings only."),
    "preview": ("preview_cmd", "Draw each dashboard as an overview PNG (panels laid out by gridPos, units, thresholds and "
                "legends as the\npanel JSON says), marked as a preview drawn by tritonobs, not a Grafana screenshot."),
    "iam": ("iam_cmd", "IAM policy and IRSA trust policy per role that queries the AMP workspace."),
    "tune": ("tune_cmd", "Measure one replica's knee and recommend the scaling signal's target."),
    "models": ("models_cmd,models_sync_cmd", "The Triton model repository (config.pbtxt + model.py per model)."),
}


class LazyGroup(TyperGroup):
    """The top-level group: a command's module is imported when that command runs (or shows its own help);
    the command list in `--help` comes from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        # Listing for --help: a stand-in with the help text, never invoked (resolve_command loads the real one).
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in COMMANDS:
            load(self, args[0])
        return super().resolve_command(ctx, args)


_loaded: dict[str, dict[str, click.Command]] = {}  # modules -> the click commands they register (once)


def load(group: TyperGroup, name: str) -> None:
    """Import the module(s) of command `name` and add the commands they register to `group`."""
    modules = COMMANDS[name][0]
    if modules not in _loaded:
        sub = typer.Typer()
        for module in modules.split(","):
            importlib.import_module(f"tritonobs.cli.{module}").register(sub)
        _loaded[modules] = dict(typer.main.get_group(sub).commands)
    for cmd_name, cmd in _loaded[modules].items():
        group.add_command(cmd, cmd_name)


app = typer.Typer(
    name="tritonobs",
    help="Observability and autoscaling for NVIDIA Triton + vLLM on Kubernetes.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


@app.callback()
def _root() -> None:
    """Observability and autoscaling for NVIDIA Triton + vLLM on Kubernetes."""


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> None:
    # Not standalone: click's usage errors (a bad option value, a missing option) come back here and are
    # printed as one line like every other bad input, instead of click's multi-line box.
    try:
        rv = app(args=argv, prog_name="tritonobs", standalone_mode=False)
    except NoArgsIsHelpError as e:
        from typer import rich_utils  # lazily: ~0.1 s, only for the help screen (start-up speed)

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
        for line in e.lines():
            err.print(f"error: {line}", markup=False)
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
