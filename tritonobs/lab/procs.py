"""Process plumbing for the lab: free loopback ports, process groups, and /proc checks for leftovers.

Every lab child runs in its own session (process group), so stopping it reaches whatever it forked
(tritonserver's python backend stubs). Leftovers are found through /proc, never by process name: other
people's tritonserver or prometheus processes on the same machine are not ours to touch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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


def group_pids(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (what killpg reaches)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 5 (pgrp) comes after the parenthesised command, which may itself contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry.name))
    return sorted(out)


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
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_mentioning(needles: Iterable[str]) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live process whose command line contains one of `needles` (ours excluded)."""
    wanted = [n for n in needles if n]
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            state = (entry / "stat").read_text()
        except OSError:
            continue
        if state[state.rfind(")") + 2 :].startswith("Z"):
            continue  # a zombie holds no resources; its parent reaps it
        line = cmdline(int(entry.name))
        if any(n in line for n in wanted):
            found.append((int(entry.name), line))
    return found


def shm_regions(pids: Iterable[int]) -> set[str]:
    """Python-backend shared-memory files mapped by, or named on the command line of, these processes."""
    names: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in (Path("/proc") / str(pid) / "maps").read_text().splitlines():
                path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
                if path.startswith(str(SHM_DIR) + "/" + TRITON_SHM_PREFIX):
                    names.add(Path(path.removesuffix(" (deleted)")).name)
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
