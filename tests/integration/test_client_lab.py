"""The seed client and the load generator against real Triton replicas serving the lab repository.

Lab repository = the production model.py and config.pbtxt with the simulated engine (one whitespace word
per token, exactly max_tokens tokens per request) at 1/20 of real time. Token counts are checked against
what each server says it streamed: its own `vllm:generation_tokens_total` counter.
"""

from __future__ import annotations

import asyncio
import random
import re
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tritonobs.cli import main
from tritonobs.core import catalogue
from tritonobs.lab.triton_process import TritonProcess
from tritonobs.load.generator import LoadGenerator, LoadPlan
from tritonobs.load.plot import plot_run
from tritonobs.load.profiles import Constant
from tritonobs.load.request import sampling_parameters, wrap_prompt
from tritonobs.load.results import RunResult, read_records_csv, write_run
from tritonobs.load.schedule import poisson_arrivals
from tritonobs.models.lab_repository import build_lab_repository
from tritonobs.models.serving.sim_engine import count_tokens

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = "llama2"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def lab_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("lab") / "repository"
    return build_lab_repository(REPO / "model_repository", dst, sim={"time_scale": "0.05"}, models=[MODEL])


@pytest.fixture(scope="module")
def replicas(lab_repository: Path) -> Iterator[list[TritonProcess]]:
    with ExitStack() as stack:  # every replica started is stopped, also when a later one fails to start
        started = [stack.enter_context(TritonProcess(lab_repository, [MODEL])) for _ in range(2)]
        yield started
    assert all(not r.running() and not r.processes() for r in started)


