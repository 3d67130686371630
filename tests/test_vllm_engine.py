"""vllm_engine.py against fake `vllm` packages, one per API shape of the vLLM lines Triton has shipped.

Each fake copies the names, signatures and call conventions of its line's real source (sdists unpacked at
/tmp/vsrc/vllm-<version>/); the comment beside it names the file:line it mirrors. Every module goes into
sys.modules through monkeypatch, so nothing outlives a test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import types
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import field, make_dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

_PATH = Path(__file__).resolve().parents[1] / "tritonobs" / "models" / "serving" / "vllm_engine.py"
_spec = importlib.util.spec_from_file_location("tritonobs_vllm_engine_under_test", _PATH)
assert _spec is not None and _spec.loader is not None
ve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ve)

VLLM_CONFIG = object()  # stands for VllmConfig: the adapter never looks inside


def _dc(name: str, required: str, optional: str = "", default: Any = 0) -> type:
    return make_dataclass(name, [*required.split(), *((n, Any, field(default=default)) for n in optional.split())])


Completion = _dc("CompletionOutput", "index text token_ids")  # vllm 0.4.3 vllm/outputs.py:11, 0.33.0 :59
Output = _dc("RequestOutput", "outputs prompt_token_ids", "metrics", None)  # vllm 0.4.3 vllm/outputs.py:67, 0.33.0 :137
# V0 metrics: vllm 0.4.3 vllm/sequence.py:84 (0.6.3.post1 :101)
RequestMetrics = _dc("RequestMetrics", "arrival_time last_token_time first_scheduled_time first_token_time time_in_queue")
# V1 metrics, on RequestOutput from 0.12 (vllm 0.12.0 vllm/v1/engine/output_processor.py:299): vllm 0.12.0
# vllm/v1/metrics/stats.py:188, vllm 0.33.0 vllm/v1/metrics/stats.py:259 (queued_ts/scheduled_ts engine-core monotonic)
RequestStateStats = _dc("RequestStateStats", "", "num_generation_tokens arrival_time queued_ts scheduled_ts")
SchedulerStats085 = _dc("SchedulerStats", "", "num_running_reqs num_waiting_reqs gpu_cache_usage")  # vllm 0.8.5 vllm/v1/metrics/stats.py:29
SchedulerStats010 = _dc("SchedulerStats", "", "num_running_reqs num_waiting_reqs kv_cache_usage")  # vllm 0.10.1.1 vllm/v1/metrics/stats.py:30
# vllm 0.33.0 vllm/v1/metrics/stats.py:223 (num_skipped_waiting_reqs :230, kv_cache_usage :238)
SchedulerStats033 = _dc("SchedulerStats", "", "num_running_reqs num_waiting_reqs num_skipped_waiting_reqs kv_cache_usage")
VLLMClientError = type("VLLMClientError", (Exception,), {})  # vllm 0.33.0 vllm/exceptions.py:20 (VLLMError :10 is an Exception)
VLLMValidationError = type("VLLMValidationError", (VLLMClientError,), {})  # vllm 0.33.0 vllm/exceptions.py:28


class StatLoggerBase085(ABC):  # vllm 0.8.5 vllm/v1/metrics/loggers.py:25
    @abstractmethod
    def __init__(self, vllm_config: Any, engine_index: int = 0): ...

    @abstractmethod
    def record(self, scheduler_stats: Any, iteration_stats: Any): ...

    def log(self):  # noqa: B027
        pass


class StatLoggerBase010(StatLoggerBase085):  # vllm 0.10.1.1 vllm/v1/metrics/loggers.py:24 (0.9.2 :25 adds the hook)
    @abstractmethod
    def record(self, scheduler_stats: Any, iteration_stats: Any, engine_idx: int = 0): ...

    @abstractmethod
    def log_engine_initialized(self): ...


class StatLoggerBase012(StatLoggerBase010):  # vllm 0.12.0 vllm/v1/metrics/loggers.py:37, vllm 0.33.0 :54
    @abstractmethod
    def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None, engine_idx: int = 0): ...

    def record_sleep_state(self, is_awake: int, level: int):  # noqa: B027
        pass


class FakeEngine:
    reg: Any = None  # install()'s registry, set on a per-test subclass
    dead = False  # V0 errored :412 (_errored_with set), V1 errored (engine core dead): vllm 0.33.0 async_llm.py:1385

    def __init__(self, engine_args: Any) -> None:
        self.engine_args, self.script, self.aborted = engine_args, [], []
        self.reg.engines.append(self)

    @property
    def errored(self) -> bool:
        return self.dead

    async def generate(self, prompt: Any, sampling_params: Any, request_id: str, *args: Any, **kwargs: Any):
        for item in self.script:
            if isinstance(item, BaseException):
                raise item
            yield item
            await asyncio.sleep(0)


class V0Engine(FakeEngine):
    """vllm 0.4.3 vllm/engine/async_llm_engine.py:301: from_engine_args :354, generate :594, abort :771, no
    shutdown; LLMEngine.scheduler one Scheduler (vllm/engine/llm_engine.py:280), num_gpu_blocks :322. From 0.5.1 a
    list, one per pipeline stage (vllm 0.6.3.post1 vllm/engine/llm_engine.py:421) holding num_gpu_blocks // pp
    blocks each (vllm/core/scheduler.py:323-325)."""

    scheduler_list = False

    def __init__(self, engine_args: Any) -> None:
        super().__init__(engine_args)
        self.engine = SimpleNamespace(cache_config=SimpleNamespace(num_gpu_blocks=100))
        self.set_schedulers((0, 0, 100))

    def set_schedulers(self, *states: tuple[int, int, int]) -> None:
        # Scheduler: vllm 0.4.3 vllm/core/scheduler.py:277 block_manager, :286 waiting, :289 running (deques);
        # get_num_free_gpu_blocks: vllm/core/block_manager_v1.py:648
        schedulers = [SimpleNamespace(running=deque(range(r)), waiting=deque(range(w)),
                                      block_manager=SimpleNamespace(get_num_free_gpu_blocks=lambda f=f: f))
                      for r, w, f in states]
        self.engine.scheduler = schedulers if self.scheduler_list else schedulers[0]

    @classmethod
    def from_engine_args(cls, engine_args: Any, start_engine_loop: bool = True, usage_context: Any = None):
        cls.reg.calls.append(("V0", {}))
        return cls(engine_args)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)


class V0EngineList(V0Engine):  # vllm 0.6.3.post1 vllm/engine/async_llm_engine.py:542, shutdown_background_loop :737
    scheduler_list, stopped = True, 0

    def shutdown_background_loop(self) -> None:
        self.stopped += 1


class V0EngineSwitching(V0EngineList):
    """0.8-0.10: V0's from_engine_args builds a V1 AsyncLLM itself when create_engine_config left VLLM_USE_V1 on
    (vllm 0.8.5 vllm/engine/async_llm_engine.py:668-681, vllm 0.10.1.1 vllm/engine/async_llm_engine.py:563-576)."""

    @classmethod
    def from_engine_args(cls, engine_args: Any, start_engine_loop: bool = True, usage_context: Any = None,
                         stat_loggers: Any = None):
        engine_args.create_engine_config(usage_context)
        if sys.modules["vllm.envs"].VLLM_USE_V1:
            return sys.modules["vllm.v1.engine.async_llm"].AsyncLLM.from_engine_args(engine_args)
        return super().from_engine_args(engine_args)


class V1Engine(FakeEngine):  # vllm 0.7.3 vllm/v1/engine/async_llm.py:36, from_engine_args :96: no stat_loggers
    record_style, init_hook, shutdowns = "", False, 0  # how vLLM calls record; log_engine_initialized (0.9+)

    def __init__(self, engine_args: Any, stat_loggers: Any = None) -> None:
        super().__init__(engine_args)
        # factory(vllm_config, engine_index) per data-parallel engine: vllm 0.8.5 vllm/v1/metrics/loggers.py:495,
        # 0.10.1.1 :661, 0.12.0 :328 (PerEngineStatLoggerAdapter), 0.33.0 :443
        dp = getattr(engine_args, "data_parallel_size", 1)
        self.loggers = {i: [factory(VLLM_CONFIG, i) for factory in stat_loggers or ()] for i in range(dp)}
        for logger in (lg for per_engine in self.loggers.values() for lg in per_engine if self.init_hook):
            logger.log_engine_initialized()

    @classmethod
    def from_engine_args(cls, engine_args: Any, engine_config: Any = None, start_engine_loop: bool = True,
                         usage_context: Any = None):
        cls.reg.calls.append(("V1", {}))
        return cls(engine_args)

    def emit(self, stats: Any, engine_idx: int = 0) -> None:
        for logger in self.loggers[engine_idx]:
            if self.record_style == "kw2":  # vllm 0.8.5 vllm/v1/engine/async_llm.py:422 (stat_loggers[engine_index])
                logger.record(scheduler_stats=stats, iteration_stats=None)
            elif self.record_style == "pos3":  # vllm 0.10.1.1 vllm/v1/metrics/loggers.py:680 (StatLoggerManager)
                logger.record(stats, None, engine_idx)
            else:  # vllm 0.12.0 vllm/v1/metrics/loggers.py:342, 0.33.0 :457 (PerEngineStatLoggerAdapter)
                logger.record(stats, None, mm_cache_stats=None, engine_idx=engine_idx)

    async def abort(self, request_id: str, internal: bool = False) -> None:  # vllm 0.33.0 async_llm.py:948
        self.aborted.append(request_id)

    def shutdown(self, timeout: float | None = None) -> None:  # vllm 0.7.3 async_llm.py:123; timeout: 0.33.0 :305
        self.shutdowns += 1


class V1EngineLoggers(V1Engine):  # vllm 0.8.5 vllm/v1/engine/async_llm.py:42, from_engine_args :161 (0.33.0 :279)
    record_style = "kw2"

    @classmethod
    def from_engine_args(cls, engine_args: Any, start_engine_loop: bool = True, usage_context: Any = None,
                         stat_loggers: Any = None):
        engine_args.create_engine_config(usage_context)
        cls.reg.calls.append(("V1", {"stat_loggers": stat_loggers}))
        return cls(engine_args, stat_loggers)


def _create_engine_config_oracle(self: Any, usage_context: Any = None, headless: bool = False) -> Any:
    # vllm 0.8.5 vllm/engine/arg_utils.py:1107-1116 (0.10.1.1 :1065-1074); the oracle falls back to V0 for
    # --scheduler-delay-factor (0.8.5 :1332, 0.10.1.1 :1391).
    envs = sys.modules["vllm.envs"]
    use_v1 = (envs.VLLM_USE_V1 or not envs.is_set("VLLM_USE_V1")) and self.scheduler_delay_factor == 0.0
    if envs.is_set("VLLM_USE_V1"):
        assert use_v1 == envs.VLLM_USE_V1
    else:
        envs.set_vllm_use_v1(use_v1)
    return VLLM_CONFIG


def _compilation_config_post_init(self: Any) -> None:  # vllm 0.33.0 vllm/engine/arg_utils.py:880-885
    unknown = sorted(set(self.compilation_config or ()) - {"mode", "cudagraph_capture_sizes"})
    if unknown:  # CompilationConfig(**dict) is a pydantic dataclass: its ValidationError is a ValueError
        raise ValueError(f"1 validation error for CompilationConfig\n{unknown[0]}\n  Unexpected keyword argument")


def sampling_class(names: str, error: type[Exception]) -> type:
    """SamplingParams taking exactly these keywords as inspect.signature reports them (__init__ up to 0.5,
    msgspec.Struct fields after); its validation raises the line's error type."""
    accepted = ("n presence_penalty frequency_penalty repetition_penalty temperature top_p top_k min_p seed stop "
                "stop_token_ids ignore_eos max_tokens min_tokens logprobs prompt_logprobs detokenize "
                "skip_special_tokens " + names).split()

    class SamplingParams:
        __signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
                                           for n in accepted])

        def __init__(self, **kwargs: Any) -> None:
            if set(kwargs) - set(accepted):
                raise TypeError(f"Unexpected keyword argument {sorted(set(kwargs) - set(accepted))[0]!r}")
            if kwargs.get("temperature", 1.0) < 0:
                raise error(f"temperature must be non-negative, got {kwargs['temperature']}.")
            self.__dict__.update(kwargs)

    return SamplingParams


