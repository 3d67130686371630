"""Triton Python-backend model serving an LLM with vLLM, with the engine's own metrics exported.

Why this file exists (DESIGN.md, "central fact"): Triton's per-model statistics of a decoupled model
only cover execute(), which returns as soon as a request is handed to the engine. So this model exports
the engine's state through Triton custom metrics (pb_utils.MetricFamily), labelled model/version:
gauges vllm:num_requests_running / vllm:num_requests_waiting / vllm:kv_cache_usage_perc, histograms
vllm:time_to_first_token_seconds / vllm:time_per_output_token_seconds / vllm:e2e_request_latency_seconds
and counters vllm:prompt_tokens_total / vllm:generation_tokens_total.

One source: model_repository/*/1/model.py are byte-identical copies (tests/test_models.py checks it);
everything model-specific is in config.pbtxt. Every setting is a config.pbtxt parameter read through
`_parameter`, which `tritonobs models validate` finds in this file to check the config covers them.
The only environment variable read is the one the `hf_token_env` parameter names (set from a Secret).

Threads: Triton calls execute() on the stub's main thread; it only hands requests to one asyncio loop
thread, which does every other pb_utils call (inputs, sends, metrics). Triton 2.51's Python backend
crashes when several threads send responses or update custom metrics at once (FACTS.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import math
import os
import sys
import threading
import time
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import triton_python_backend_utils as pb_utils

# Gauges are refreshed from the engine's scheduler this often (the spec promises at least every second).
GAUGE_REFRESH_SECONDS = 0.5

# vLLM's own bucket boundaries (vllm/engine/metrics.py), so dashboards and alerts read the same buckets.
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]
E2E_BUCKETS = [1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0]

# SAMPLING_PARAMETERS arrives as JSON whose numbers may be strings (the seed client sends
# "temperature": "0.01"); vLLM's SamplingParams wants real types.
_FLOAT_KEYS = {"temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty"}
_INT_KEYS = {"top_k", "max_tokens", "min_tokens", "n", "best_of", "seed", "logprobs"}
_BOOL_KEYS = {"ignore_eos", "skip_special_tokens", "use_beam_search"}


def _parameter(parameters: Mapping[str, str], key: str) -> str:
    """A required config.pbtxt parameter (no silent defaults: the config says everything)."""
    value = parameters.get(key, "").strip()
    if not value:
        raise pb_utils.TritonModelException(f"config.pbtxt: parameter {key!r} is missing or empty")
    return value


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise pb_utils.TritonModelException(f"config.pbtxt: expected true or false, got {text!r}")


def parse_sampling(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"SAMPLING_PARAMETERS is not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError("SAMPLING_PARAMETERS must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            if key in _FLOAT_KEYS:
                out[key] = float(value)
            elif key in _INT_KEYS:
                out[key] = int(value)
            elif key in _BOOL_KEYS:
                out[key] = value if isinstance(value, bool) else str(value).lower() == "true"
            else:
                out[key] = value
        except (TypeError, ValueError):
            raise ValueError(f"SAMPLING_PARAMETERS: {key} has a bad value {value!r}") from None
    return out


class Engine(Protocol):
    """What model.py needs from an engine: vLLM in production, the simulation in the lab."""

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    def generate(self, prompt: str, sampling: Mapping[str, Any], request_id: str) -> AsyncGenerator[Any, None]:
        """Yields (text_delta, new_tokens, prompt_tokens); closing the generator aborts the request."""
        ...

    def stats(self) -> tuple[int, int, float]:
        """(requests running, requests waiting, KV-cache usage 0-1) from the scheduler."""
        ...


class VllmEngine:
    """vLLM's AsyncLLMEngine (imported lazily: the lab and the tests run without vLLM)."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        token_env = _parameter(parameters, "hf_token_env")
        token = os.environ.get(token_env, "")
        if token:
            # huggingface_hub reads HF_TOKEN; the token stays in this process's memory, never on disk.
            os.environ["HF_TOKEN"] = token
        self._engine_args = dict(
            model=_parameter(parameters, "model_name"),
            tensor_parallel_size=int(_parameter(parameters, "tensor_parallel_size")),
            gpu_memory_utilization=float(_parameter(parameters, "gpu_memory_utilization")),
            max_model_len=int(_parameter(parameters, "max_model_len")),
            dtype=_parameter(parameters, "dtype"),
            enforce_eager=_flag(_parameter(parameters, "enforce_eager")),
            disable_log_requests=True,
        )
        self._engine: Any = None

    async def start(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.engine.async_llm_engine import AsyncLLMEngine

        self._engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**self._engine_args))

    async def shutdown(self) -> None:
        self._engine = None

    async def generate(self, prompt: str, sampling: Mapping[str, Any], request_id: str) -> AsyncGenerator[Any, None]:
        from vllm import SamplingParams

        text_len = tokens = 0
        finished = False
        try:
            async for out in self._engine.generate(prompt, SamplingParams(**sampling), request_id):
                completion = out.outputs[0]
                yield completion.text[text_len:], len(completion.token_ids) - tokens, len(out.prompt_token_ids)
                text_len, tokens = len(completion.text), len(completion.token_ids)
            finished = True
        finally:
            if not finished:
                # Closed early (client cancelled, model unloading): vLLM <= 0.5 only aborts on an exception,
                # not when its generator is dropped, so free the sequence's batch slot and KV cache here
                # (as Triton's own vllm_backend does with llm_engine.abort).
                await self._engine.abort(request_id)

    def stats(self) -> tuple[int, int, float]:
        engine = self._engine.engine
        # vLLM >= 0.5.1 keeps one scheduler per virtual engine; older versions a single one.
        schedulers = engine.scheduler if isinstance(engine.scheduler, list) else [engine.scheduler]
        running = sum(len(s.running) for s in schedulers)
        waiting = sum(len(s.waiting) for s in schedulers)
        total = engine.cache_config.num_gpu_blocks or 1
        free = sum(s.block_manager.get_num_free_gpu_blocks() for s in schedulers)
        return running, waiting, 1.0 - free / total


