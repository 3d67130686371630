"""Triton Python-backend model serving an LLM with vLLM, with the engine's own state exported.

Why (DESIGN.md, "central fact"): Triton's per-model statistics of a decoupled model only cover execute(),
which returns as soon as a request is handed to the engine. This model exports the engine's state through
Triton custom metrics (pb_utils.MetricFamily, engine_metrics.py), labelled model/version: gauges
vllm:num_requests_running / _waiting / vllm:kv_cache_usage_perc, histograms of TTFT, time per output token,
end-to-end latency and time in vLLM's queue (vllm:request_queue_time_seconds), and prompt/generation token
counters.

One source: this file and its siblings (vllm_engine.py, engine_metrics.py, engine_processes.py) live in
tritonobs/models/serving/; model_repository/<model>/1/ links to them, `tritonobs models sync` uploads them,
the lab copies them (docs/model-code.md).
Every setting is a config.pbtxt parameter read through `_parameter` (`tritonobs models validate` finds
those calls to check the config covers them). The environment is read only for the Hugging Face token
(the variable the `hf_token_env` parameter names) and to check the blueprint's Helm variables.

Threads: Triton calls execute() on the stub's main thread; it hands requests to one asyncio loop thread,
which makes every other pb_utils call (inputs, sends, metrics, their deletion). Triton 2.51's Python
backend crashes when several threads send responses or update custom metrics at once (docs/facts.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import locale
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import triton_python_backend_utils as pb_utils

GAUGE_REFRESH_SECONDS = 0.5
# A request waiting in the engine's queue gets no update to check its client at: ask this often meanwhile,
# so a client that gave up leaves the queue (and vllm:num_requests_waiting) at once, not when scheduled.
# A watcher per request (ClientWatch), not a check between updates: a task per update cost the lab ~15%.
CANCEL_POLL_SECONDS = 0.5

# SAMPLING_PARAMETERS arrives as JSON whose numbers may be strings (the seed client sends
# "temperature": "0.01"); vLLM's SamplingParams wants real types.
_FLOAT_KEYS = {"temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty",
               "length_penalty"}
_INT_KEYS = {"top_k", "max_tokens", "min_tokens", "n", "best_of", "seed", "logprobs", "prompt_logprobs"}
_BOOL_KEYS = {"ignore_eos", "skip_special_tokens", "use_beam_search", "include_stop_str_in_output",
              "spaces_between_special_tokens"}

# Environment variables the blueprint's model.py read (set by its Helm values) -> our parameter of the same
# meaning. One source of truth: a value that agrees is fine, one that differs stops the load.
BLUEPRINT_ENV = ("model_name", "tensor_parallel_size", "gpu_memory_utilization", "dtype", "max_model_len")


def _parameter(parameters: Mapping[str, str], key: str) -> str:
    """A required config.pbtxt parameter (no silent defaults: the config says everything)."""
    value = parameters.get(key, "").strip()
    if not value:
        raise pb_utils.TritonModelException(f"config.pbtxt: parameter {key!r} is missing or empty")
    return value


def _number(parameters: Mapping[str, str], key: str, kind: type) -> Any:
    text = _parameter(parameters, key)
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise pb_utils.TritonModelException(f"config.pbtxt: parameter {key!r} must be {what}, got {text!r}") from None


def _choice(parameters: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    value = _parameter(parameters, key).lower()
    if value not in choices:
        raise pb_utils.TritonModelException(
            f"config.pbtxt: parameter {key!r} must be one of {', '.join(choices)}, got {value!r}"
        )
    return value


def _flag(parameters: Mapping[str, str], key: str) -> bool:
    return _choice(parameters, key, ("true", "false", "1", "0", "yes", "no")) in ("true", "1", "yes")


def coerce_sampling(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            if key in _FLOAT_KEYS:
                out[key] = float(value)
            elif key in _INT_KEYS:
                out[key] = int(value)
            elif key in _BOOL_KEYS:
                out[key] = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            else:
                out[key] = value
        except (TypeError, ValueError):
            raise ValueError(f"SAMPLING_PARAMETERS: {key} has a bad value {value!r}") from None
    return out


def parse_sampling(text: str, source: str = "SAMPLING_PARAMETERS") -> dict[str, Any]:
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{source} is not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{source} must be a JSON object")
    # Triton's own request parameters (triton_enable_empty_final_response, ...) are not sampling keys.
    return coerce_sampling({k: v for k, v in raw.items() if not str(k).startswith("triton_")})


class Engine(Protocol):
    """What this model needs from an engine: vLLM in production, the simulation in the lab."""

    kind: str

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    def describe(self) -> str: ...

    def check_sampling(self, sampling: Mapping[str, Any]) -> Any:
        """The engine's sampling object for a request; ValueError naming the bad key."""

    def generate(self, prompt: str, sampling: Any, request_id: str) -> AsyncIterator[Any]:
        """Yields Progress(texts, tokens, prompt_tokens, queue_seconds), cumulative; closing aborts."""

    def stats(self) -> Any:
        """(running, waiting, kv_usage 0-1) now, or None when it cannot be read."""