def envs_module(default: str | None, environ: dict[str, str]) -> dict[str, Any]:
    """vllm/envs.py reads VLLM_USE_V1 lazily (vllm 0.7.3 vllm/envs.py:503 default "0", vllm 0.8.5 vllm/envs.py:530
    default "1"; __getattr__ :735, is_set :746, set_vllm_use_v1 :753); none before 0.7 and from 0.12."""
    variables = {} if default is None else {"VLLM_USE_V1": lambda: bool(int(environ.get("VLLM_USE_V1", default)))}

    def module_getattr(name: str) -> Any:
        if name not in variables:
            raise AttributeError(f"module 'vllm.envs' has no attribute {name!r}")
        return variables[name]()

    def set_vllm_use_v1(use_v1: bool) -> None:
        assert "VLLM_USE_V1" not in environ, "Should not call set_vllm_use_v1() if VLLM_USE_V1 is set explicitly"
        environ["VLLM_USE_V1"] = "1" if use_v1 else "0"

    return {"environment_variables": variables, "__getattr__": module_getattr,
            "is_set": lambda name: name in environ, "set_vllm_use_v1": set_vllm_use_v1}


class Line(NamedTuple):
    v0: type | None  # AsyncLLMEngine's own class; None from 0.11, where it is an alias of AsyncLLM
    v1: type | None  # vllm.v1.engine.async_llm.AsyncLLM; None before 0.7
    logger_base: type | None
    use_v1_default: str | None  # vllm/envs.py VLLM_USE_V1 default
    alias: str  # AsyncLLMEngine = AsyncLLM: "env" when VLLM_USE_V1 (0.7), "set" when set and true (0.8-0.10), "always"
    args: dict[str, Any]  # AsyncEngineArgs fields and methods beyond ARGS
    sampling: type