def _load_simulated_engine(parameters: Mapping[str, str], version_dir: Path) -> Engine:
    """The lab's simulation, shipped as sim_engine.py beside this file by `build_lab_repository`."""
    path = version_dir / "sim_engine.py"
    spec = importlib.util.spec_from_file_location("tritonobs_sim_engine", path)
    if spec is None or spec.loader is None or not path.exists():
        raise pb_utils.TritonModelException(f"engine 'simulated' needs {path} (build a lab repository)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the file executes
    spec.loader.exec_module(module)
    engine: Engine = module.SimEngine.from_parameters(parameters, int(_parameter(parameters, "max_model_len")))
    return engine


def _le(bound: float) -> str:
    """A bucket bound as Triton's own histograms print it (prometheus-cpp: '0.5', '1', '+Inf')."""
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


class _EmulatedHistogram:
    """A Prometheus histogram built from counters: <name>_bucket{le}, <name>_sum, <name>_count.

    The Python backend gained MetricFamily.HISTOGRAM in 24.08 (python_backend PR #374); the seed's
    24.06 image lacks it. The exposition is the same series PromQL sees from a native histogram."""

    def __init__(self, name: str, description: str, labels: dict[str, str], buckets: list[float]) -> None:
        counter = pb_utils.MetricFamily.COUNTER
        self._families = [
            pb_utils.MetricFamily(name=f"{name}_{part}", description=description, kind=counter)
            for part in ("bucket", "sum", "count")
        ]
        bucket_family, sum_family, count_family = self._families
        self._buckets = [
            (bound, bucket_family.Metric(labels={**labels, "le": _le(bound)})) for bound in [*buckets, math.inf]
        ]
        self._sum = sum_family.Metric(labels=labels)
        self._count = count_family.Metric(labels=labels)

    def observe(self, value: float) -> None:
        for bound, metric in self._buckets:
            if value <= bound:
                metric.increment(1)
        self._sum.increment(value)
        self._count.increment(1)


class _NativeHistogram:
    def __init__(self, name: str, description: str, labels: dict[str, str], buckets: list[float]) -> None:
        self._family = pb_utils.MetricFamily(name=name, description=description, kind=pb_utils.MetricFamily.HISTOGRAM)
        self._metric = self._family.Metric(labels=labels, buckets=buckets)

    def observe(self, value: float) -> None:
        self._metric.observe(value)


class EngineMetrics:
    """Every custom metric of one model instance. Families stay referenced here for the model's
    lifetime: in 2.51 a family that Python garbage-collects makes later updates fail (FACTS.md)."""

    def __init__(self, labels: dict[str, str], histogram_mode: str) -> None:
        native = hasattr(pb_utils.MetricFamily, "HISTOGRAM")
        if histogram_mode not in ("auto", "native", "emulated"):
            raise pb_utils.TritonModelException(f"histogram_mode must be auto, native or emulated: {histogram_mode!r}")
        if histogram_mode == "native" and not native:
            raise pb_utils.TritonModelException("histogram_mode native: this Triton has no MetricFamily.HISTOGRAM")
        histogram = _NativeHistogram if native and histogram_mode != "emulated" else _EmulatedHistogram
        gauge, counter = pb_utils.MetricFamily.GAUGE, pb_utils.MetricFamily.COUNTER
        self._families = {
            name: pb_utils.MetricFamily(name=name, description=text, kind=kind)
            for name, text, kind in (
                ("vllm:num_requests_running", "Requests in the engine's running batch.", gauge),
                ("vllm:num_requests_waiting", "Requests waiting for a place in the batch.", gauge),
                ("vllm:kv_cache_usage_perc", "KV-cache usage, 0-1 (1 = full).", gauge),
                ("vllm:prompt_tokens_total", "Prompt tokens prefilled.", counter),
                ("vllm:generation_tokens_total", "Tokens generated.", counter),
            )
        }
        metric = {name: family.Metric(labels=labels) for name, family in self._families.items()}
        self.running = metric["vllm:num_requests_running"]
        self.waiting = metric["vllm:num_requests_waiting"]
        self.kv_cache = metric["vllm:kv_cache_usage_perc"]
        self.prompt_tokens = metric["vllm:prompt_tokens_total"]
        self.generation_tokens = metric["vllm:generation_tokens_total"]
        self.ttft = histogram("vllm:time_to_first_token_seconds", "Time to first token.", labels, TTFT_BUCKETS)
        self.tpot = histogram("vllm:time_per_output_token_seconds", "Time per output token.", labels, TPOT_BUCKETS)
        self.e2e = histogram("vllm:e2e_request_latency_seconds", "End-to-end request latency.", labels, E2E_BUCKETS)


def _text_response(text: str) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor("TEXT", np.array([text.encode("utf-8")], dtype=np.object_))]
    )


