"""`tritonobs load --processes 2` against a real Triton (the lab's simulated engine): two client processes,
each one share of the concurrency, merged into one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_exit_code
from tritonobs.lab.procs import group_pids
from tritonobs.lab.triton_process import TritonProcess
from tritonobs.models.lab_repository import build_lab_repository

pytestmark = pytest.mark.integration


def test_two_processes_merge_into_one_run(tmp_path: Path) -> None:
    repo = build_lab_repository(REPO / "model_repository", tmp_path / "repository", models=["llama2"])
    out = tmp_path / "run.json"
    process = TritonProcess(repo, ["llama2"])
    with process:
        pid = process.pid
        args = ["load", "--url", process.grpc_target, "--model", "llama2", "--concurrency", "4",
                "--duration", "3s", "--max-tokens", "8", "--processes", "2", "--out", str(out)]
        code = cli_exit_code(args)
    assert pid is not None and group_pids(pid) == []
    assert code == 0
    doc = json.loads(out.read_text())
    shares = {r["request_id"].split("-")[0] for r in doc["requests"]}
    assert shares == {"0", "1"}  # both processes sent
    ok = [r for r in doc["requests"] if r["ok"]]
    assert ok and all(r["tokens"] == 8 for r in ok)
    assert doc["profile"] == "constant 4" and doc["mode"] == "closed"
    assert doc["summary"]["ok"] == len(ok)