ARGS = {"model": None, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": None,
        "max_num_seqs": 256, "dtype": "auto", "enforce_eager": False, "enable_prefix_caching": False,
        "disable_log_stats": False, "create_engine_config": lambda self, usage_context=None: VLLM_CONFIG}
_BEST_OF = "best_of _real_n output_kind _all_stop_token_ids"
_ORACLE = {"scheduler_delay_factor": 0.0, "data_parallel_size": 1, "create_engine_config": _create_engine_config_oracle}
LINES = {
    # vllm 0.4.3 vllm/engine/arg_utils.py:670 (disable_log_requests :673); sampling_params.py:109 (best_of :112,
    # use_beam_search :121, ValueError :216)
    "0.4.3": Line(V0Engine, None, None, None, "", {"engine_use_ray": False, "disable_log_requests": False},
                  sampling_class("best_of use_beam_search length_penalty early_stopping", ValueError)),
    # vllm 0.6.3.post1 vllm/engine/arg_utils.py:1103 (:1105); sampling_params.py:94 msgspec.Struct (best_of :174,
    # output_kind :202, no use_beam_search)
    "0.6.3": Line(V0EngineList, None, None, None, "", {"disable_log_requests": False},
                  sampling_class(_BEST_OF, ValueError)),
    # vllm 0.7.3 vllm/engine/arg_utils.py:1397 (scheduler_delay_factor :170); async_llm_engine.py:1201-1204
    "0.7.3": Line(V0EngineList, V1Engine, None, "0", "env",
                  {"disable_log_requests": False, "scheduler_delay_factor": 0.0}, sampling_class(_BEST_OF, ValueError)),
    # vllm 0.8.5 vllm/engine/arg_utils.py:1628 (:1630), data_parallel_size :231; async_llm_engine.py:1258;
    # sampling_params.py:122 (best_of :209)
    "0.8.5": Line(V0EngineSwitching, V1EngineLoggers, StatLoggerBase085, "1", "set",
                  {"disable_log_requests": False, **_ORACLE}, sampling_class(_BEST_OF, ValueError)),
    # vllm 0.10.1.1 vllm/engine/arg_utils.py:1719 (enable_log_requests :1721, disable_log_requests a property :1728)
    "0.10.1": Line(V0EngineSwitching, type("AsyncLLM", (V1EngineLoggers,), {"record_style": "pos3", "init_hook": True}),
                   StatLoggerBase010, "1", "set", {"enable_log_requests": False, **_ORACLE,
                   "disable_log_requests": property(lambda self: not self.enable_log_requests)},
                   sampling_class(_BEST_OF, ValueError)),
    # vllm 0.12.0 vllm/engine/async_llm_engine.py:6; arg_utils.py:2026 (:2029); sampling_params.py:111 (no best_of)
    "0.12.0": Line(None, type("AsyncLLM", (V1EngineLoggers,), {"record_style": "kw4", "init_hook": True}),
                   StatLoggerBase012, None, "always", {"enable_log_requests": False, "data_parallel_size": 1},
                   sampling_class("output_kind _all_stop_token_ids", ValueError)),
    # vllm 0.33.0 vllm/engine/arg_utils.py:3244 (:3247), compilation_config :771; sampling_params.py:271
    # (skip_clone :392; VLLMValidationError :663)
    "0.33.0": Line(None, type("AsyncLLM", (V1EngineLoggers,), {"record_style": "kw4", "init_hook": True}),
                   StatLoggerBase012, None, "always", {"enable_log_requests": False, "data_parallel_size": 1,
                   "compilation_config": None, "__post_init__": _compilation_config_post_init},
                   sampling_class("output_kind skip_clone _eos_token_id _all_stop_token_ids", VLLMValidationError)),
}
MODULES = ("vllm", "vllm.envs", "vllm.exceptions", "vllm.engine", "vllm.engine.arg_utils", "vllm.engine.async_llm_engine",
           "vllm.v1", "vllm.v1.engine", "vllm.v1.engine.async_llm", "vllm.v1.metrics", "vllm.v1.metrics.loggers")


