"""The seed client's request shape, numbering and results file; CLI flags and errors of client and load."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from tritonobs.cli import main
from tritonobs.cli.load_cmd import build_plan
from tritonobs.core.errors import UsageError
from tritonobs.load.client import (
    ClientRequest,
    ClientResult,
    format_request_line,
    plan_requests,
    results_file_text,
)
from tritonobs.load.profiles import Constant, Ramp, Step
from tritonobs.load.request import (
    PROMPT_TEMPLATE,
    SAMPLING_PARAMETERS,
    build_inputs,
    load_prompts,
    wrap_prompt,
)
from tritonobs.load.results import RequestRecord

REPO = Path(__file__).resolve().parent.parent


def test_prompt_template_is_the_seeds() -> None:
    assert wrap_prompt("Why?") == (
        "<s>[INST]<<SYS>>\nKeep short answers of no more than 100 sentences.\n<</SYS>>\n\nWhy?[/INST]"
    )
    assert PROMPT_TEMPLATE.count("{prompt}") == 1


def test_sampling_parameters_are_the_seeds() -> None:
    assert SAMPLING_PARAMETERS == {"temperature": "0.01", "top_p": "1.0", "top_k": 20, "max_tokens": 512}


def test_inputs_match_the_model_config() -> None:
    inputs = build_inputs(wrap_prompt("hi"), SAMPLING_PARAMETERS)
    tensors = [i._get_tensor() for i in inputs]
    assert [(t.name, t.datatype, list(t.shape)) for t in tensors] == [
        ("PROMPT", "BYTES", [1]),
        ("STREAM", "BOOL", [1]),
        ("SAMPLING_PARAMETERS", "BYTES", [1]),
    ]
    raw = [i._get_content() for i in inputs]
    # BYTES tensors are 4-byte little-endian length + bytes
    assert raw[0][4:].decode() == wrap_prompt("hi")
    assert np.frombuffer(raw[1], dtype=bool).tolist() == [True]
    assert json.loads(raw[2][4:]) == SAMPLING_PARAMETERS


def test_request_ids_follow_the_seed(tmp_path: Path) -> None:
    reqs = plan_requests(["a", "b", "c"], iterations=2, offset=100)
    assert [r.request_id for r in reqs] == [100, 101, 102, 103, 104, 105]
    assert reqs[4].prompt == wrap_prompt("b")


def test_load_prompts(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("first prompt\n\n  second prompt  \n")
    assert load_prompts(f) == ["first prompt", "second prompt"]
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(UsageError, match=r"empty.txt:1: the prompts file has no prompts"):
        load_prompts(tmp_path / "empty.txt")
    assert len(load_prompts(REPO / "prompts.txt")) == 20


def test_results_file_is_prompt_and_text_per_request() -> None:
    rec = RequestRecord("7", "u", "llama2", 0.0, 0.1, 0.5, 3, True)
    text = results_file_text([ClientResult(ClientRequest(7, wrap_prompt("Q")), rec, " the answer")])
    assert text == wrap_prompt("Q") + " the answer\n\n=========\n\n"


def test_request_line_shows_real_timings() -> None:
    rec = RequestRecord("3", "u", "mistral7b", 1.0, 1.25, 3.0, 100, True)
    assert format_request_line("mistral7b", 3, rec) == (
        "Model mistral7b - Request 3: time to first token 250.0 ms, latency 2000.0 ms, 100 tokens, 50.0 tokens/s"
    )
    bad = RequestRecord("4", "u", "mistral7b", 1.0, None, 1.5, 0, False, "UNAVAILABLE: gone")
    assert (
        format_request_line("mistral7b", 4, bad)
        == "Model mistral7b - Request 4: FAILED after 500.0 ms: UNAVAILABLE: gone"
    )


def _closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_client_unreachable_is_exit_3_naming_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"127.0.0.1:{_closed_port()}"
    results = tmp_path / "results.txt"
    code, _, err = _run_cli(
        [
            "client",
            "--model-name",
            "llama2",
            "-u",
            url,
            "--input-prompts",
            str(REPO / "prompts.txt"),
            "--results-file",
            str(results),
        ],
        capsys,
    )
    assert code == 3
    assert err.startswith(f"error: {url}: Triton gRPC endpoint not reachable")
    assert "Traceback" not in err
    assert not results.exists()  # nothing written


def test_client_model_name_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run_cli(["client"], capsys)
    assert code == 2 and "model" in err and "Traceback" not in err


def test_client_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run_cli(
        ["client", "--model-name", "m", "--input-prompts", str(tmp_path / "none.txt")], capsys
    )
    assert code == 2 and "cannot read the prompts file" in err
    code, _, err = _run_cli(
        ["client", "--model-name", "m", "--iterations", "0", "--input-prompts", str(REPO / "prompts.txt")],
        capsys,
    )
    assert code == 2 and "--iterations 0: must be at least 1" in err
    results = REPO / "prompts.txt" / "results.txt"  # under a file: never writable
    code, _, err = _run_cli(
        ["client", "--model-name", "m", "-u", "127.0.0.1:1", "--input-prompts", str(REPO / "prompts.txt"),
         "--results-file", str(results)],
        capsys,
    )
    assert code == 2  # before connecting (which would be exit 3)
    assert err == f"error: --results-file {results}: cannot write there ({REPO / 'prompts.txt'} is not a writable folder)\n"


def test_load_unreachable_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"127.0.0.1:{_closed_port()}"
    code, _, err = _run_cli(
        ["load", "--url", url, "--model", "llama2", "--rate", "5", "--duration", "1s"], capsys
    )
    assert code == 3
    assert err.startswith(f"error: {url}: Triton gRPC endpoint not reachable")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--rate", "5", "--concurrency", "2"], "give exactly one of --rate"),
        ([], "give exactly one of --rate"),
        (["--profile", "step", "--rate", "1:10"], "--rate '1:10' does not fit the step profile"),
        (["--rate", "5", "--duration", "soon"], "--duration: 'soon' is not a duration"),
        (["--rate", "5", "--duration", "0s"], "--duration 0s: must be more than 0"),
        (["--rate", "5", "--connections", "0"], "--connections 0: must be at least 1"),
        (["--rate", "5", "--max-requests", "0"], "--max-requests 0: must be at least 1"),
        (["--profile", "replay", "--rate", "/nonexistent/trace.csv"], "cannot read the trace"),
        # Output paths are checked before the run (whose results would otherwise be lost at the end).
        (["--rate", "5", "--out", str(REPO / "prompts.txt" / "run.csv")], "--out"),
        (["--rate", "5", "--plot", str(REPO)], f"--plot {REPO}: is a folder; name a file"),
    ],
)
def test_load_flag_errors_are_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_cli(["load", "--model", "llama2", "--url", "127.0.0.1:1", *argv], capsys)
    assert code == 2
    assert fragment in err


def test_build_plan_from_flags() -> None:
    plan = build_plan("step", "1:10:30s", None, "60s", None, 3, "5s")
    assert (plan.mode, plan.profile, plan.duration_s, plan.seed, plan.drain_s) == (
        "open",
        Step(1.0, ((30.0, 10.0),)),
        60.0,
        3,
        5.0,
    )
    plan = build_plan("ramp", None, "1:16:2m", "3m", 500, 0, "30s")
    assert (plan.mode, plan.profile, plan.duration_s, plan.max_requests) == (
        "closed",
        Ramp(1.0, 16.0, 120.0),
        180.0,
        500,
    )
    assert build_plan("constant", "2.5", None, "10", None, 0, "1s").profile == Constant(2.5)
