"""model.py on a real vLLM: the lab's tritonserver 2.51 running vLLM's CPU build (V1 engine) on a tiny Llama.

This is the proof that the default scaling signal comes from a real engine: under 16 concurrent requests with
max_num_seqs 4, vLLM's own scheduler makes 12 wait, and `vllm:num_requests_waiting` says so (through Triton's
custom metrics, into the lab's Prometheus and the recording rule the HPA reads), then returns to 0.
Needs the vLLM venv (`make vllm`, which `make test` runs first); without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tritonclient.grpc as grpcclient

from tritonobs.core import catalogue as cat
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import resolve
from tritonobs.core.signals import SIGNALS
from tritonobs.core.spec_loader import load_spec
from tritonobs.lab import procs
from tritonobs.lab.engine import LabEngine
from tritonobs.lab.lab import Lab
from tritonobs.lab.observe import wait_scraped
from tritonobs.lab.tiny_model import TinyLlama, build_tiny_llama
from tritonobs.prom.client import PrometheusClient

from .triton_io import has, inputs, scrape, stream_requests, value

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = "llama2"
MAX_NUM_SEQS = 4
CONTEXT = 65536
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # The tiny model streams thousands of tokens a second here, but this machine kind can stall the whole lab
    # for 20-45 s at times (a scrape or a request's admission took that long): a context of 64k tokens (64 MB of
    # KV cache each) keeps a request in its batch slot well past such a stall, so the batch is still full when
    # the test looks. The repository copy raises max_model_len to match.
    tiny = build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", TinyLlama(max_position_embeddings=CONTEXT))
    repository = tmp_path_factory.mktemp("repo") / "model_repository"
    shutil.copytree(REPO / "model_repository", repository)
    config = repository / MODEL / "config.pbtxt"
    config.write_text(config.read_text().replace('string_value: "4096"', f'string_value: "{CONTEXT}"'))
    stack = resolve(load_spec(REPO / "tritonobs.yaml"))
    engine = LabEngine.vllm(tiny, max_num_seqs=MAX_NUM_SEQS)
    running = Lab(stack, replicas=1, model_repository=repository, models=[MODEL], engine=engine, backfill_seconds=0)
    with running:
        group = running.targets[0].pgid
        # file_sd reaches Prometheus' scrape loop within ~5 s: wait until it scrapes the replica.
        wait_scraped(PrometheusClient(running.prometheus_url), running.stack, [r.pod for r in running.targets])
        yield running
    # Nothing left: the server, its stub, vLLM's engine-core and worker processes (one process group).
    assert group is not None and procs.group_pids(group) == []


def metrics(lab: Lab) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    server = lab.targets[0].process
    assert server.running(), f"tritonserver exited with code {server.exit_code()}: {server.log_tail()}"
    try:
        return scrape(server.metrics_url, patience=60)
    except OSError as e:  # say why when the server died during the scrapes
        raise AssertionError(f"{e}; tritonserver exit code {server.exit_code()}: {server.log_tail()}") from e


def wait_for(lab: Lab, check: Any, what: str | Callable[[], str], timeout: float = 120.0) -> dict[Any, float]:
    deadline = time.monotonic() + timeout
    while True:
        series = metrics(lab)
        if check(series):
            return series
        shown = {g.name: value(series, g.name, MODEL) for g in (cat.VLLM_RUNNING, cat.VLLM_WAITING, cat.VLLM_KV_CACHE)
                 if has(series, g.name, MODEL)}
        assert time.monotonic() < deadline, f"{what if isinstance(what, str) else what()}: {shown}"
        time.sleep(0.2)


def test_streaming_and_non_streaming_answers_in_the_blueprints_style(lab: Lab) -> None:
    target = lab.targets[0].grpc_url
    seen: dict[str, list[str]] = {}
    prompt = "<s>[INST] What is the capital of France? [/INST]"
    answers = stream_requests(target, [(MODEL, prompt, 12, True), (MODEL, prompt, 12, False)], responses_seen=seen,
                              extra_sampling={"temperature": 0})
    streamed, whole = seen["0"], seen["1"]
    # Blueprint style (config.pbtxt defaults): every response is the prompt plus the text so far.
    assert len(streamed) >= 2 and all(r.startswith(prompt) for r in streamed)
    assert all(b.startswith(a) for a, b in zip(streamed, streamed[1:], strict=False))
    assert len(whole) == 1 and whole[0].startswith(prompt)
    # Greedy decoding is deterministic: the streamed and the whole answer are the same text.
    assert answers["0"] == answers["1"] and len(answers["0"]) > 0


def test_waiting_rises_under_load_and_returns_to_zero(lab: Lab) -> None:
    """Four long answers hold the batch and twelve more requests wait in vLLM's queue: the gauge says 12, and so
    does Prometheus through the default signal's per-pod expression. Once the long ones are cancelled the twelve
    are answered, and every gauge returns to 0.

    The long answers (64k tokens) hold their slots for minutes, so the queue stays at 12 until the test and
    Prometheus have seen it: on this machine kind a sleeping process has woken 33 s late while vLLM computes,
    long enough for a load of short answers to come and go between two looks (docs/model-code.md)."""
    before = metrics(lab)
    assert value(before, cat.VLLM_WAITING.name, MODEL) == 0  # idle, and readable: the gauge exists
    long = {"max_tokens": CONTEXT - 100, "ignore_eos": True, "temperature": 0}
    holder_errors: list[str] = []
    holders = grpcclient.InferenceServerClient(lab.targets[0].grpc_url)
    answers: dict[str, str] = {}
    try:
        holders.start_stream(callback=lambda result, error: holder_errors.append(str(error or result)))
        for i in range(MAX_NUM_SEQS):
            holders.async_stream_infer(MODEL, inputs(f"story {i}", False, long), request_id=f"long-{i}")
        wait_for(lab, lambda s: value(s, cat.VLLM_RUNNING.name, MODEL) == MAX_NUM_SEQS,
                 lambda: f"the batch never filled ({holder_errors})")
        # Twelve streamed answers of 300 tokens (no early end of sequence) on a stream of their own.
        sent = [(MODEL, f"<s>[INST] question {i}: tell me about queues [/INST]", 300, True) for i in range(12)]
        queued = threading.Thread(target=lambda: answers.update(
            stream_requests(lab.targets[0].grpc_url, sent, extra_sampling={"ignore_eos": True})))
        queued.start()
        full = wait_for(lab, lambda s: value(s, cat.VLLM_WAITING.name, MODEL) == 12, "the twelve did not all wait")
        all_waiting = time.monotonic()
        assert value(full, cat.VLLM_RUNNING.name, MODEL) == MAX_NUM_SEQS  # vLLM's batch limit, as it reports it
        assert value(full, cat.VLLM_KV_CACHE.name, MODEL) > 0  # the running sequences hold KV-cache blocks

        # The same truth reaches Prometheus, where the default signal's per-pod expression (what the adapter
        # rule and the recording rule evaluate) sees the queue.
        prom = PrometheusClient(lab.prometheus_url, timeout=30)
        signal = SIGNALS["waiting_requests"].per_pod(lab.stack.signal_matchers(lab.stack.signals[0]), "4s", ["pod"])
        deadline = time.monotonic() + 120
        seen: list[Any] = []
        failed: ExternalError | None = None
        while not (seen and seen[0].value == 12) and time.monotonic() < deadline:
            try:  # a query can time out in one of this machine's stalls: ask again until the deadline
                seen, failed = prom.query(signal), None
            except ExternalError as e:
                failed = e
            time.sleep(1)
        assert seen and seen[0].value == 12 and seen[0].labels["pod"] == lab.targets[0].pod, (seen, failed)

        waited = time.monotonic() - all_waiting  # each of the twelve waited at least this long
        holders.stop_stream(cancel_requests=True)  # asked whole: safe to cancel on 2.51 (next test)
        queued.join(timeout=300)
        assert not queued.is_alive() and set(answers) == {str(i) for i in range(12)} and all(answers.values())
        # No long answer came back: the stream's only event is its own cancellation.
        assert holder_errors == ["[StatusCode.CANCELLED] Locally cancelled by application!"], holder_errors
    finally:  # on a failure too: a 64k-token answer left running would hold close() for minutes
        holders.stop_stream(cancel_requests=True)
        holders.close()

    after = wait_for(lab, lambda s: all(value(s, g.name, MODEL) == 0 for g in
                                        (cat.VLLM_RUNNING, cat.VLLM_WAITING, cat.VLLM_KV_CACHE)),
                     "the gauges did not return to 0 after the load")
    # All sixteen were scheduled (queue time) and produced a first token (TTFT); only the twelve answered have an
    # end-to-end latency: a cancelled request never ends.
    grew = {h.name: value(after, h.count, MODEL) - value(before, h.count, MODEL)
            for h in (cat.VLLM_TTFT, cat.VLLM_QUEUE_TIME, cat.VLLM_E2E)}
    assert grew == {cat.VLLM_TTFT.name: 16, cat.VLLM_QUEUE_TIME.name: 16, cat.VLLM_E2E.name: 12}, grew
    assert value(after, cat.VLLM_TPOT.count, MODEL) > value(before, cat.VLLM_TPOT.count, MODEL)
    # The twelve waited for a batch slot, and vLLM's queue time shows it (the queue Triton cannot see).
    queued = value(after, cat.VLLM_QUEUE_TIME.sum, MODEL) - value(before, cat.VLLM_QUEUE_TIME.sum, MODEL)
    assert queued >= 12 * waited > 0, (queued, waited)


def test_a_bad_sampling_key_is_invalid_arg_naming_it(lab: Lab) -> None:
    """Over gRPC streaming Triton passes only the message; its HTTP generate endpoint also shows the status
    code model.py chose (INVALID_ARG -> 400, where an engine failure would be INTERNAL -> 500)."""
    url = f"{lab.targets[0].http_url}/v2/models/{MODEL}/generate"
    answers = {}
    for sampling in ({"best_of": 2}, {"use_beam_search": True}, {"temperature": -1}, {"max_tokens": 2}):
        body = json.dumps({"PROMPT": "hi", "STREAM": False, "SAMPLING_PARAMETERS": json.dumps(sampling)}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with _DIRECT.open(request, timeout=60) as response:
                answers[next(iter(sampling))] = (response.status, json.loads(response.read())["TEXT"])
        except urllib.error.HTTPError as e:
            answers[next(iter(sampling))] = (e.code, json.loads(e.read())["error"])
    assert answers["best_of"] == (400, "SAMPLING_PARAMETERS: best_of is not a sampling parameter of vLLM 0.32.0")
    assert answers["use_beam_search"][0] == 400 and "use_beam_search is not a sampling parameter" in answers[
        "use_beam_search"][1]
    assert answers["temperature"][0] == 400 and "temperature must be non-negative" in answers["temperature"][1]
    assert answers["max_tokens"][0] == 200 and answers["max_tokens"][1].startswith("hi")  # prompt echoed


def test_a_cancelled_stream_frees_its_slot(lab: Lab) -> None:
    """Four long answers fill the batch and two more wait. Cancelling the last one takes it out of the queue
    while the batch runs on; cancelling a running one lets the fifth in at once; cancelling the rest empties
    the engine.

    The answers are asked for whole (STREAM false): tritonserver 2.51's gRPC frontend can crash (SIGSEGV)
    when a stream is cancelled while responses are on their way (server#7840, fixed in 2.53; docs/facts.md),
    which token streaming makes likely. Asked whole, the only response is the one model.py sends when it
    sees the cancellation, the same check (`is_cancelled()` at each engine step) a streamed request takes."""
    long = {"max_tokens": CONTEXT - 100, "ignore_eos": True, "temperature": 0}
    clients = [grpcclient.InferenceServerClient(lab.targets[0].grpc_url) for _ in range(6)]
    errors: list[list[str]] = [[] for _ in range(6)]
    answered = [0] * 6

    def collect(i: int) -> Any:
        def callback(result: Any, error: Any) -> None:
            if error is not None:
                errors[i].append(str(error))
            else:
                answered[i] += 1
        return callback

    try:
        for i, client in enumerate(clients):
            client.start_stream(callback=collect(i))
            client.async_stream_infer(MODEL, inputs(f"story {i}", False, long), request_id=f"long-{i}")
            if i == 3:
                wait_for(lab, lambda s: value(s, cat.VLLM_RUNNING.name, MODEL) == 4,
                         lambda: f"the batch never filled (errors {errors}, answers {answered})")
        wait_for(lab, lambda s: value(s, cat.VLLM_WAITING.name, MODEL) == 2,
                 lambda: f"the fifth and sixth requests did not wait (errors {errors}, answers {answered})")
        # A waiting request gets no engine update: model.py asks for its client's cancellation every 0.5 s.
        clients[5].stop_stream(cancel_requests=True)
        wait_for(lab, lambda s: value(s, cat.VLLM_RUNNING.name, MODEL) == 4
                 and value(s, cat.VLLM_WAITING.name, MODEL) == 1, "the cancelled sixth request stayed in the queue")
        clients[0].stop_stream(cancel_requests=True)
        # The fifth request takes the freed slot: four run again and none waits, long before any answer ends.
        wait_for(lab, lambda s: value(s, cat.VLLM_RUNNING.name, MODEL) == 4
                 and value(s, cat.VLLM_WAITING.name, MODEL) == 0, "the cancelled request kept its slot")
        for client in clients[1:5]:
            client.stop_stream(cancel_requests=True)
        wait_for(lab, lambda s: value(s, cat.VLLM_RUNNING.name, MODEL) == 0
                 and value(s, cat.VLLM_WAITING.name, MODEL) == 0
                 and value(s, cat.VLLM_KV_CACHE.name, MODEL) == 0, "cancelled requests still hold the engine")
        assert answered == [0] * 6, answered  # every one was cancelled before its answer was complete
    finally:  # on a failure too: a 64k-token answer left running would hold close() for minutes
        for client in clients:
            client.stop_stream(cancel_requests=True)
            client.close()
    server = lab.targets[0].process
    assert server.running(), f"tritonserver exited with code {server.exit_code()}"


def test_engine_processes_do_not_outlive_a_crashed_stub(lab: Lab) -> None:
    """SIGKILL the Python stub (a crash): vLLM's engine core must not stay behind holding its memory.
    Last in this module: the model is gone afterwards."""
    replica = lab.targets[0]
    assert replica.pgid is not None
    members = {pid: procs.cmdline(pid) for pid in procs.group_pids(replica.pgid)}
    stub = [pid for pid, cmd in members.items() if "triton_python_backend_stub" in cmd]
    assert len(stub) == 1, members
    engine = procs.child_pids(stub[0])
    assert any("python" in procs.cmdline(pid) or "VLLM" in procs.cmdline(pid) for pid in engine), engine
    os.kill(stub[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while any(procs.alive(pid) for pid in engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(procs.alive(pid) for pid in engine), "engine processes outlived the stub"