def install(monkeypatch: pytest.MonkeyPatch, version: str, environ: dict[str, str] | None = None) -> Any:
    """Put one line's fake `vllm` into sys.modules; returns its registry (constructor calls, engines built)."""
    line = LINES[version]
    reg = SimpleNamespace(calls=[], engines=[], line=line, environ=dict(environ or {}), logs=[])
    v0 = type("AsyncLLMEngine", (line.v0,), {"reg": reg}) if line.v0 else None
    v1 = type("AsyncLLM", (line.v1,), {"reg": reg}) if line.v1 else None
    envs = envs_module(line.use_v1_default, reg.environ)
    use_v1 = bool(envs["environment_variables"]) and envs["__getattr__"]("VLLM_USE_V1")
    aliased = line.alias == "always" or use_v1 and (line.alias == "env" or "VLLM_USE_V1" in reg.environ)
    members = {**ARGS, **line.args}
    methods = {k: v for k, v in members.items() if callable(v) or isinstance(v, property)}
    args_class = make_dataclass(  # AsyncEngineArgs is a dataclass on every line
        "AsyncEngineArgs", [(k, Any, field(default=v)) for k, v in members.items() if k not in methods], namespace=methods)
    contents: dict[str, dict[str, Any]] = {
        "vllm": {"__version__": version, "SamplingParams": line.sampling}, "vllm.envs": envs, "vllm.engine": {},
        "vllm.engine.arg_utils": {"AsyncEngineArgs": args_class},
        "vllm.engine.async_llm_engine": {"AsyncLLMEngine": v1 if aliased else v0},
    }
    if version == "0.33.0":
        contents["vllm.exceptions"] = {"VLLMClientError": VLLMClientError, "VLLMValidationError": VLLMValidationError}
    if v1 is not None:
        contents.update({"vllm.v1": {}, "vllm.v1.engine": {}, "vllm.v1.engine.async_llm": {"AsyncLLM": v1}})
    if line.logger_base is not None:
        contents.update({"vllm.v1.metrics": {}, "vllm.v1.metrics.loggers": {"StatLoggerBase": line.logger_base}})
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name, attrs in contents.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs, __path__=[])  # a package: a submodule the line lacks is ModuleNotFoundError
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        monkeypatch.setitem(sys.modules, name, module)
    return reg


