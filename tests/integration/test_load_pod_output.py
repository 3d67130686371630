"""What a load Job pod prints (`verify --load-only --shard I/N`) against a real Triton (the lab's simulated
engine): its progress lines and its client records framed among them, which `verify` reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, cli_exit_code
from tritonobs.lab.procs import group_pids
from tritonobs.lab.triton_process import TritonProcess
from tritonobs.load.framing import PREFIX, parse_log
from tritonobs.models.lab_repository import build_lab_repository

pytestmark = pytest.mark.integration


def test_a_load_pod_frames_its_records_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = build_lab_repository(REPO / "model_repository", tmp_path / "repository", models=["llama2"])
    process = TritonProcess(repo, ["llama2"])
    with process:
        pid = process.pid
        args = ["verify", "--load-only", "--url", process.grpc_target, "--drive", "llama2", "--profile", "constant",
                "--concurrency", "3", "--duration", "3s", "--max-tokens", "8", "--shard", "1/2", "--interval", "1"]
        code = cli_exit_code(args)
    assert pid is not None and group_pids(pid) == []
    assert code == 0
    stdout = capsys.readouterr().out
    assert any(line.startswith("t=") for line in stdout.splitlines())  # progress noise around the records
    assert sum(line.startswith(PREFIX + "run ") for line in stdout.splitlines()) == 1
    parsed = parse_log(stdout)
    assert parsed.problems == []
    assert parsed.run is not None
    assert parsed.run.profile == "constant 3 (share 2 of 2)"  # share 1 of 3 in flight: floor((3+2-1-1)/2) = 1
    ok = [r for r in parsed.run.records if r.ok]
    assert ok and all(r.tokens == 8 and r.ttft_s is not None and r.ttft_s > 0 for r in ok)
    assert stdout.rstrip().endswith(f"share 2 of 2: {len(ok)} requests ok, {len(parsed.run.records) - len(ok)} failed")
