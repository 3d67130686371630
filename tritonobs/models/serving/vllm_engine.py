"""vLLM behind model.py's Engine interface, on every vLLM line Triton has shipped (0.4.3 .. 0.33).

Shipped beside model.py in each model's version folder (the Python backend puts that folder on sys.path).
Everything is chosen by capability, never by version string (docs/model-code.md has the table):

- Engine: `AsyncLLMEngine` is V0's class up to 0.10 and an alias of V1's `AsyncLLM` from 0.11. In 0.8-0.10
  `AsyncLLMEngine.from_engine_args` picks V1 when `create_engine_config` (which runs vLLM's V1 oracle) leaves
  `VLLM_USE_V1` on; we ask the same question first, because V1's stat loggers must be given at construction.
- Engine state (the gauges): V1 runs the scheduler in another process; its state reaches us through a stat
  logger passed as `stat_loggers=[cls]` (0.8+), whose `record(scheduler_stats, iteration_stats, ...)` gets
  SchedulerStats. V0 keeps its scheduler(s) in this process: we read their queues and free KV blocks.
  When neither works, `stats()` is None and model.py removes the gauges: never a silent 0.
- Engine arguments and sampling keys are checked against what the installed AsyncEngineArgs and
  SamplingParams accept, so an unknown one is a clear error naming it, not a TypeError deep inside vLLM.
"""

from __future__ import annotations

# vLLM is imported inside the functions that use it: this file is copied into every model folder, and the
# simulated engine's Python backend (and the tests) load it where vLLM is not installed.
import dataclasses
import inspect
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

# A V1 engine that holds requests but sends no stats for this long is treated as unreadable (a step of
# vLLM is milliseconds to a few seconds; a silent stat path must not pass for an idle engine).
STATS_STALE_SECONDS = 15.0

# Keys model.py sets itself: a client may not change how outputs are delivered.
RESERVED_SAMPLING_KEYS = frozenset({"output_kind", "detokenize", "skip_clone"})


class EngineStats(NamedTuple):
    running: int
    waiting: int
    kv_usage: float  # 0-1


class Progress(NamedTuple):
    """A request's output so far, as model.py's Engine protocol yields it."""

    texts: tuple[str, ...]  # cumulative text of each completion (n of them)
    tokens: int  # output tokens so far, over all completions
    prompt_tokens: int
    queue_seconds: float | None  # time waited in the engine's queue, once the engine says


class ConfigError(ValueError):
    """A model-load error the operator fixes in config.pbtxt (model.py raises it as TritonModelException)."""


def accepted_fields(cls: type) -> set[str]:
    """Keyword arguments a vLLM class takes: dataclass fields (AsyncEngineArgs) or its signature
    (SamplingParams: a class with __init__ up to 0.5, a msgspec Struct after)."""
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls) if f.init}
    return {n for n, p in inspect.signature(cls).parameters.items() if p.kind is not p.VAR_KEYWORD}


def _version() -> str:
    import vllm

    return str(getattr(vllm, "__version__", "unknown"))