def started(monkeypatch: pytest.MonkeyPatch, version: str, environ: dict[str, str] | None = None, **args: Any) -> Any:
    reg = install(monkeypatch, version, environ)
    engine = ve.VllmEngine({"model": "m", **args}, lambda level, text: reg.logs.append((level, text)))
    asyncio.run(engine.start())
    return engine, reg.engines[0], reg


def collect(engine: Any, request_id: str = "req-1") -> list[Any]:
    async def run() -> list[Any]:
        return [p async for p in engine.generate("prompt", object(), request_id)]

    return asyncio.run(run())


@pytest.mark.parametrize(("version", "environ", "args", "kind", "ctor"), [
    ("0.4.3", {}, {}, "v0", "V0"),
    ("0.6.3", {}, {}, "v0", "V0"),
    ("0.7.3", {}, {}, "v0", "V0"),
    ("0.7.3", {"VLLM_USE_V1": "1"}, {}, "v1-no-stats", "V1"),
    ("0.8.5", {}, {}, "v1", "V1"),
    ("0.8.5", {"VLLM_USE_V1": "0"}, {}, "v0", "V0"),
    ("0.8.5", {}, {"scheduler_delay_factor": 0.5}, "v0", "V0"),  # the oracle falls back to V0
    ("0.10.1", {}, {}, "v1", "V1"),
    ("0.10.1", {"VLLM_USE_V1": "0"}, {}, "v0", "V0"),
    ("0.12.0", {}, {}, "v1", "V1"),
    ("0.33.0", {}, {}, "v1", "V1"),
])
def test_engine_kind_and_constructor(monkeypatch, version, environ, args, kind, ctor):
    engine, fake, reg = started(monkeypatch, version, environ, **args)
    assert engine.kind == kind
    assert [c[0] for c in reg.calls] == [ctor]
    assert type(fake).__mro__[1] is (reg.line.v0 if ctor == "V0" else reg.line.v1)
    if kind == "v1":
        [factory] = reg.calls[0][1]["stat_loggers"]
        assert issubclass(factory, reg.line.logger_base)
    else:  # no stat_loggers for V0, nor for V1 before 0.8, whose state never reaches this process
        assert reg.calls[0][1] == {}
        assert engine.stats() is None if kind == "v1-no-stats" else engine.stats() == (0, 0, 0.0)
    assert reg.logs[0][0] == "info" and reg.logs[0][1].startswith(f"vLLM {version}: ")