def generated_tokens(replica: TritonProcess) -> float:
    """The server's own count of tokens it generated (all models)."""
    with _DIRECT.open(replica.metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    name = catalogue.VLLM_GENERATION_TOKENS.name
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


_LINE = re.compile(
    r"^Model llama2 - Request (?P<id>\d+): time to first token (?P<ttft>[\d.]+) ms, "
    r"latency (?P<lat>[\d.]+) ms, (?P<tokens>\d+) tokens, (?P<tps>[\d.]+) tokens/s$"
)


def test_client_command_times_each_streamed_request(
    replicas: list[TritonProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replica = replicas[0]
    prompts = ["What is Triton?", "Name three planets.", "Why stream tokens?"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    results = tmp_path / "results.txt"
    before = generated_tokens(replica)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "client",
                "--model-name",
                MODEL,
                "-u",
                replica.grpc_target,
                "--input-prompts",
                str(tmp_path / "prompts.txt"),
                "--results-file",
                str(results),
                "--iterations",
                "2",
                "--offset",
                "10",
                "--max-tokens",
                "12",
            ]
        )
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out

    lines = {int(m["id"]): m for line in out.splitlines() if (m := _LINE.match(line))}
    assert sorted(lines) == list(range(10, 16))  # the seed's ids: offset + len(prompts) * iteration + i
    for m in lines.values():
        assert 0 < float(m["ttft"]) < float(m["lat"])  # first token strictly before the end, both real
        assert int(m["tokens"]) == 12
    assert "6 of 6 requests ok" in out and "time to first token  p50" in out

    # what the server generated is what the client counted
    assert generated_tokens(replica) - before == 6 * 12

    sections = results.read_text().split("\n=========\n\n")
    assert sections[-1] == "" and len(sections) == 7
    for i, section in enumerate(sections[:-1]):
        prompt = wrap_prompt(prompts[i % 3])
        assert section.startswith(prompt)
        answer = section[len(prompt) :].rstrip("\n")
        assert count_tokens(answer) == 12  # the streamed deltas joined back into the full answer


def _run_with_watch(gen: LoadGenerator) -> tuple[RunResult, dict[str, int]]:
    """Run the generator while another coroutine reads in-flight per target, as the lab's sampler does."""
    peak: dict[str, int] = {}

    async def go() -> RunResult:
        task = asyncio.create_task(gen.run())
        while not task.done():
            for url, n in gen.inflight_by_target().items():
                peak[url] = max(peak.get(url, 0), n)
            await asyncio.sleep(0.005)
        return await task

    return asyncio.run(go()), peak


def test_closed_loop_over_two_replicas_counts_what_each_server_streamed(
    replicas: list[TritonProcess],
) -> None:
    urls = [r.grpc_target for r in replicas]
    before = {r.grpc_target: generated_tokens(r) for r in replicas}
    plan = LoadPlan("closed", Constant(4.0), duration_s=60.0, max_requests=24, drain_s=30.0)
    gen = LoadGenerator(
        urls, MODEL, plan, sampling=sampling_parameters(max_tokens=6), connections_per_target=2
    )
    result, peak = _run_with_watch(gen)

    assert len(result.records) == 24 and all(r.ok for r in result.records), result.summary().errors
    for r in result.records:
        assert r.tokens == 6
        assert r.ttft_s is not None and 0 < r.ttft_s < r.latency_s
    per_url = {u: [r for r in result.records if r.url == u] for u in urls}
    assert {u: len(rs) for u, rs in per_url.items()} == {u: 12 for u in urls}  # round-robin
    for replica in replicas:
        streamed = generated_tokens(replica) - before[replica.grpc_target]
        assert streamed == sum(r.tokens for r in per_url[replica.grpc_target]) == 72
    assert set(peak) == set(urls) and all(n >= 1 for n in peak.values())
    assert sum(peak.values()) <= 2 * 4  # each target's peak is at most the whole concurrency
    assert max(peak.values()) <= 4
    assert gen.inflight_by_target() == {u: 0 for u in sorted(urls)}


def test_open_loop_sends_the_schedule_and_writes_its_files(
    replicas: list[TritonProcess], tmp_path: Path
) -> None:
    plan = LoadPlan("open", Constant(30.0), duration_s=1.0, seed=1, drain_s=30.0)
    gen = LoadGenerator([replicas[1].grpc_target], MODEL, plan, sampling=sampling_parameters(max_tokens=4))
    result, _ = _run_with_watch(gen)
    expected = list(poisson_arrivals(plan.profile, 1.0, random.Random(1)))
    assert [r.scheduled_s for r in result.records] == expected
    assert all(r.ok and r.tokens == 4 for r in result.records)
    # a request is never sent before its scheduled time
    assert all(r.scheduled_s is not None and r.start_s >= r.scheduled_s for r in result.records)
    write_run(result, tmp_path / "run.csv")
    assert [r.request_id for r in read_records_csv(tmp_path / "run.csv")] == [
        r.request_id for r in result.records
    ]
    plot_run(result, tmp_path / "run.png", plan.profile)
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"


def test_a_replica_going_away_drains_then_rejects_and_the_run_ends(lab_repository: Path) -> None:
    """SIGTERM, as a pod gets on scale-down: Triton finishes what it holds and rejects what comes after."""
    with TritonProcess(lab_repository, [MODEL]) as doomed:
        plan = LoadPlan("closed", Constant(3.0), duration_s=60.0, max_requests=12, drain_s=30.0)
        # 400 tokens at 1/20 real time (~0.5 s): the requests are mid-stream when the server is told to stop
        gen = LoadGenerator([doomed.grpc_target], MODEL, plan, sampling=sampling_parameters(max_tokens=400))

        async def go() -> RunResult:
            task = asyncio.create_task(gen.run())
            # stop once all three requests are streaming tokens, not merely sent
            while gen.stats().streaming < 3:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(doomed.stop)
            return await task

        result = asyncio.run(go())
    records = sorted(result.records, key=lambda r: int(r.request_id))
    assert len(records) == 12
    assert [r.ok for r in records] == [True] * 3 + [False] * 9
    assert all(r.tokens == 400 for r in records[:3])
    assert all(r.tokens == 0 and r.error and r.first_token_s is None for r in records[3:])
    assert gen.inflight_by_target() == {doomed.grpc_target: 0}