class _StatSink:
    """Latest SchedulerStats per engine (V1, several with data parallelism), written from vLLM's output
    handler and read by model.py's gauge refresher; a lock keeps the pair consistent across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[int, EngineStats] = {}
        self.last_record = 0.0

    def initialized(self) -> None:
        # The engine is up and holds no request yet: (0, 0, 0) is its true state, not a placeholder.
        with self._lock:
            self._latest.setdefault(0, EngineStats(0, 0, 0.0))
            self.last_record = time.monotonic()

    def record(self, engine_index: int, stats: Any) -> None:
        if stats is None:
            return
        waiting = int(stats.num_waiting_reqs) + int(getattr(stats, "num_skipped_waiting_reqs", 0))  # 0.33 split
        kv: Any = getattr(stats, "kv_cache_usage", None)  # gpu_cache_usage in 0.8 (renamed by 0.9.2)
        kv = getattr(stats, "gpu_cache_usage", 0.0) if kv is None else kv
        with self._lock:
            self._latest[engine_index] = EngineStats(int(stats.num_running_reqs), waiting, float(kv))
            self.last_record = time.monotonic()

    def total(self) -> EngineStats | None:
        with self._lock:
            if not self._latest:
                return None
            parts = list(self._latest.values())
        return EngineStats(
            sum(p.running for p in parts), sum(p.waiting for p in parts), sum(p.kv_usage for p in parts) / len(parts)
        )


def _v1_logger_class(sink: _StatSink) -> type:
    """A V1 stat logger class (vLLM calls it as a factory: cls(vllm_config, engine_index)). Subclassing
    vLLM's own base keeps the optional hooks newer versions add (record_sleep_state, ...)."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class TritonobsStatLogger(StatLoggerBase):  # type: ignore[misc,valid-type]
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.engine_index = engine_index

        # Declared loosely: 0.8 passes (scheduler_stats, iteration_stats), 0.10 adds engine_idx,
        # 0.12 mm_cache_stats; with data parallelism engine_idx names the engine.
        def record(self, scheduler_stats: Any, iteration_stats: Any = None, *args: Any, **kwargs: Any) -> None:
            sink.record(int(kwargs.get("engine_idx", self.engine_index)), scheduler_stats)

        def log_engine_initialized(self) -> None:
            sink.initialized()

        def log(self) -> None:
            pass

    return TritonobsStatLogger


def _queue_seconds(output: Any) -> float | None:
    """Time the request waited in vLLM's queue, from the RequestOutput's metrics once it was scheduled:
    V0 RequestMetrics (time_in_queue, or first_scheduled_time - arrival_time), V1 RequestStateStats
    (scheduled_ts - queued_ts, both monotonic)."""
    m = getattr(output, "metrics", None)
    if m is None:
        return None
    if getattr(m, "time_in_queue", None) is not None:
        return float(m.time_in_queue)
    first, arrival = getattr(m, "first_scheduled_time", None), getattr(m, "arrival_time", None)
    if first is not None and arrival is not None:
        return max(0.0, float(first) - float(arrival))
    scheduled, queued = getattr(m, "scheduled_ts", 0.0), getattr(m, "queued_ts", 0.0)
    if scheduled and queued:
        return max(0.0, float(scheduled) - float(queued))
    return None