def test_v0_single_scheduler_043(monkeypatch):
    assert ve.VllmEngine({"model": "m"}, print).stats() is None  # not started
    engine, fake, _ = started(monkeypatch, "0.4.3")
    fake.set_schedulers((3, 2, 40))
    assert engine.stats() == (3, 2, 0.6)
    fake.engine.cache_config.num_gpu_blocks = None  # not profiled yet
    assert engine.stats() is None
    fake.engine.cache_config.num_gpu_blocks = 100
    fake.dead = True  # the background loop died (_errored_with set)
    assert engine.stats() is None
    fake.dead = False
    fake.engine = SimpleNamespace()  # engine_use_ray: .engine is a Ray actor handle, no scheduler in this process
    assert engine.stats() is None


@pytest.mark.parametrize(("version", "environ"), [("0.6.3", {}), ("0.8.5", {"VLLM_USE_V1": "0"})])
def test_v0_scheduler_list_with_pipeline_parallelism(monkeypatch, version, environ):
    engine, fake, _ = started(monkeypatch, version, environ)
    fake.set_schedulers((2, 1, 30), (1, 3, 20))  # pp=2: each stage holds 100 // 2 = 50 blocks
    assert engine.stats() == (3, 4, 0.5)
    fake.set_schedulers((0, 0, 50), (0, 0, 50))
    assert engine.stats() == (0, 0, 0.0)


@pytest.mark.parametrize(("version", "dp", "emits", "expected"), [
    ("0.8.5", 1, [(SchedulerStats085(4, 2, 0.375), 0)], (4, 2, 0.375)),
    ("0.10.1", 2, [(SchedulerStats010(2, 1, 0.25), 0), (SchedulerStats010(3, 4, 0.75), 1), (None, 1)], (5, 5, 0.5)),
    ("0.12.0", 2, [(SchedulerStats010(2, 1, 0.25), 0), (SchedulerStats010(3, 4, 0.75), 1)], (5, 5, 0.5)),
    ("0.33.0", 1, [(SchedulerStats033(2, 1, 2, 0.5), 0)], (2, 3, 0.5)),
    ("0.33.0", 2, [(SchedulerStats033(1, 0, 1, 0.2), 0), (SchedulerStats033(6, 2, 3, 0.6), 1)], (7, 6, 0.4)),
])
def test_v1_stats_from_stat_logger(monkeypatch, version, dp, emits, expected):
    engine, fake, _ = started(monkeypatch, version, data_parallel_size=dp)
    assert engine.stats() == (0, 0, 0.0)  # just started: idle, not unknown
    for stats, engine_idx in emits:
        fake.emit(stats, engine_idx)
    running, waiting, kv = engine.stats()
    assert (running, waiting) == expected[:2] and kv == pytest.approx(expected[2])
    fake.dead = True
    assert engine.stats() is None


@pytest.mark.parametrize("version", ["0.8.5", "0.10.1", "0.12.0", "0.33.0"])
def test_log_engine_initialized_is_the_idle_state(monkeypatch, version):
    install(monkeypatch, version)
    sink = ve._StatSink()
    logger = ve._v1_logger_class(sink)(VLLM_CONFIG, 0)  # instantiable: every abstract method of the line defined
    assert isinstance(logger, LINES[version].logger_base)
    assert sink.total() is None
    logger.log_engine_initialized()
    assert sink.total() == (0, 0, 0.0)