def _error(message: str, code: str = "INTERNAL") -> Any:
    status = getattr(pb_utils.TritonError, code, None)  # error codes exist in Triton >= 23.10
    error = pb_utils.TritonError(message) if status is None else pb_utils.TritonError(message, status)
    return pb_utils.InferenceResponse(error=error)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("config.pbtxt: set model_transaction_policy { decoupled: true }")
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        labels = {"model": args["model_name"], "version": args["model_version"]}
        self._metrics = EngineMetrics(labels, _parameter(parameters, "histogram_mode"))
        self._ids = itertools.count()
        self._serving: set[asyncio.Task[Any]] = set()  # touched on the loop thread only
        kind = _parameter(parameters, "engine")
        version_dir = Path(args["model_repository"]) / args["model_version"]
        if kind == "vllm":
            self._engine: Engine = VllmEngine(parameters)
        elif kind == "simulated":
            self._engine = _load_simulated_engine(parameters, version_dir)
        else:
            raise pb_utils.TritonModelException(f"config.pbtxt: engine must be vllm or simulated, got {kind!r}")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine-loop", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._engine.start(), self._loop).result()
        self._refresher = asyncio.run_coroutine_threadsafe(self._refresh_gauges(), self._loop)

    def execute(self, requests: list[Any]) -> None:
        # Decoupled: hand each request to the loop thread and return at once; responses go through
        # each request's response sender from that thread.
        for request in requests:
            asyncio.run_coroutine_threadsafe(self._serve(request), self._loop)
        return None

    def finalize(self) -> None:
        self._refresher.cancel()
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    async def _shutdown(self) -> None:
        # Requests still streaming get a final error response before the engine goes away.
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        await self._engine.shutdown()

    async def _refresh_gauges(self) -> None:
        while True:
            try:
                running, waiting, kv_usage = self._engine.stats()
                self._metrics.running.set(running)
                self._metrics.waiting.set(waiting)
                self._metrics.kv_cache.set(kv_usage)
            except Exception as e:  # a stale gauge is better than none: keep refreshing
                pb_utils.Logger.log_error(f"gauge refresh: {type(e).__name__}: {e}")
            await asyncio.sleep(GAUGE_REFRESH_SECONDS)

    async def _serve(self, request: Any) -> None:
        arrival = time.monotonic()
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            await self._stream(request, arrival)
        finally:
            self._serving.discard(task)

    async def _stream(self, request: Any, arrival: float) -> None:
        sender = request.get_response_sender()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            prompt, stream, sampling = self._read_inputs(request)
        except ValueError as e:
            sender.send(_error(str(e), "INVALID_ARG"), flags=final)
            return
        request_id = f"{request.request_id() or 'request'}-{next(self._ids)}"
        chunks: list[str] = []
        last = arrival
        first = True
        deltas = self._engine.generate(prompt, sampling, request_id)
        try:
            async for text, tokens, prompt_tokens in deltas:
                now = time.monotonic()
                if first:
                    self._metrics.ttft.observe(now - arrival)
                    self._metrics.prompt_tokens.increment(prompt_tokens)
                    first = False
                elif tokens:
                    self._metrics.tpot.observe((now - last) / tokens)
                last = now
                if tokens:
                    self._metrics.generation_tokens.increment(tokens)
                if sender.is_cancelled():
                    # The client went away: close the request (closing `deltas` aborts it in the engine).
                    sender.send(_error("request cancelled", "CANCELLED"), flags=final)
                    return
                if stream and text:
                    sender.send(_text_response(text))
                elif not stream:
                    chunks.append(text)
            if not stream:
                sender.send(_text_response("".join(chunks)))
            self._metrics.e2e.observe(time.monotonic() - arrival)
            sender.send(flags=final)
        except asyncio.CancelledError:
            sender.send(_error("model unloading", "UNAVAILABLE"), flags=final)
        except Exception as e:  # the engine failed this request: tell the client, keep serving others
            pb_utils.Logger.log_error(f"request {request_id}: {type(e).__name__}: {e}")
            sender.send(_error(f"engine error: {e}"), flags=final)
        finally:
            await deltas.aclose()

    @staticmethod
    def _read_inputs(request: Any) -> tuple[str, bool, dict[str, Any]]:
        prompt_tensor = pb_utils.get_input_tensor_by_name(request, "PROMPT")
        if prompt_tensor is None:
            raise ValueError("input PROMPT is required")
        raw = prompt_tensor.as_numpy().reshape(-1)[0]
        prompt = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        stream_tensor = pb_utils.get_input_tensor_by_name(request, "STREAM")
        stream = bool(stream_tensor.as_numpy().reshape(-1)[0]) if stream_tensor is not None else False
        sampling_tensor = pb_utils.get_input_tensor_by_name(request, "SAMPLING_PARAMETERS")
        sampling: dict[str, Any] = {}
        if sampling_tensor is not None:
            raw = sampling_tensor.as_numpy().reshape(-1)[0]
            sampling = parse_sampling(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
        return prompt, stream, sampling
