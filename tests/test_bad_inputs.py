"""Bad CLI inputs get the contract: one line `error: ...` on stderr, exit 2 (3 when the outside world fails,
naming the endpoint), no traceback, nothing written, quickly, and no network for what the input alone decides.

Every command that takes a file, a URL or a number is here, by category: files (missing, folder, symlink
loop, not a regular file, too big, not UTF-8 with its line, NUL bytes, empty), YAML limits (alias bomb, deep
nesting, too many values), numbers (negative, zero, NaN/inf, beyond int32 or any sensible size), durations,
URLs and HOST:PORT targets, AWS names, output paths. Spec-content errors are in test_spec_errors.py.

Cases run in-process through `tritonobs.cli.main` with the network cut (any socket or gRPC channel fails
the test). Adversarial parsing cases (bombs, deep nesting, a FIFO, /dev/zero) run in a subprocess with a
timeout and a memory check: a hang or a blow-up fails the test instead of blocking it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bad_input_cases import CASES, CLOSED_PORT, DASHBOARDS, REPO, Case
from tests.conftest import cli_exit_code

TIMEOUT_S = 20  # a hang fails the case instead of blocking the suite
MAX_SECONDS = 10  # the contract's bound for an in-process case
MAX_RSS_KIB = 1024 * 1024  # the contract's memory bound: 1 GiB
# `python -m tritonobs ARGS`, recording its own peak RSS at exit (RUSAGE_CHILDREN would mix in other tests' children).
_CHILD = ("import atexit, os, resource, runpy, sys\n"
          "atexit.register(lambda: open(os.environ['TOBS_RSS_FILE'], 'w').write("
          "str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
          "sys.argv = ['tritonobs', *sys.argv[1:]]\n"
          "runpy.run_module('tritonobs', run_name='__main__')\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _no_network(*_: object, **__: object) -> None:
    raise AssertionError("the network was contacted for an input that alone decides the outcome")


def _fill(text: str, tmp: Path, port: int) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{dash}", str(DASHBOARDS)).replace("{port}", str(port))


def _run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_exit_code(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_subprocess(argv: list[str], cwd: Path, env: dict[str, str], rss_file: Path) -> tuple[int, str, str]:
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, *argv], cwd=cwd, env={**env, "TOBS_RSS_FILE": str(rss_file)},
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tritonobs {' '.join(argv)[:200]} ran longer than {TIMEOUT_S}s")
    peak_kib = int(rss_file.read_text())
    assert peak_kib < MAX_RSS_KIB, f"tritonobs used {peak_kib // 1024} MiB"
    return done.returncode, done.stdout, done.stderr


def test_every_case_has_a_unique_id() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    if case.id == "spec-dev-zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    tmp = tmp_path / "work"
    tmp.mkdir()
    port = CLOSED_PORT[0] = _closed_port()
    for make in case.files:
        make(tmp)
    argv = [_fill(a, tmp, port) for a in case.argv]
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "GRAFANA_TOKEN": "", **case.env}
    before = _snapshot(tmp)
    monkeypatch.chdir(tmp)
    started = time.monotonic()
    if case.adversarial:
        code, out, err = _run_subprocess(argv, tmp, {**env, "PYTHONPATH": str(REPO)}, tmp_path / "rss")
    else:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        if not case.network:
            import tritonclient.grpc.aio

            monkeypatch.setattr(socket.socket, "connect", _no_network)
            monkeypatch.setattr(socket, "create_connection", _no_network)
            monkeypatch.setattr(socket, "getaddrinfo", _no_network)
            monkeypatch.setattr(tritonclient.grpc.aio.InferenceServerClient, "__init__", _no_network)
        code, out, err = _run_in_process(argv, capsys)
    elapsed = time.monotonic() - started

    assert "Traceback" not in out + err
    lines = err.splitlines()
    expected = _fill(case.line, tmp, port)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if expected.startswith("re:"):
        assert re.fullmatch(expected[3:], lines[0].removeprefix("error: ")), lines[0]
    else:
        assert lines[0] == f"error: {expected}"
    assert code == case.code
    assert _snapshot(tmp) == before, "nothing may be written, moved or deleted"
    assert elapsed < (TIMEOUT_S if case.adversarial else MAX_SECONDS)
    assert "secret-token-do-not-print" not in out + err
