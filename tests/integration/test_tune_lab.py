"""`tritonobs tune --lab` on the simulated engine: the knee moves with the engine's capacity.

The simulated replica answers 32 tokens in about a second, `max_num_seqs` at a time, so a request that finds
k requests ahead of it waits about k / max_num_seqs seconds: with a 2 s SLO the knee is near 12 in flight at a
batch of 4 and near 6 at a batch of 2. Steps of 4 s at 2..14 in flight: about a minute per run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO, cli_exit_code
from tritonobs.lab.procs import child_pids

pytestmark = pytest.mark.integration


def tune(tmp_path: Path, batch: int) -> dict:  # type: ignore[type-arg]
    spec = tmp_path / f"spec-{batch}.yaml"
    spec.write_text(EXAMPLE.read_text())
    out = tmp_path / f"tune-{batch}"
    args = ["tune", "--lab", "--spec", str(spec), "--model-repository", str(REPO / "model_repository"),
            "--levels", "2,4,6,8,10,12,14", "--step", "4s", "--sim-max-num-seqs", str(batch), "--out", str(out),
            "--write"]
    code = cli_exit_code(args)
    assert code == 0
    doc = json.loads((out / "tune.json").read_text())
    written = [line for line in spec.read_text().splitlines() if "waiting_requests:" in line]
    assert written == [f"    waiting_requests: {doc['recommended']:g}  # tritonobs tune: knee {doc['knee']['load']:.2f} "
                       f"in flight, {doc['knee']['tokens_per_s']:.0f} tok/s at TTFT p95 2s, headroom 0.2"]
    assert "# Requests waiting inside vLLM per pod" in spec.read_text()  # comments kept
    assert (out / "tune.png").read_bytes()[:4] == b"\x89PNG"
    return doc  # type: ignore[no-any-return]


def test_smaller_batch_lower_knee_and_target(tmp_path: Path) -> None:
    before = set(child_pids(os.getpid()))
    big, small = tune(tmp_path, 4), tune(tmp_path, 2)
    assert set(child_pids(os.getpid())) <= before  # the labs are gone
    assert big["knee"]["found"] == small["knee"]["found"] == "between"
    assert 9 <= big["knee"]["load"] <= 14  # ~12 expected (see the docstring)
    assert 4 <= small["knee"]["load"] <= 8  # ~6
    assert small["knee"]["load"] < big["knee"]["load"]
    assert small["recommended"] < big["recommended"]
