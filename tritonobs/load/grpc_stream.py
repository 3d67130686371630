"""One LLM request on its own gRPC bidirectional stream (tritonclient `grpc.aio`), timed as the client sees it.

Why one stream per request: Triton reports a failed request on a stream as an error message, and
tritonclient's aio iterator drops the request id from error responses, so on a shared stream an error
cannot be pinned on a request. Streams are cheap (HTTP/2 streams on one connection): requests on the same
`InferenceServerClient` still share its one TCP connection.

Timing: `start` is taken just before the request is handed to the stream, `first_token` when the first
response carrying output arrives, `end` when the response flagged final arrives (Triton's
`triton_final_response`, which the request asks for with `triton_enable_empty_final_response`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from tritonobs.load.request import TEXT_OUTPUT, TOKEN_COUNT_OUTPUT
from tritonobs.load.results import RequestRecord

FINAL_RESPONSE_FLAG = "triton_final_response"
ENABLE_EMPTY_FINAL = "triton_enable_empty_final_response"
_MAX_ERROR_CHARS = 300


@dataclass
class RequestProgress:
    """A request while it runs; readable at any time, so a cancelled request still yields a record."""

    request_id: str
    url: str
    model: str
    start: float = 0.0  # perf_counter seconds
    first_token: float | None = None
    end: float | None = None
    tokens: int = 0
    error: str = ""
    text_parts: list[str] | None = None  # TEXT of each response, only kept when asked (the seed client writes it)
    scheduled_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.end is not None

    def fail(self, message: str, now: float) -> None:
        if self.end is None:
            self.error = message[:_MAX_ERROR_CHARS] or "error"
            self.end = now

    def to_record(self, t0: float, now: float | None = None) -> RequestRecord:
        """The record relative to the run's start t0; an unfinished request ends at `now`."""
        end = self.end if self.end is not None else (now if now is not None else time.perf_counter())
        return RequestRecord(
            request_id=self.request_id,
            url=self.url,
            model=self.model,
            start_s=self.start - t0,
            first_token_s=None if self.first_token is None else self.first_token - t0,
            end_s=end - t0,
            tokens=self.tokens,
            ok=self.end is not None and not self.error,
            error=self.error if self.end is not None else (self.error or "unfinished"),
            scheduled_s=self.scheduled_s,
        )


def describe_grpc_error(exc: BaseException) -> str:
    """One line: the gRPC status and details (no stack, no debug string)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details() or ''}".strip()
    if isinstance(exc, InferenceServerException):
        status = exc.status()
        msg = exc.message() or ""
        return f"{status}: {msg}" if status else msg
    return f"{type(exc).__name__}: {exc}"


def _tokens_in(result: grpcclient.InferResult, output_names: set[str], text_output: str) -> int:
    """A response is one token delta, unless it says how many (vllm_backend's `num_output_tokens`)."""
    if TOKEN_COUNT_OUTPUT in output_names:
        counts = result.as_numpy(TOKEN_COUNT_OUTPUT)
        return int(counts.sum()) if counts is not None else 1
    return 1 if output_names else 0


def _decode_text(result: grpcclient.InferResult, text_output: str) -> str:
    arr = result.as_numpy(text_output)
    if arr is None:
        return ""
    return "".join(x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1))


async def stream_request(
    client: grpcclient.InferenceServerClient,
    progress: RequestProgress,
    inputs: Sequence[grpcclient.InferInput],
    *,
    text_output: str = TEXT_OUTPUT,
    stream_timeout_s: float | None = None,
) -> RequestProgress:
    """Send one request on a new stream and read its responses until the final one. Never raises for
    request or transport failures (they land in `progress.error`); cancellation propagates."""

    async def one_request() -> AsyncIterator[dict[str, Any]]:
        # Yield once, then return: the client half-closes and Triton ends the stream after the final response.
        yield {
            "model_name": progress.model,
            "inputs": list(inputs),
            "request_id": progress.request_id,
            "parameters": {ENABLE_EMPTY_FINAL: True},
        }

    progress.start = time.perf_counter()
    try:
        responses = client.stream_infer(one_request(), stream_timeout=stream_timeout_s)
        async for result, error in responses:
            now = time.perf_counter()
            if error is not None:
                progress.fail(describe_grpc_error(error), now)
                continue
            response = result.get_response()
            names = {o.name for o in response.outputs}
            count = _tokens_in(result, names, text_output)
            if count and progress.first_token is None:
                progress.first_token = now
            progress.tokens += count
            if progress.text_parts is not None and text_output in names:
                progress.text_parts.append(_decode_text(result, text_output))
            final = response.parameters.get(FINAL_RESPONSE_FLAG)
            if final is not None and final.bool_param and progress.end is None:
                progress.end = now
        if progress.end is None:  # stream closed without a final flag (a non-decoupled model): done now
            progress.end = time.perf_counter()
    except (grpc.RpcError, InferenceServerException) as e:
        progress.fail(describe_grpc_error(e), time.perf_counter())
    return progress
