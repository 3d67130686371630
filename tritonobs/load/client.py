"""The seed's `triton-client.py`, done right: every prompt streamed, each request timed around the real call.

Same request as the seed (template, sampling parameters, PROMPT/STREAM/SAMPLING_PARAMETERS inputs, ids
`offset + len(prompts) * iteration + i`, all requests in flight together, results file of prompt + text per
request). Different where the seed was wrong: time to first token, latency and tokens/s come from
`time.perf_counter()` around each request's own stream, not around a tuple unpacking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.load.grpc_stream import RequestProgress, describe_grpc_error, stream_request
from tritonobs.load.request import (
    TEXT_OUTPUT,
    TextStyle,
    build_inputs,
    load_prompts,
    sampling_parameters,
    wrap_prompt,
)
from tritonobs.load.results import RequestRecord, Summary, summarize

RESULT_SEPARATOR = "\n=========\n\n"  # the seed's separator between requests in the results file
_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ClientOptions:
    model_name: str
    url: str = "localhost:8001"
    input_prompts: Path = Path("prompts.txt")
    results_file: Path = Path("results.txt")
    iterations: int = 1
    offset: int = 0
    verbose: bool = False
    concurrency: int = 0  # 0: every request in flight at once, as the seed did
    max_tokens: int | None = None  # None: the seed's 512
    stream_timeout_s: float | None = None


@dataclass(frozen=True)
class ClientRequest:
    request_id: int
    prompt: str  # as wrapped and sent


@dataclass(frozen=True)
class ClientResult:
    request: ClientRequest
    record: RequestRecord
    text: str


@dataclass(frozen=True)
class ClientRun:
    results: list[ClientResult]  # in request-id order
    wall_s: float

    def summary(self) -> Summary:
        return summarize([r.record for r in self.results])


MAX_REQUESTS = 100_000  # one client run holds every request and its answer in memory


def plan_requests(prompts: list[str], iterations: int, offset: int) -> list[ClientRequest]:
    """The seed's numbering: id = offset + len(prompts) * iteration + index."""
    total = len(prompts) * iterations
    if total > MAX_REQUESTS:
        raise UsageError(f"--iterations {iterations} x {len(prompts)} prompts = {total} requests; at most "
                         f"{MAX_REQUESTS} in one run (use `tritonobs load` for longer runs)")
    wrapped = [wrap_prompt(p) for p in prompts]  # shared by every iteration
    return [
        ClientRequest(offset + len(prompts) * it + i, w)
        for it in range(iterations)
        for i, w in enumerate(wrapped)
    ]


async def check_model(client: grpcclient.InferenceServerClient, url: str, model: str) -> TextStyle:
    """Fail early and in one line: server unreachable (exit 3), unknown model (exit 2), model not ready (exit 3).
    Returns how the model's responses carry text (from its config)."""
    try:
        await client.is_server_live(client_timeout=_PROBE_TIMEOUT_S)
        if await client.is_model_ready(model, client_timeout=_PROBE_TIMEOUT_S):
            config = await client.get_model_config(model, as_json=True, client_timeout=_PROBE_TIMEOUT_S)
            return TextStyle.from_config(config.get("config", config))
        index = await client.get_model_repository_index(as_json=True, client_timeout=_PROBE_TIMEOUT_S)
    except InferenceServerException as e:
        raise ExternalError(url, f"Triton gRPC endpoint not reachable ({describe_grpc_error(e)})") from None
    names = sorted({m.get("name", "") for m in index.get("models", [])} - {""})
    if model not in names:
        raise UsageError(
            f"--model-name {model!r}: no such model on {url} (models there: {', '.join(names) or 'none'})"
        )
    raise ExternalError(url, f"model {model!r} is not ready (Triton has it, but not loaded)")


def format_request_line(model: str, request_id: int, record: RequestRecord) -> str:
    if not record.ok:
        return f"Model {model} - Request {request_id}: FAILED after {record.latency_s * 1000:.1f} ms: {record.error}"
    ttft = record.ttft_s
    ttft_text = f"{ttft * 1000:.1f} ms" if ttft is not None else "n/a"
    return (
        f"Model {model} - Request {request_id}: time to first token {ttft_text}, "
        f"latency {record.latency_s * 1000:.1f} ms, {record.tokens} tokens, {record.tokens_per_s:.1f} tokens/s"
    )


def format_summary(run: ClientRun) -> list[str]:
    s = run.summary()
    lines = [f"{s.ok} of {s.requests} requests ok in {run.wall_s:.2f} s, {s.tokens} tokens"]
    if s.ok:
        lines += [
            f"time to first token  p50 {s.ttft_s.p50 * 1000:.1f} ms   p95 {s.ttft_s.p95 * 1000:.1f} ms",
            f"latency              p50 {s.latency_s.p50 * 1000:.1f} ms   p95 {s.latency_s.p95 * 1000:.1f} ms",
            f"tokens/s per request p50 {s.tokens_per_s.p50:.1f}   p95 {s.tokens_per_s.p95:.1f}",
        ]
    return lines


def results_file_text(results: list[ClientResult]) -> str:
    """Like the seed's file: per request the prompt as sent and the generated text, then a separator."""
    return "".join(f"{r.request.prompt}{r.text}\n{RESULT_SEPARATOR}" for r in results)


async def run_client(
    opts: ClientOptions, on_result: Callable[[ClientResult], None] | None = None
) -> ClientRun:
    """Send every prompt `iterations` times over one gRPC connection; call `on_result` as each finishes."""
    if opts.iterations < 1:
        raise UsageError(f"--iterations {opts.iterations}: must be at least 1")
    prompts = load_prompts(opts.input_prompts)
    requests = plan_requests(prompts, opts.iterations, opts.offset)
    sampling = sampling_parameters(opts.max_tokens)
    limit = asyncio.Semaphore(opts.concurrency if opts.concurrency > 0 else len(requests))
    results: list[ClientResult] = []

    async with grpcclient.InferenceServerClient(url=opts.url, verbose=opts.verbose) as client:
        style = await check_model(client, opts.url, opts.model_name)
        t0 = time.perf_counter()

        async def one(req: ClientRequest) -> None:
            async with limit:
                progress = RequestProgress(str(req.request_id), opts.url, opts.model_name, text_parts=[])
                await stream_request(
                    client,
                    progress,
                    build_inputs(req.prompt, sampling),
                    text_output=TEXT_OUTPUT,
                    stream_timeout_s=opts.stream_timeout_s,
                )
            result = ClientResult(req, progress.to_record(t0), style.answer(req.prompt, progress.text_parts or []))
            results.append(result)
            if on_result is not None:
                on_result(result)

        await asyncio.gather(*(one(r) for r in requests))
        wall = time.perf_counter() - t0
    results.sort(key=lambda r: r.request.request_id)
    return ClientRun(results, wall)


async def probe_targets(urls: list[str], model: str) -> None:
    """check_model on every URL, each on a short-lived connection (the load generator opens its own)."""
    for url in urls:
        async with grpcclient.InferenceServerClient(url=url) as client:
            await check_model(client, url, model)