class ClientWatch:
    """While the engine says nothing about a request (waiting in its queue, it gets no update to check the
    client at), ask every `every` s whether the client went away, and if so cancel the serving task: its
    `async for` over the engine's updates raises CancelledError, and the engine's generator aborts the
    request. One wake-up per request per `every`, nothing per token: `heard` is set at each update."""

    def __init__(self, cancelled: Callable[[], bool], every: float = CANCEL_POLL_SECONDS) -> None:
        self.gone = False
        self.heard = time.monotonic()
        task = asyncio.current_task()
        assert task is not None
        self._watch = asyncio.ensure_future(self._run(task, cancelled, every))

    async def _run(self, task: asyncio.Task[Any], cancelled: Callable[[], bool], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if time.monotonic() - self.heard >= every and cancelled():
                self.gone = True
                task.cancel()
                return

    def close(self) -> None:
        self._watch.cancel()


def _load_sibling(version_dir: Path, name: str) -> ModuleType:
    """A module shipped beside model.py (vllm_engine.py, engine_metrics.py, engine_processes.py; sim_engine.py
    in the lab)."""
    path = version_dir / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tritonobs_{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise pb_utils.TritonModelException(f"{path} is missing: it ships with model.py (tritonobs models sync)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the file executes
    spec.loader.exec_module(module)
    return module


def _utf8_locale() -> None:
    """The stub's embedded interpreter runs with the C locale, and torch's import then fails decoding
    UTF-8 files (UnicodeDecodeError in inductor). Select the environment's locale, else a UTF-8 one."""
    for name in ("", "C.UTF-8", "en_US.UTF-8"):
        try:
            locale.setlocale(locale.LC_CTYPE, name)
        except locale.Error:
            continue
        if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":
            return


def check_blueprint_env(parameters: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """The blueprint's Helm values set these variables for its model.py. Returns a note per variable that
    agrees with config.pbtxt; raises when one disagrees (the config is the one source)."""
    notes = []
    for key in BLUEPRINT_ENV:
        if key not in environ:
            continue
        env, ours = environ[key].strip(), parameters.get(key, "").strip()
        try:
            same = float(env) == float(ours)
        except ValueError:
            same = env.lower() == ours.lower()
        if not same:
            raise pb_utils.TritonModelException(
                f"environment variable {key}={env!r} (the blueprint's Helm values) disagrees with config.pbtxt "
                f"parameter {key}={ours!r}: set it in tritonobs.yaml / config.pbtxt and drop it from the Helm values"
            )
        notes.append(f"environment variable {key} agrees with config.pbtxt ({ours})")
    return notes


def _text_response(texts: list[str]) -> Any:
    array = np.array([t.encode("utf-8") for t in texts], dtype=np.object_)
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("TEXT", array)])


def _error(message: str, code: str = "INTERNAL") -> Any:
    status = getattr(pb_utils.TritonError, code, None)  # error codes exist in Triton >= 23.10
    error = pb_utils.TritonError(message) if status is None else pb_utils.TritonError(message, status)
    return pb_utils.InferenceResponse(error=error)


class ResponseStyle:
    """How text reaches the client. Defaults are the blueprint's model (drop-in for its clients): every
    response carries the prompt followed by the text so far. The official vllm_backend's style is
    stream_text "delta" with prompt_echo "non_streaming"."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self.cumulative = _choice(parameters, "stream_text", ("cumulative", "delta")) == "cumulative"
        self.echo = _choice(parameters, "prompt_echo", ("always", "non_streaming", "never"))
        self.request_parameters = _flag(parameters, "sampling_from_request_parameters")

    def streamed(self, prompt: str, texts: tuple[str, ...], sent: list[str]) -> list[str] | None:
        """What to send for a streamed update (None: nothing new); `sent` holds the text sent so far."""
        if all(t == s for t, s in zip(texts, sent, strict=True)):
            return None
        first = not any(sent)
        pieces = list(texts) if self.cumulative else [t[len(s):] for t, s in zip(texts, sent, strict=True)]
        sent[:] = texts
        if self.echo == "always" and (self.cumulative or first):
            pieces = [prompt + p for p in pieces]
        return pieces

    def final(self, prompt: str, texts: tuple[str, ...]) -> list[str]:
        return [prompt + t for t in texts] if self.echo in ("always", "non_streaming") else list(texts)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("config.pbtxt: set model_transaction_policy { decoupled: true }")
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._log = pb_utils.Logger
        self._style = ResponseStyle(parameters)
        histogram_mode = _choice(parameters, "histogram_mode", ("auto", "native", "emulated"))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self._export = _load_sibling(version_dir, "engine_metrics")
        self._processes = _load_sibling(version_dir, "engine_processes")
        self._engine = self._make_engine(parameters, args, version_dir)
        self._ids = itertools.count()
        self._serving: set[asyncio.Task[Any]] = set()  # touched on the loop thread only
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine-loop", daemon=True)
        self._thread.start()
        self._watchdog = self._processes.EngineWatchdog([])
        labels = {"model": args["model_name"], "version": args["model_version"]}
        self._metrics = self._on_loop(self._start(labels, histogram_mode))
        self._gauges_logged: bool | None = None
        self._refresher = asyncio.run_coroutine_threadsafe(self._refresh_gauges(), self._loop)

    def _make_engine(self, parameters: dict[str, str], args: dict[str, str], version_dir: Path) -> Engine:
        kind = _choice(parameters, "engine", ("vllm", "simulated"))
        max_model_len = _number(parameters, "max_model_len", int)
        if kind == "simulated":
            sim = _load_sibling(version_dir, "sim_engine")
            try:
                engine: Engine = sim.SimEngine.from_parameters(parameters, max_model_len)
            except ValueError as e:
                raise pb_utils.TritonModelException(f"config.pbtxt: {e}") from None
            return engine
        for note in check_blueprint_env(parameters, os.environ):
            pb_utils.Logger.log_info(note)
        vllm_engine = _load_sibling(version_dir, "vllm_engine")
        tensor_parallel = _number(parameters, "tensor_parallel_size", int)
        try:
            device = vllm_engine.visible_device(args.get("model_instance_kind", ""),
                                                args.get("model_instance_device_id", "-1"), tensor_parallel)
            extra = vllm_engine.parse_engine_args(_parameter(parameters, "engine_args"))
        except ValueError as e:
            raise pb_utils.TritonModelException(f"config.pbtxt: {e}") from None
        if device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = device  # before vLLM (and torch) are imported
        token = os.environ.get(_parameter(parameters, "hf_token_env"), "")
        if token:
            os.environ["HF_TOKEN"] = token  # huggingface_hub reads HF_TOKEN; never written to disk
        _utf8_locale()
        engine_args = {
            "model": _parameter(parameters, "model_name"),
            "tensor_parallel_size": tensor_parallel,
            "gpu_memory_utilization": _number(parameters, "gpu_memory_utilization", float),
            "max_model_len": max_model_len,
            "max_num_seqs": _number(parameters, "max_num_seqs", int),
            "dtype": _parameter(parameters, "dtype"),
            "enforce_eager": _flag(parameters, "enforce_eager"),
            **extra,
        }
        return vllm_engine.VllmEngine(engine_args, self._log_line)  # type: ignore[no-any-return]

    def _log_line(self, level: str, text: str) -> None:
        {"info": pb_utils.Logger.log_info, "warn": pb_utils.Logger.log_warn}.get(level, pb_utils.Logger.log_error)(text)

    def _on_loop(self, coroutine: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the loop thread and return its result; re-raise its config errors as Triton's."""
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)
        except ValueError as e:  # vllm_engine.ConfigError: fixed in config.pbtxt
            self._stop_loop()
            raise pb_utils.TritonModelException(f"config.pbtxt: {e}") from None
        except BaseException:
            self._stop_loop()
            raise

    async def _start(self, labels: dict[str, str], histogram_mode: str) -> Any:
        metrics = self._export.EngineMetrics(labels, histogram_mode)
        processes = self._processes
        try:
            await self._engine.start()
        except BaseException:
            metrics.close()
            processes.EngineWatchdog(processes.descendants(os.getpid())).close()  # what the failed start left
            raise
        self._watchdog = processes.EngineWatchdog(processes.descendants(os.getpid()))
        return metrics

    def execute(self, requests: list[Any]) -> None:
        # Decoupled: hand each request to the loop thread and return at once.
        for request in requests:
            asyncio.run_coroutine_threadsafe(self._serve(request), self._loop)
        return None

    def finalize(self) -> None:
        self._refresher.cancel()
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=60)
        finally:
            self._stop_loop()
            self._watchdog.close()  # reaps any engine process that did not exit

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    async def _shutdown(self) -> None:
        # Requests still streaming get a final error response before the engine goes away.
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)
        try:
            await self._engine.shutdown()
        finally:
            self._metrics.close()

    async def _refresh_gauges(self) -> None:
        while True:
            try:
                stats = self._engine.stats()
            except Exception as e:  # an engine that cannot say its state is unreadable, not idle
                pb_utils.Logger.log_error(f"engine state unreadable: {type(e).__name__}: {e}")
                stats = None
            if self._gauges_logged is not (stats is not None):
                self._gauges_logged = stats is not None
                state = "exported" if stats is not None else "absent (engine state unreadable)"
                pb_utils.Logger.log_info(f"engine gauges {state}: {self._engine.describe()}")
            self._metrics.show_state(stats)
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
            prompt, stream, raw = self._read_inputs(request)
            sampling = self._engine.check_sampling(raw)
        except ValueError as e:
            sender.send(_error(str(e), "INVALID_ARG"), flags=final)
            return
        request_id = f"{request.request_id() or 'request'}-{next(self._ids)}"
        m = self._metrics
        progress = None
        sent: list[str] = []
        tokens = 0
        last = arrival
        queued = False
        updates = self._engine.generate(prompt, sampling, request_id)
        watch = ClientWatch(sender.is_cancelled)
        try:
            async for progress in updates:
                now = watch.heard = time.monotonic()
                if not queued and progress.queue_seconds is not None:  # once the engine scheduled it
                    m.queue.observe(progress.queue_seconds)
                    queued = True
                new = progress.tokens - tokens
                if tokens == 0 and new:
                    m.ttft.observe(now - arrival)
                    m.prompt_tokens.increment(progress.prompt_tokens)
                elif new:
                    m.tpot.observe((now - last) / new)
                if new:
                    m.generation_tokens.increment(new)
                    tokens, last = progress.tokens, now
                if sender.is_cancelled():
                    # The client went away: close the request (closing `updates` aborts it in the engine).
                    sender.send(_error("request cancelled", "CANCELLED"), flags=final)
                    return
                if stream:
                    sent = sent or [""] * len(progress.texts)
                    pieces = self._style.streamed(prompt, progress.texts, sent)
                    if pieces is not None:
                        sender.send(_text_response(pieces))
            if progress is None:
                raise RuntimeError("the engine returned no output")
            if not stream:
                sender.send(_text_response(self._style.final(prompt, progress.texts)))
            m.e2e.observe(time.monotonic() - arrival)
            sender.send(flags=final)
        except asyncio.CancelledError:
            if watch.gone:
                sender.send(_error("request cancelled", "CANCELLED"), flags=final)
            else:
                sender.send(_error("model unloading", "UNAVAILABLE"), flags=final)
        except ValueError as e:  # vLLM validates the prompt when it is added (too long for max_model_len, ...)
            sender.send(_error(f"{e}", "INVALID_ARG" if progress is None else "INTERNAL"), flags=final)
        except Exception as e:  # the engine failed this request: tell the client, keep serving others
            pb_utils.Logger.log_error(f"request {request_id}: {type(e).__name__}: {e}")
            sender.send(_error(f"engine error: {type(e).__name__}: {e}"), flags=final)
        finally:
            watch.close()
            await updates.aclose()  # type: ignore[attr-defined]

    def _read_inputs(self, request: Any) -> tuple[str, bool, dict[str, Any]]:
        prompt_tensor = pb_utils.get_input_tensor_by_name(request, "PROMPT")
        if prompt_tensor is None:
            raise ValueError("input PROMPT is required")
        raw = prompt_tensor.as_numpy().reshape(-1)[0]
        prompt = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        stream_tensor = pb_utils.get_input_tensor_by_name(request, "STREAM")
        stream = bool(stream_tensor.as_numpy().reshape(-1)[0]) if stream_tensor is not None else False
        sampling_tensor = pb_utils.get_input_tensor_by_name(request, "SAMPLING_PARAMETERS")
        if sampling_tensor is not None:
            raw = sampling_tensor.as_numpy().reshape(-1)[0]
            return prompt, stream, parse_sampling(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
        if self._style.request_parameters:  # the blueprint reads sampling keys from the request's parameters
            return prompt, stream, parse_sampling(request.parameters(), "request parameters")
        return prompt, stream, {}