def test_v1_stats_go_stale_while_requests_wait(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(ve, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    engine, fake, reg = started(monkeypatch, "0.33.0")
    fake.script = [Output([Completion(0, "a", [1])], [9])] * 2
    clock[0] += 100.0
    assert engine.stats() == (0, 0, 0.0)  # idle for long: no request waits on the stats, still readable

    async def in_flight() -> None:
        gen = engine.generate("p", object(), "r1")
        await gen.__anext__()  # one request in flight from t=1100
        clock[0] += 10.0
        fake.emit(SchedulerStats033(1, 0, 0, 0.125))
        assert engine.stats() == (1, 0, 0.125)
        clock[0] += ve.STATS_STALE_SECONDS + 0.5
        assert engine.stats() is None
        assert engine.stats() is None
        fake.emit(SchedulerStats033(1, 2, 0, 0.25))
        assert engine.stats() == (1, 2, 0.25)
        await gen.aclose()

    asyncio.run(in_flight())
    assert [level for level, text in reg.logs if "no scheduler stats" in text] == ["error"]


@pytest.mark.parametrize(("version", "args", "match"), [
    ("0.33.0", {"scheduler_delay_factor": 0.5}, "vLLM 0.33.0 does not accept engine argument\\(s\\) scheduler_delay_factor "),
    ("0.33.0", {"disable_log_requests": True}, "vLLM 0.33.0 does not accept engine argument\\(s\\) disable_log_requests "),
    ("0.10.1", {"disable_log_requests": True}, "vLLM 0.10.1 does not accept engine argument\\(s\\) disable_log_requests "),
    ("0.4.3", {"data_parallel_size": 2, "bogus": 1}, "does not accept engine argument\\(s\\) bogus, data_parallel_size "),
    ("0.33.0", {"disable_log_stats": True}, "disable_log_stats must stay false"),
    ("0.33.0", {"compilation_config": {"bogus": 1}}, "vLLM 0.33.0 refused the engine arguments: .*CompilationConfig\nbogus"),
])
def test_engine_argument_refused(monkeypatch, version, args, match):
    install(monkeypatch, version)
    with pytest.raises(ve.ConfigError, match=match):
        ve.VllmEngine({"model": "m", **args}, print).build_args()


@pytest.mark.parametrize(("version", "given", "expected"), [
    ("0.4.3", {}, {"disable_log_requests": True}),
    ("0.4.3", {"disable_log_requests": False}, {"disable_log_requests": False}),
    ("0.8.5", {}, {"disable_log_requests": True}),
    ("0.10.1", {}, {"enable_log_requests": False}),
    ("0.33.0", {"compilation_config": {"mode": 3}}, {"enable_log_requests": False}),
])
def test_request_logging_off_through_the_lines_own_field(monkeypatch, version, given, expected):
    install(monkeypatch, version)
    args = ve.VllmEngine({"model": "m", **given}, print).build_args()
    assert {k: v for k, v in vars(args).items() if k.endswith("log_requests")} == expected


@pytest.mark.parametrize(("version", "sampling", "error"), [
    ("0.4.3", {"use_beam_search": True, "best_of": 2}, None),
    ("0.6.3", {"use_beam_search": True}, "use_beam_search is not a sampling parameter of vLLM 0.6.3"),
    ("0.8.5", {"best_of": 2}, None),
    ("0.10.1", {"best_of": 2, "top_k": 5}, None),
    ("0.12.0", {"best_of": 2}, "best_of is not a sampling parameter of vLLM 0.12.0"),
    ("0.33.0", {"best_of": 2}, "best_of is not a sampling parameter of vLLM 0.33.0"),
    ("0.33.0", {"use_beam_search": True}, "use_beam_search is not a sampling parameter of vLLM 0.33.0"),
    ("0.33.0", {"top_k": 5, "seed": 7}, None),
    ("0.33.0", {"output_kind": 1}, "output_kind is set by the model, not by requests"),
    ("0.33.0", {"skip_clone": True}, "skip_clone is set by the model, not by requests"),
    ("0.33.0", {"_eos_token_id": 2}, "_eos_token_id is set by the model, not by requests"),
    ("0.8.5", {"detokenize": False}, "detokenize is set by the model, not by requests"),
    # vLLM's own validation: ValueError up to 0.12, VLLMValidationError (not a ValueError) from 0.27
    ("0.4.3", {"temperature": -1.0}, "temperature must be non-negative, got -1.0."),
    ("0.8.5", {"temperature": -1.0}, "temperature must be non-negative, got -1.0."),
    ("0.33.0", {"temperature": -1.0}, "temperature must be non-negative, got -1.0."),
])
def test_sampling_checked_against_the_installed_line(monkeypatch, version, sampling, error):
    engine, _, _ = started(monkeypatch, version)
    if error is None:
        params = engine.check_sampling({**sampling, "max_tokens": 8})
        assert vars(params) == {**sampling, "max_tokens": 8}
    else:
        with pytest.raises(ValueError) as raised:
            engine.check_sampling(sampling)
        assert str(raised.value) == f"SAMPLING_PARAMETERS: {error}"


def test_generate_v0_cumulative_texts_and_queue_time(monkeypatch):
    engine, fake, _ = started(monkeypatch, "0.4.3")
    fake.script = [
        Output([Completion(1, "B", [7]), Completion(0, "A", [5])], [1, 2, 3], RequestMetrics(100.0, 100.0, None, None, None)),
        Output([Completion(0, "A b", [5, 6]), Completion(1, "B c d", [7, 8, 9])], [1, 2, 3],
               RequestMetrics(100.0, 101.0, 100.25, 100.5, 0.25)),
    ]
    assert collect(engine) == [(("A", "B"), 2, 3, None), (("A b", "B c d"), 5, 3, 0.25)]
    assert fake.aborted == []  # finished: nothing to abort
    assert ve._queue_seconds(Output([], [], RequestMetrics(100.0, 100.0, 100.5, None, None))) == 0.5


@pytest.mark.parametrize(("version", "metrics", "queue"), [
    ("0.8.5", None, None),  # V1 RequestOutput carries no metrics before 0.12
    ("0.12.0", RequestStateStats(1, 1.7e9, 50.0, 50.75), 0.75),
    ("0.33.0", RequestStateStats(1, 1.7e9, 50.0, 0.0), None),  # queued, not yet scheduled
    ("0.33.0", RequestStateStats(1, 1.7e9, 50.0, 52.5), 2.5),
])
def test_generate_v1_queue_time(monkeypatch, version, metrics, queue):
    engine, fake, _ = started(monkeypatch, version)
    fake.script = [Output([Completion(0, "hi", [4, 5])], [1], metrics)]
    assert collect(engine) == [(("hi",), 2, 1, queue)]


@pytest.mark.parametrize(("version", "environ"), [("0.4.3", {}), ("0.8.5", {"VLLM_USE_V1": "0"}), ("0.33.0", {})])
def test_closing_early_aborts_once(monkeypatch, version, environ):
    engine, fake, _ = started(monkeypatch, version, environ)
    fake.script = [Output([Completion(0, "a", [1])], [1]), Output([Completion(0, "a b", [1, 2])], [1])]

    async def first_then_close() -> Any:
        gen = engine.generate("prompt", object(), "req-7")
        first = await gen.__anext__()
        await gen.aclose()
        return first

    assert asyncio.run(first_then_close()) == (("a",), 1, 1, None)
    assert fake.aborted == ["req-7"]
    assert collect(engine, "req-8") == [(("a",), 1, 1, None), (("a b",), 2, 1, None)]
    assert fake.aborted == ["req-7"]


def test_request_error_from_vllm_033_is_a_value_error(monkeypatch):
    engine, fake, _ = started(monkeypatch, "0.33.0")
    fake.script = [VLLMValidationError("The decoder prompt (length 9000) is longer than the maximum model length of 4096.")]
    with pytest.raises(ValueError, match=r"^The decoder prompt \(length 9000\) is longer than the maximum model length"):
        collect(engine, "req-9")
    assert fake.aborted == ["req-9"]
    fake.script = [RuntimeError("engine core died")]
    with pytest.raises(RuntimeError, match="engine core died"):
        collect(engine, "req-10")


@pytest.mark.parametrize(("version", "counter", "coroutine"), [
    ("0.33.0", "shutdowns", False), ("0.12.0", "shutdowns", False), ("0.6.3", "stopped", False), ("0.4.3", None, False),
    ("0.33.0", "shutdowns", True),  # no released line has an async shutdown: the adapter awaits one if it appears
])
def test_shutdown(monkeypatch, version, counter, coroutine):
    engine, fake, _ = started(monkeypatch, version)
    if coroutine:
        async def shutdown() -> None:
            await asyncio.sleep(0)
            fake.shutdowns += 1

        fake.shutdown = shutdown
    asyncio.run(engine.shutdown())
    asyncio.run(engine.shutdown())  # a second call has nothing left to stop
    assert counter is None or getattr(fake, counter) == 1
    assert engine.stats() is None


@pytest.mark.parametrize(("kind", "device", "tp", "visible", "expected"), [
    ("GPU", "1", 1, None, "1"),
    ("GPU", "1", 1, "4,6", "6"),
    ("GPU", "0", 1, " 3 , 5 ", "3"),
    ("GPU", "-1", 1, None, None),
    ("CPU", "0", 1, "4,6", None),
    ("MODEL", "0", 4, None, None),
    ("GPU", "2", 1, "4,6", "GPU 2 is not among CUDA_VISIBLE_DEVICES=4,6"),
    ("GPU", "0", 2, None, "tensor_parallel_size is 2: use instance_group kind KIND_MODEL"),
])
def test_visible_device(monkeypatch, kind, device, tp, visible, expected):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    if expected is not None and " " in expected:
        with pytest.raises(ve.ConfigError, match=expected):
            ve.visible_device(kind, device, tp)
    else:
        assert ve.visible_device(kind, device, tp) == expected


def test_parse_engine_args():
    assert ve.parse_engine_args('{"enable_prefix_caching": true, "max_num_batched_tokens": 4096}') == {
        "enable_prefix_caching": True, "max_num_batched_tokens": 4096}
    for text, error in (("{enable_prefix_caching: true}", "is not JSON"), ("[1, 2]", "must be a JSON object"),
                        ("null", "must be a JSON object"), ('"x"', "must be a JSON object")):
        with pytest.raises(ve.ConfigError, match=f'^parameter "engine_args" {error}'):
            ve.parse_engine_args(text)
