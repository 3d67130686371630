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
from pathlib import Path
from typing import Any

from tritonobs.errors import ExternalError, TritonobsError, UsageError
from tritonobs.lab import procs

STATE_FILE = "state.json"
LOG_FILE = "lab.log"
LAB_SUBDIR = "lab"
LAB_PROGRAMS = ("tritonserver", "triton_python_backend_stub", "prometheus")


def read_state(run_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((run_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return None


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    from tritonobs.lab.prometheus_process import write_atomic

    write_atomic(run_dir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return not stat[stat.rfind(")") + 2 :].startswith("Z")


def running_pid(run_dir: Path) -> int | None:
    state = read_state(run_dir)
    pid = state.get("pid") if state else None
    return int(pid) if pid and alive(int(pid)) else None


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
    is SIGKILLed, and lab processes left behind (their command lines name the run dir) are killed."""
    pid = running_pid(run_dir)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        lab_dir = str((run_dir / LAB_SUBDIR).resolve())
        for leftover, line in procs.processes_mentioning([lab_dir]):
            # Only the lab's own programs: a shell tailing the lab's log is not ours to kill.
            if Path(line.split(" ", 1)[0]).name in LAB_PROGRAMS:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(leftover, signal.SIGKILL)
    return True