class VllmEngine:
    """vLLM's async engine, V0 or V1, with its state readable by model.py."""

    def __init__(self, engine_args: Mapping[str, Any], log: Any) -> None:
        """`engine_args`: AsyncEngineArgs keywords from config.pbtxt; `log(level, text)` goes to Triton's log."""
        self._requested = dict(engine_args)
        self._log = log
        self._engine: Any = None
        self._sink = _StatSink()
        self.kind = ""  # "v0" or "v1" once started
        self._sampling_keys: set[str] = set()
        self._in_flight = 0
        self._stale_logged = False
        self._client_error: type[Exception] | None = None  # vLLM's bad-request error when not a ValueError

    # --- lifecycle ---
    def build_args(self) -> Any:
        """AsyncEngineArgs from config.pbtxt, each key checked against the installed vLLM."""
        from vllm.engine.arg_utils import AsyncEngineArgs

        known = accepted_fields(AsyncEngineArgs)
        unknown = sorted(set(self._requested) - known)
        if unknown:
            raise ConfigError(
                f"vLLM {_version()} does not accept engine argument(s) {', '.join(unknown)} "
                "(AsyncEngineArgs): remove them from config.pbtxt or use a vLLM that has them"
            )
        args = dict(self._requested)
        if args.get("disable_log_stats"):
            raise ConfigError("engine argument disable_log_stats must stay false: the gauges come from vLLM's stats")
        if "disable_log_requests" in known and "enable_log_requests" not in known:
            args.setdefault("disable_log_requests", True)  # before 0.10.1; one log line per request otherwise
        try:
            return AsyncEngineArgs(**args)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"vLLM {_version()} refused the engine arguments: {e}") from None

    async def start(self) -> None:
        from vllm import SamplingParams
        from vllm.engine.async_llm_engine import AsyncLLMEngine

        self._sampling_keys = accepted_fields(SamplingParams)
        self._client_error = _client_error()
        args = self.build_args()
        v1_class = _v1_async_llm()
        if v1_class is not None and (AsyncLLMEngine is v1_class or _oracle_picks_v1(args)):
            if not _has_parameter(v1_class.from_engine_args, "stat_loggers"):
                # V1 before 0.8 takes no custom stat logger: its state cannot reach this process.
                self._engine = v1_class.from_engine_args(args)
                self.kind = "v1-no-stats"
            else:
                self._engine = v1_class.from_engine_args(args, stat_loggers=[_v1_logger_class(self._sink)])
                self.kind = "v1"
                self._sink.initialized()
        else:
            self._engine = AsyncLLMEngine.from_engine_args(args)
            self.kind = "v0"
        self._log("info", f"vLLM {_version()}: {self.describe()}")

    async def shutdown(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        # V1: stops the engine-core process(es). V0 (>= 0.6): stops the background loop.
        for name in ("shutdown", "shutdown_background_loop"):
            stop = getattr(engine, name, None)
            if callable(stop):
                result = stop()
                if inspect.isawaitable(result):
                    await result
                break

    def describe(self) -> str:
        return {
            "v0": "V0 engine (scheduler in this process); gauges read from its scheduler queues and KV blocks",
            "v1": "V1 engine (scheduler in the engine-core process); gauges from a stat logger (SchedulerStats)",
            "v1-no-stats": "V1 engine without custom stat loggers (vLLM < 0.8): engine gauges are not exported",
        }.get(self.kind, "not started")

    # --- state ---
    def stats(self) -> EngineStats | None:
        """The engine's state now, or None when it cannot be read (model.py then removes the gauges)."""
        engine = self._engine
        if engine is None or getattr(engine, "errored", False):
            return None
        if self.kind == "v0":
            return _v0_stats(engine)
        if self.kind != "v1":
            return None
        if self._in_flight and time.monotonic() - self._sink.last_record > STATS_STALE_SECONDS:
            if not self._stale_logged:
                self._log("error", f"vLLM sent no scheduler stats for {STATS_STALE_SECONDS:g} s while "
                                   f"{self._in_flight} requests were in flight: engine gauges withdrawn")
                self._stale_logged = True
            return None
        self._stale_logged = False
        return self._sink.total()

    # --- requests ---
    def check_sampling(self, sampling: Mapping[str, Any]) -> Any:
        """SamplingParams for a request, or ValueError naming the offending key (INVALID_ARG)."""
        from vllm import SamplingParams

        for key in sampling:
            if key in RESERVED_SAMPLING_KEYS or key.startswith("_"):
                raise ValueError(f"SAMPLING_PARAMETERS: {key} is set by the model, not by requests")
            if key not in self._sampling_keys:
                raise ValueError(f"SAMPLING_PARAMETERS: {key} is not a sampling parameter of vLLM {_version()}")
        errors = (TypeError, ValueError) + ((self._client_error,) if self._client_error else ())
        try:
            return SamplingParams(**sampling)
        except errors as e:  # vLLM's own validation (from 0.27 VLLMValidationError, not a ValueError)
            raise ValueError(f"SAMPLING_PARAMETERS: {e}") from None

    async def generate(self, prompt: str, sampling: Any, request_id: str) -> AsyncIterator[Progress]:
        """Yield cumulative outputs (vLLM's default output kind). Closing the generator early aborts."""
        finished = False
        self._in_flight += 1
        if self._in_flight == 1:
            self._sink.last_record = time.monotonic()  # the stale clock starts with the first request
        try:
            async for out in self._engine.generate(prompt, sampling, request_id):
                completions = sorted(out.outputs, key=lambda c: c.index)
                yield Progress(
                    tuple(c.text for c in completions),
                    sum(len(c.token_ids) for c in completions),
                    len(out.prompt_token_ids or ()),
                    _queue_seconds(out),
                )
            finished = True
        except Exception as e:
            if self._client_error is not None and isinstance(e, self._client_error):
                # 0.27+: a bad request (prompt longer than max_model_len, ...) is a VLLMClientError; model.py
                # answers INVALID_ARG for a ValueError, as vLLM raised before.
                raise ValueError(str(e)) from e
            raise
        finally:
            self._in_flight -= 1
            if not finished and self._engine is not None:
                # vLLM <= 0.5 only aborts on an exception, not when its generator is dropped: free the
                # sequence's batch slot and KV cache here, as Triton's own vllm_backend does.
                await self._engine.abort(request_id)


def _v1_async_llm() -> Any:
    try:
        from vllm.v1.engine.async_llm import AsyncLLM
    except ImportError:  # before 0.7
        return None
    return AsyncLLM


def _client_error() -> type[Exception] | None:
    """vLLM's base class of bad-request errors from 0.27 (VLLMValidationError, ...), which is not a ValueError."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # before 0.27 vLLM raises ValueError
        return None
    return VLLMClientError  # type: ignore[no-any-return]


def _oracle_picks_v1(args: Any) -> bool:
    """0.8-0.10: would AsyncLLMEngine.from_engine_args build a V1 engine? It decides on VLLM_USE_V1 after
    create_engine_config (whose oracle turns V1 off for unsupported settings when the variable is unset)."""
    try:
        import vllm.envs as envs
    except ImportError:
        return False
    if "VLLM_USE_V1" not in getattr(envs, "environment_variables", {}):
        return False
    args.create_engine_config()
    return bool(envs.VLLM_USE_V1)


def _has_parameter(func: Any, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _v0_stats(async_engine: Any) -> EngineStats | None:
    engine: Any = getattr(async_engine, "engine", None)
    scheduler = getattr(engine, "scheduler", None)
    if scheduler is None:
        return None
    # One scheduler per virtual engine from 0.5.1 (pipeline parallelism); a single one before.
    schedulers = scheduler if isinstance(scheduler, list) else [scheduler]
    # num_gpu_blocks is the whole cache: each of the pipeline_parallel_size schedulers holds 1/pp of it
    # (core/scheduler.py), and vLLM's own gauge is 1 - free/num_gpu_blocks (LLMEngine._get_stats).
    total_blocks = getattr(engine.cache_config, "num_gpu_blocks", None) or 0
    if not total_blocks:
        return None
    free = sum(s.block_manager.get_num_free_gpu_blocks() for s in schedulers)
    return EngineStats(
        sum(len(s.running) for s in schedulers),
        sum(len(s.waiting) for s in schedulers),
        min(1.0, max(0.0, 1.0 - free / total_blocks)),
    )


def parse_engine_args(text: str) -> dict[str, Any]:
    """The `engine_args` parameter: a JSON object of extra AsyncEngineArgs (like vllm_backend's model.json)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f'parameter "engine_args" is not JSON: {e}') from None
    if not isinstance(value, dict):
        raise ConfigError('parameter "engine_args" must be a JSON object, e.g. {"enable_prefix_caching": true}')
    return value


def visible_device(kind: str, device_id: str, tensor_parallel_size: int) -> str | None:
    """CUDA_VISIBLE_DEVICES for one KIND_GPU instance (None: leave it alone).

    Triton gives each instance its GPU as `model_instance_device_id`; without this every engine would take
    the pod's first GPU. When the variable already lists devices, the id indexes that list."""
    if kind != "GPU" or int(device_id) < 0:
        return None
    if tensor_parallel_size > 1:
        raise ConfigError(
            "KIND_GPU gives an instance one GPU but tensor_parallel_size is "
            f"{tensor_parallel_size}: use instance_group kind KIND_MODEL for multi-GPU models"
        )
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    index = int(device_id)
    if listed:
        if index >= len(listed):
            raise ConfigError(f"GPU {index} is not among CUDA_VISIBLE_DEVICES={','.join(listed)}")
        return listed[index]
    return str(index)
