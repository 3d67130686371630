"""The production model.py on a real tritonserver 2.51, with the simulated engine (lab repository).

One server serves both models: llama2 with Triton's native histograms, mistral7b with histograms
emulated from counters (what a pre-24.08 Triton gets). Requests go over one bidirectional gRPC stream
like the seed client's. The exposition must carry the streamed truth: token counters equal the words
streamed, histogram counts equal the requests and inter-token gaps, gauges see the batch fill and drain.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritonobs.core import catalogue as cat
from tritonobs.lab.procs import group_pids
from tritonobs.lab.triton_process import TritonProcess
from tritonobs.models.lab_repository import build_lab_repository
from tritonobs.models.serving.sim_engine import count_tokens, token_text

from .triton_io import buckets, inputs, scrape, stream_requests, value

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODELS = ["llama2", "mistral7b"]
MAX_NUM_SEQS = 2
@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonProcess]:
    # time_scale 1: the A10G timing defaults at real speed, so a 40-token answer takes ~1 s and the
    # 0.5 s gauge refresh is sure to see the batch full.
    lab = build_lab_repository(
        REPO / "model_repository",
        tmp_path_factory.mktemp("lab") / "repository",
        sim={"time_scale": "1", "max_num_seqs": str(MAX_NUM_SEQS)},
    )
    config = lab / "mistral7b" / "config.pbtxt"
    native = 'key: "histogram_mode"\n  value {\n    string_value: "auto"'
    assert native in config.read_text()
    config.write_text(config.read_text().replace(native, native.replace("auto", "emulated")))
    process = TritonProcess(lab, MODELS)
    with process:
        pid = process.pid
        yield process
    # Gone after stop: the server, its stubs (same process group) and its shared-memory files.
    assert pid is not None and group_pids(pid) == [] and process.leftover_shm() == []


def test_streams_and_exports_engine_metrics(triton: TritonProcess) -> None:
    prompts = [f"<s>[INST] question number {i} about Triton [/INST]" for i in range(6)]
    sent = [(MODELS[i % 2], prompts[i], 40 + i, i != 5) for i in range(6)]  # the last one unstreamed

    gauges: dict[str, list[tuple[float, float]]] = {m: [] for m in MODELS}
    texts: dict[str, str] = {}
    worker = threading.Thread(target=lambda: texts.update(stream_requests(triton.grpc_target, sent)))
    worker.start()
    while worker.is_alive():  # sample the gauges while the batch fills and drains
        series = scrape(triton.metrics_url)
        for m in MODELS:
            gauges[m].append(
                (value(series, cat.VLLM_RUNNING.name, m), value(series, cat.VLLM_WAITING.name, m))
            )
        time.sleep(0.1)
    worker.join()

    for i, (_, prompt, max_tokens, _) in enumerate(sent):
        assert texts[str(i)] == "".join(token_text(prompt, k) for k in range(max_tokens))

    # Three requests per model on a batch of two: the third waits, and the gauges saw it.
    for m in MODELS:
        assert max(r for r, _ in gauges[m]) == MAX_NUM_SEQS
        assert max(w for _, w in gauges[m]) == 1

    deadline = time.monotonic() + 10  # gauges refresh every 0.5 s
    while True:
        series = scrape(triton.metrics_url)
        idle = all(
            value(series, g.name, m) == 0
            for g in (cat.VLLM_RUNNING, cat.VLLM_WAITING, cat.VLLM_KV_CACHE)
            for m in MODELS
        )
        if idle or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert idle, "gauges did not return to 0 after the requests finished"

    for m in MODELS:
        mine = [(prompt, n) for model, prompt, n, _ in sent if model == m]
        streamed = sum(count_tokens(texts[str(i)]) for i, s in enumerate(sent) if s[0] == m)
        assert value(series, cat.VLLM_GENERATION_TOKENS.name, m) == streamed == sum(n for _, n in mine)
        assert value(series, cat.VLLM_PROMPT_TOKENS.name, m) == sum(count_tokens(p) for p, _ in mine)
        assert value(series, cat.VLLM_TTFT.count, m) == len(mine)
        assert value(series, cat.VLLM_E2E.count, m) == len(mine)
        assert value(series, cat.VLLM_TPOT.count, m) == sum(
            n - 1 for _, n in mine
        )  # one per token after the first
        for hist in (cat.VLLM_TTFT, cat.VLLM_TPOT, cat.VLLM_E2E):
            counts = buckets(series, hist.name, m)
            ordered = [counts[le] for le in sorted(counts, key=float)]
            assert ordered == sorted(ordered) and counts["+Inf"] == value(series, hist.count, m)
            assert value(series, hist.sum, m) > 0

    # Emulated histograms (mistral7b) expose exactly the series of native ones (llama2).
    for hist in (cat.VLLM_TTFT, cat.VLLM_TPOT, cat.VLLM_E2E):
        assert sorted(buckets(series, hist.name, "llama2")) == sorted(buckets(series, hist.name, "mistral7b"))


def test_replica_leaves_nothing_behind(tmp_path: Path) -> None:
    lab = build_lab_repository(REPO / "model_repository", tmp_path / "lab", models=["llama2"])
    process = TritonProcess(lab, ["llama2"])
    with process:
        pid = process.pid
        assert pid is not None
        members = process.processes()
        assert len(members) >= 2  # the server and the model's Python backend stub
        assert process.leftover_shm(), "the python backend maps its shm region under our prefix"
    assert group_pids(pid) == [] and process.leftover_shm() == []
    assert not process.workdir.exists()


def test_cancelled_request_is_aborted_in_the_engine(triton: TritonProcess) -> None:
    """A client that goes away mid-answer frees its batch slot and KV cache; the server keeps serving."""
    before = scrape(triton.metrics_url)
    responses: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = grpcclient.InferenceServerClient(triton.grpc_target)
    try:
        client.start_stream(callback=lambda result, error: responses.put((result, error)))
        inputs = [grpcclient.InferInput("PROMPT", [1], "BYTES"), grpcclient.InferInput("STREAM", [1], "BOOL")]
        inputs[0].set_data_from_numpy(np.array([b"tell me a very long story"], dtype=np.object_))
        # Asked whole (STREAM false): tritonserver 2.51 can crash when a gRPC stream is cancelled while
        # responses are on their way (docs/facts.md); model.py checks for the cancellation at each step either way.
        inputs[1].set_data_from_numpy(np.array([False]))
        inputs.append(grpcclient.InferInput("SAMPLING_PARAMETERS", [1], "BYTES"))
        inputs[2].set_data_from_numpy(np.array([b'{"max_tokens": 1000}'], dtype=np.object_))
        client.async_stream_infer("llama2", inputs, request_id="long")
        deadline = time.monotonic() + 30  # generating, and a gauge refresh shows it in the batch
        while True:
            series = scrape(triton.metrics_url)
            generating = value(series, cat.VLLM_GENERATION_TOKENS.name, "llama2") - value(
                before, cat.VLLM_GENERATION_TOKENS.name, "llama2") >= 3
            if generating and value(series, cat.VLLM_RUNNING.name, "llama2") == 1:
                break
            assert time.monotonic() < deadline, "the request never showed in the batch"
            time.sleep(0.1)
        assert responses.empty()  # no answer yet: it is still generating
        assert value(scrape(triton.metrics_url), cat.VLLM_KV_CACHE.name, "llama2") > 0
        client.stop_stream(cancel_requests=True)
    finally:
        client.close()

    deadline = time.monotonic() + 10
    while True:
        series = scrape(triton.metrics_url)
        freed = (
            value(series, cat.VLLM_RUNNING.name, "llama2") == 0
            and value(series, cat.VLLM_KV_CACHE.name, "llama2") == 0
        )
        if freed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert freed, "the cancelled request still holds its batch slot or KV cache"
    generated = value(series, cat.VLLM_GENERATION_TOKENS.name, "llama2") - value(
        before, cat.VLLM_GENERATION_TOKENS.name, "llama2"
    )
    assert 3 <= generated < 1000

    # The server keeps serving, and a prompt the engine refuses gets an error, not a hang.
    errors: list[str] = []
    too_long = "word " * 5000
    texts = stream_requests(
        triton.grpc_target, [("llama2", too_long, 3, True), ("llama2", "still there?", 3, True)], errors
    )
    assert texts == {"0": "", "1": "".join(token_text("still there?", k) for k in range(3))}
    assert len(errors) == 1 and "prompt of 5000 tokens does not fit max_model_len 4096" in errors[0]


def test_a_request_cancelled_while_it_waits_leaves_the_queue_at_once(triton: TritonProcess) -> None:
    """A waiting request gets no engine update to notice its client at: model.py asks every 0.5 s meanwhile, so
    a client that gives up leaves vllm:num_requests_waiting at once, while the batch keeps running."""
    def gauges() -> tuple[float, float]:
        series = scrape(triton.metrics_url, patience=60)
        return value(series, cat.VLLM_RUNNING.name, "llama2"), value(series, cat.VLLM_WAITING.name, "llama2")

    def until(wanted: tuple[float, float], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (seen := gauges()) != wanted:
            assert time.monotonic() < deadline, f"{what}: running, waiting {seen}"
            time.sleep(0.1)

    events: list[list[str]] = [[], []]
    clients = [grpcclient.InferenceServerClient(triton.grpc_target) for _ in range(2)]
    try:
        for i, client in enumerate(clients):  # 0: the batch's two requests; 1: one more, which waits
            client.start_stream(callback=lambda result, error, i=i: events[i].append(str(error or result)))
        for n in range(MAX_NUM_SEQS):  # asked whole: cancelling them is safe on 2.51 (docs/facts.md)
            clients[0].async_stream_infer("llama2", inputs(f"story {n}", False, {"max_tokens": 4000}))
        until((MAX_NUM_SEQS, 0), "the batch never filled")
        clients[1].async_stream_infer("llama2", inputs("one more", False, {"max_tokens": 4000}))
        until((MAX_NUM_SEQS, 1), "the third request did not wait")
        clients[1].stop_stream(cancel_requests=True)
        # Out of the queue while the batch still runs: its answers (4000 tokens) take ~100 s, and without the
        # poll the request would wait for one of them to end. Expected within 1 s (a poll and a gauge refresh);
        # the timeout leaves room for this machine kind's stalls.
        until((MAX_NUM_SEQS, 0), "the cancelled request stayed in the queue", timeout=60)
        clients[0].stop_stream(cancel_requests=True)
        until((0, 0), "the cancelled batch still runs")
    finally:  # on a failure too: an answer left running would hold close() until it ends
        for client in clients:
            client.stop_stream(cancel_requests=True)
            client.close()
    # No answer reached either client: each stream's only event is its own cancellation.
    assert events == [["[StatusCode.CANCELLED] Locally cancelled by application!"]] * 2, events
    assert triton.running()
