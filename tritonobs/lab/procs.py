"""Process plumbing for the lab: free loopback ports, process groups, and checks for leftovers (psutil).

Every lab child runs in its own session (process group), so stopping it reaches whatever it forked
(tritonserver's python backend stubs). Leftovers are found by group, parent or the run directory their
command line names, never by process name: other
people's tritonserver or prometheus processes on the same machine are not ours to touch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"
SHM_DIR = Path("/dev/shm")
TRITON_SHM_PREFIX = "triton_python_backend_shm_region_"


def free_port() -> int:
    """A TCP port free on loopback right now (bind port 0 and read what the kernel picked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def spawn(cmd: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session (its own process group), stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )


def _live(p: psutil.Process) -> bool:
    # A zombie holds no resources; its parent reaps it.
    try:
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def alive(pid: int | None) -> bool:
    """The process exists and is not a zombie."""
    if pid is None or pid <= 0:
        return False
    try:
        return _live(psutil.Process(pid))
    except psutil.Error:
        return False


def parent_and_group(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of a live process; None when it is gone."""
    try:
        return psutil.Process(pid).ppid(), os.getpgid(pid)
    except (psutil.Error, ProcessLookupError):
        return None


def _live_where(match: Callable[[psutil.Process], bool]) -> list[int]:
    out = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if _live(p) and match(p):
                out.append(p.pid)
    return sorted(out)


def group_pids(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (what killpg reaches)."""
    return _live_where(lambda p: os.getpgid(p.pid) == pgid)


def child_pids(parent: int) -> list[int]:
    """Live processes whose parent is `parent`."""
    return _live_where(lambda p: p.ppid() == parent)


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the whole group, wait up to `timeout`, then SIGKILL what is left; reap the leader."""
    pgid = proc.pid  # leader of its own session: pgid == pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)
        if proc.poll() is not None and not group_pids(pgid):
            return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while group_pids(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def processes_mentioning(needles: Iterable[str]) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live process whose command line contains one of `needles` (ours excluded)."""
    wanted = [n for n in needles if n]
    me = os.getpid()
    found = []
    for pid in psutil.pids():
        if pid == me or not alive(pid):
            continue
        line = cmdline(pid)
        if any(n in line for n in wanted):
            found.append((pid, line))
    return found


def shm_regions(pids: Iterable[int]) -> set[str]:
    """Shared-memory files mapped by, or (Python backend) named on the command line of, these processes: the
    backend's regions, and vLLM's (multiprocessing `psm_*` segments and `sem.mp-*` semaphores), which a
    killed engine process leaves behind."""
    names: set[str] = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for region in psutil.Process(pid).memory_maps(grouped=False):
                if region.path.startswith(str(SHM_DIR) + "/"):
                    names.add(Path(region.path.removesuffix(" (deleted)")).name)
        for word in cmdline(pid).split():
            if word.startswith(TRITON_SHM_PREFIX):
                names.add(word)
    return names


def remove_shm(names: Iterable[str]) -> list[str]:
    """Delete these shm files if still there; returns the ones removed."""
    removed = []
    for name in sorted(names):
        path = SHM_DIR / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(name)
    return removed
