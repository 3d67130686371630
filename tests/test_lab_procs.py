"""Process plumbing of the lab on real processes: /proc readings, and `lab down` after a daemon that died.

A daemon killed with SIGKILL (or by the OOM killer) leaves its lab behind: every lab child runs in its own
session, so nothing reaps them. `daemon.stop` must still find them by the run directory their command line
names, kill exactly the lab's programs, and remove the replicas' shared-memory files.
A replica restarted in place reinstalls its backend while the killed server's stub may still be running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tritonobs.lab import daemon, procs
from tritonobs.lab.triton_process import install_file


def _sleeper(program: Path, *args: str) -> subprocess.Popen[bytes]:
    """A sleeping Python started under another name (a symlink) with `args` on its command line, in its
    own session like every lab child."""
    program.parent.mkdir(parents=True, exist_ok=True)
    program.symlink_to(Path(sys.executable).resolve())
    return subprocess.Popen([str(program), "-c", "import time; time.sleep(60)", *args], start_new_session=True)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    children: list[subprocess.Popen[bytes]] = []
    yield children
    for child in children:  # whatever the test left running
        if child.poll() is None:
            child.kill()
        child.wait(timeout=5)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_parent_children_and_groups(started: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    child = _sleeper(tmp_path / "a (b) c")  # parentheses and spaces in the command name
    started.append(child)
    assert procs.parent_and_group(child.pid) == (os.getpid(), child.pid)  # its own process group
    assert child.pid in procs.child_pids(os.getpid())
    assert procs.group_pids(child.pid) == [child.pid]
    assert procs.alive(child.pid)
    child.kill()
    # A zombie until reaped (nothing waits for it yet): not alive, though the pid still exists.
    assert _until(lambda: not procs.alive(child.pid))
    assert procs.parent_and_group(child.pid) is not None
    child.wait()
    assert procs.parent_and_group(child.pid) is None and not procs.alive(child.pid)
    assert not procs.alive(None) and not procs.alive(0)


def test_lab_down_after_a_dead_daemon_kills_its_leftovers(started: list[subprocess.Popen[bytes]],
                                                         tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    lab_dir = run_dir / daemon.LAB_SUBDIR
    dead = _dead_pid()
    (run_dir).mkdir()
    (run_dir / daemon.STATE_FILE).write_text(json.dumps({"status": "ready", "pid": dead}))
    server = _sleeper(lab_dir / "replicas" / "pod-0" / "tritonserver")
    prometheus = _sleeper(lab_dir / "prometheus", f"--config.file={lab_dir / 'prometheus.yml'}")
    tail = _sleeper(tmp_path / "tail", str(lab_dir / "lab.log"))  # names the lab dir, but is not ours
    started += [server, prometheus, tail]
    shm = procs.SHM_DIR / f"{procs.TRITON_SHM_PREFIX}tobs{dead}_8000_test"
    other = procs.SHM_DIR / f"{procs.TRITON_SHM_PREFIX}tobs{dead}0_8000_test"  # another daemon's pid
    shm.write_bytes(b"")
    other.write_bytes(b"")
    try:
        assert daemon.running_pid(run_dir) is None
        assert daemon.stop(run_dir) is True  # something was left running
        for child in (server, prometheus):
            assert child.wait(timeout=5) == -signal.SIGKILL
        assert tail.poll() is None  # left alone
        assert not shm.exists() and other.exists()
        assert daemon.stop(run_dir) is False  # nothing left
        # A state file whose pid now belongs to an unrelated live process: never signalled.
        (run_dir / daemon.STATE_FILE).write_text(json.dumps({"status": "ready", "pid": tail.pid}))
        assert daemon.running_pid(run_dir) is None
        assert daemon.stop(run_dir) is False and tail.poll() is None
    finally:
        for path in (shm, other):
            path.unlink(missing_ok=True)


def test_reinstalling_a_running_executable_leaves_the_running_copy_alone(
        started: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    source = tmp_path / "new" / "stub"
    source.parent.mkdir()
    source.write_bytes(Path("/bin/sleep").read_bytes())
    source.chmod(0o755)
    target = tmp_path / "backends" / "stub"
    target.parent.mkdir()
    install_file(source, target)
    running = subprocess.Popen([str(target), "60"])
    started.append(running)
    assert _until(lambda: os.path.realpath(f"/proc/{running.pid}/exe") == str(target))
    with pytest.raises(OSError) as busy:  # what a plain copy over it does (ETXTBSY)
        target.open("wb")
    assert busy.value.errno == 26
    source.write_bytes(source.read_bytes() + b"\0")  # a different build
    install_file(source, target)
    assert target.read_bytes() == source.read_bytes() and os.access(target, os.X_OK)
    assert running.poll() is None
    assert not list(target.parent.glob(".*partial"))
