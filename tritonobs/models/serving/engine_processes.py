"""Engine processes (vLLM's engine core and workers) must not outlive the Python stub that started them.

Shipped beside model.py (one source: model_repository/<model>/1/ links here), which loads it at initialize.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Runs as its own process: reads "pid starttime" lines, and when its stdin closes (the stub ended, cleanly
# or by a crash) kills each listed process that is still the same process (start time checked).
_WATCHDOG = r"""
import os, signal, sys
listed = [line.split() for line in sys.stdin if line.strip()]
for pid, start in listed:
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[19] == start:
                os.kill(int(pid), signal.SIGKILL)
    except (OSError, IndexError, ValueError):
        pass
"""


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant of `root`, from /proc."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        starts[int(entry)] = fields[19]
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append((pid, starts[pid]))
        todo += children.get(pid, [])
    return found


class EngineWatchdog:
    """Engine processes (vLLM's engine core, workers) must not outlive this stub, even when it crashes:
    a leftover keeps its GPU memory and the next load fails. A small process outlives us to reap them."""

    def __init__(self, pids: list[tuple[int, str]]) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        python = sys.executable if os.path.basename(sys.executable or "").startswith("python") else None
        python = python or shutil.which("python3")
        if not pids or python is None:
            return
        self._proc = subprocess.Popen([python, "-c", _WATCHDOG], stdin=subprocess.PIPE, close_fds=True)
        assert self._proc.stdin is not None
        self._proc.stdin.write("".join(f"{pid} {start}\n" for pid, start in pids).encode())
        self._proc.stdin.flush()

    def close(self, timeout: float = 10.0) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
