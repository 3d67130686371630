"""`tritonobs lab up|down|status`: a lab that outlives the command, managed through its run directory.

`up` starts a detached copy of itself (`lab up --foreground`, its own session) and waits until that process
writes `state.json` with status `ready` (or `error`). The daemon holds the Lab in a `with` block: SIGTERM
(what `down` sends) and SIGINT both unwind it, so every replica, Prometheus and shm file goes away. The
lab's own files live in `<run dir>/lab/`, removed on exit; `state.json` and `lab.log` stay until `down`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonobs.core.errors import ExternalError, TritonobsError, UsageError
from tritonobs.core.inputs import MIB, read_text
from tritonobs.lab import procs
from tritonobs.lab.prometheus_process import write_atomic

STATE_FILE = "state.json"
LOG_FILE = "lab.log"
LAB_SUBDIR = "lab"
LAB_PROGRAMS = ("tritonserver", "triton_python_backend_stub", "prometheus")


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The daemon's state, or None when there is none (or it is not ours: bounded read, a JSON object)."""

    try:
        state = json.loads(read_text(run_dir / STATE_FILE, what="lab state", limit=MIB))
    except (UsageError, ValueError, RecursionError):
        return None
    return state if isinstance(state, dict) else None


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    write_atomic(run_dir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def running_pid(run_dir: Path) -> int | None:
    """The daemon's pid, if it still runs. A pid from an old state file may since have been reused by an
    unrelated process: only a live `tritonobs lab up --foreground` counts (never signal anything else)."""
    state = read_state(run_dir)
    pid = state.get("pid") if state else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not procs.alive(pid):
        return None
    words = procs.cmdline(int(pid)).split()
    ours = "--foreground" in words and any(Path(w).name == "tritonobs" for w in words)
    return int(pid) if ours else None


DEFAULT_RUN_DIR = Path(".tritonobs-lab")


@dataclass(frozen=True)
class LabEndpoints:
    """Where a running lab (`tritonobs lab up`) answers: what `--lab` on client, load and check-queries use."""

    prometheus_url: str
    grpc: tuple[str, ...]  # one gRPC host:port per replica


def running_lab(run_dir: Path = DEFAULT_RUN_DIR) -> LabEndpoints:
    """The endpoints of the lab running from `run_dir`; UsageError when none is up there."""
    state = read_state(run_dir) or {}
    lab = state.get("lab") if state.get("status") == "ready" and running_pid(run_dir) else None
    if not isinstance(lab, dict):
        raise UsageError(f"no lab is running from {run_dir}: start one with `tritonobs lab up` (or pass --lab-dir)",
                         file=str(run_dir))
    grpc = tuple(str(r["grpc"]) for r in lab.get("replicas", []))
    return LabEndpoints(str(lab["prometheus_url"]), grpc)


def serve(run_dir: Path, make_lab: Callable[[Path], Any]) -> None:
    """The daemon body (`lab up --foreground`): run the lab until SIGTERM/SIGINT, keeping state.json current."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"status": "starting", "pid": os.getpid(), "run_dir": str(run_dir.resolve())}
    write_state(run_dir, state)
    try:
        with make_lab(run_dir / LAB_SUBDIR) as lab:
            state.update(status="ready", lab=lab.describe())
            write_state(run_dir, state)
            print(f"lab ready: Prometheus {lab.prometheus_url}", flush=True)
            while True:
                time.sleep(1.0)
    except KeyboardInterrupt:
        state.update(status="stopped", reason="signal")
    except TritonobsError as e:
        state.update(status="error", error=str(e), exit_code=e.exit_code)
        raise
    except Exception as e:
        state.update(status="error", error=f"{type(e).__name__}: {e}", exit_code=1)
        raise
    finally:
        state["pid"] = None
        write_state(run_dir, state)
        print(f"lab {state['status']}", flush=True)


def start_detached(run_dir: Path, argv: Sequence[str], timeout: float = 180.0) -> dict[str, Any]:
    """Start `tritonobs <argv> --foreground` in its own session and wait for it to report ready."""
    pid = running_pid(run_dir)
    if pid:
        raise UsageError(f"a lab is already running here (pid {pid}): `tritonobs lab down --run-dir {run_dir}`",
                         file=str(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (run_dir / STATE_FILE).unlink()
    cmd = [sys.executable, "-m", "tritonobs", *argv, "--foreground"]
    proc = procs.spawn(cmd, run_dir / LOG_FILE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(run_dir) or {}
        if state.get("status") == "ready":
            return state
        if state.get("status") == "error" or proc.poll() is not None:
            proc.wait()
            msg = state.get("error") or f"the lab process exited ({proc.returncode}); see {run_dir / LOG_FILE}"
            if int(state.get("exit_code", 3)) == 2:
                raise UsageError(msg)
            raise ExternalError(str(run_dir / LOG_FILE), msg)
        time.sleep(0.2)
    stop(run_dir)
    raise ExternalError(str(run_dir / LOG_FILE), f"the lab was not ready after {timeout:.0f}s")


def stop(run_dir: Path, timeout: float = 60.0) -> bool:
    """SIGTERM the daemon and wait for it; returns whether one was running. A daemon that will not stop
    is SIGKILLed. Lab processes left behind (by a daemon that was SIGKILLed or crashed: each lab child
    runs in its own session, so nothing reaps them) are killed, and their shm files removed."""
    state = read_state(run_dir) or {}
    pid = running_pid(run_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while procs.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if procs.alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    killed = kill_leftovers(run_dir)
    last_pid = pid or state.get("pid")
    if last_pid:
        # The replicas' shm prefix carries the daemon's pid (TritonProcess.shm_prefix).
        procs.remove_shm(p.name for p in procs.SHM_DIR.glob(f"{procs.TRITON_SHM_PREFIX}tobs{int(last_pid)}_*"))
    return pid is not None or bool(killed)


def kill_leftovers(run_dir: Path) -> list[int]:
    """SIGKILL the lab programs whose command line names this run's lab directory; returns their pids."""
    lab_dir = str((run_dir / LAB_SUBDIR).resolve())
    killed = []
    for leftover, line in procs.processes_mentioning([lab_dir]):
        # Only the lab's own programs: a shell tailing the lab's log is not ours to kill.
        if Path(line.split(" ", 1)[0]).name in LAB_PROGRAMS:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(leftover, signal.SIGKILL)
                killed.append(leftover)
    deadline = time.monotonic() + 5
    while any(procs.alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed
