"""A simulated vLLM engine for the lab: continuous batching on a CPU, no GPU and no weights.

`build_lab_repository` copies this file, unchanged, beside model.py in a lab model repository; model.py
loads it when its `engine` parameter is `simulated`. It therefore imports the standard library only.

Model (vLLM 0.4-0.6 "v0" scheduler, no chunked prefill):
- Requests wait in a FIFO. Each step first admits waiting requests while the batch has room
  (`max_num_seqs`), the KV cache has room for the prompt, and the step's prefill token budget lasts;
  a step that admits anyone is a prefill step, costing `prefill_seconds_per_token` per prompt token,
  and gives each admitted request its first token.
- Otherwise the step is a decode step: every running request gets one token; the step costs
  `decode_step_seconds + decode_seconds_per_seq * batch`.
- A running request holds prompt + generated tokens in the KV cache. When the next decode step would
  overflow the cache, the newest requests are preempted (recompute): their cache is freed and they go
  back to the head of the queue, to be prefilled again with prompt + generated tokens.
- Tokens are words (the tokenizer is `str.split`); generated words come from a fixed vocabulary.

Simulated time runs `time_scale` times faster than published numbers suggest (wall = simulated x
time_scale), so a lab run with hundreds of requests takes seconds.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

PARAMETER_PREFIX = "sim_"


@dataclass(frozen=True)
class SimParams:
    """Engine constants. Defaults: Llama-2-7B in fp16 on one A10G (24 GB, 600 GB/s, 125 TFLOPS fp16)
    with vLLM defaults and gpu_memory_utilization 0.8 (the example stack)."""

    # Wall seconds per simulated second. 1.0 is real time; the lab repository uses 0.1.
    time_scale: float = 1.0
    # vLLM's default --max-num-seqs.
    max_num_seqs: int = 256
    # 0.8 x 24 GB = 19.2 GB, minus 13.5 GB of weights and ~1 GB of activations leaves ~4.7 GB; one
    # Llama-2-7B token of KV is 2 x 32 layers x 4096 x 2 bytes = 512 KiB -> ~9,000 tokens. vLLM rounds to
    # 16-token blocks and logs ~550 blocks on this GPU; 512 blocks = 8192 tokens.
    kv_cache_tokens: int = 8192
    # Prefill is compute bound: 2 x 7e9 FLOP per token at ~40% of 125 TFLOPS is ~0.28 ms.
    prefill_seconds_per_token: float = 0.0003
    # Decode is memory bound: each step reads 13.5 GB of weights at 600 GB/s (~22 ms), plus launch
    # overhead with enforce_eager (no CUDA graphs): ~25 ms, i.e. ~40 tokens/s for one stream.
    decode_step_seconds: float = 0.025
    # Each running sequence adds KV reads and sampling: published A10G runs reach ~350 tokens/s over 16
    # streams (~45 ms per step), i.e. ~1.2 ms per sequence.
    decode_seconds_per_seq: float = 0.0012
    # Prompt tokens one prefill step may take; 0 = vLLM's default max(max_model_len, 2048).
    max_num_batched_tokens: int = 0

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> SimParams:
        """Read `sim_*` keys (config.pbtxt parameters); other keys are not ours and are ignored."""
        kinds = {f.name: (int if f.type == "int" else float) for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, text in parameters.items():
            if not key.startswith(PARAMETER_PREFIX):
                continue
            name = key.removeprefix(PARAMETER_PREFIX)
            if name not in kinds:
                raise ValueError(f'unknown parameter "{key}" (known: {", ".join(parameter_keys())})')
            try:
                values[name] = kinds[name](text)
            except ValueError:
                raise ValueError(f'parameter "{key}" is not a number: "{text}"') from None
        params = cls(**values)
        params.check()
        return params

    def check(self) -> None:
        may_be_zero = ("time_scale", "max_num_batched_tokens", "decode_seconds_per_seq")
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (value == 0 and f.name not in may_be_zero):
                bound = ">= 0" if f.name in may_be_zero else "> 0"
                raise ValueError(f'parameter "{PARAMETER_PREFIX}{f.name}" must be {bound} (got {value})')

    def as_parameters(self) -> dict[str, str]:
        """The config.pbtxt form: {'sim_time_scale': '1.0', ...}."""
        return {PARAMETER_PREFIX + f.name: str(getattr(self, f.name)) for f in fields(self)}


def parameter_keys() -> list[str]:
    return [PARAMETER_PREFIX + f.name for f in fields(SimParams)]


def count_tokens(text: str) -> int:
    """The simulation's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


_VOCABULARY = (
    "the",
    "model",
    "answers",
    "briefly",
    "and",
    "the",
    "engine",
    "streams",
    "each",
    "token",
    "while",
    "other",
    "requests",
    "wait",
    "for",
    "a",
    "free",
    "slot",
    "in",
    "the",
    "running",
    "batch",
    "so",
    "latency",
    "grows",
    "with",
    "load",
    "until",
    "the",
    "autoscaler",
    "adds",
    "another",
    "replica",
)


def token_text(prompt: str, index: int) -> str:
    """The `index`-th generated word for a prompt, with its leading space (deterministic)."""
    word = _VOCABULARY[(zlib.crc32(prompt.encode()) + 7 * index) % len(_VOCABULARY)]
    return word if index == 0 else " " + word


@dataclass
class _Sequence:
    request_id: str
    prompt_tokens: int
    max_tokens: int
    generated: int = 0
    cached: int = 0  # tokens held in the KV cache; 0 while waiting
    aborted: bool = False


@dataclass(frozen=True)
class Step:
    kind: Literal["prefill", "decode"]
    request_ids: tuple[str, ...]
    seconds: float  # simulated seconds this step takes


@dataclass(frozen=True)
class TokenEvent:
    request_id: str
    index: int  # 0-based position of the token in the request's output
    finished: bool


class Scheduler:
    """The batching state machine, free of clocks: `begin_step` plans a step and says how long it takes,
    `finish_step` applies it once that time has passed. Tests drive it directly with virtual time."""

    def __init__(self, params: SimParams, max_model_len: int) -> None:
        if params.kv_cache_tokens < max_model_len:
            # vLLM refuses to start in this case too.
            raise ValueError(
                f"sim_kv_cache_tokens ({params.kv_cache_tokens}) is smaller than max_model_len ({max_model_len})"
            )
        self.params = params
        self.max_model_len = max_model_len
        self.batched_tokens = params.max_num_batched_tokens or max(max_model_len, 2048)
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._by_id: dict[str, _Sequence] = {}
        self._in_flight: Step | None = None
        self.kv_used = 0
        self.preemptions = 0

    # --- what the gauges show ---
    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def kv_usage(self) -> float:
        return self.kv_used / self.params.kv_cache_tokens

    # --- requests ---
    def add(self, request_id: str, prompt_tokens: int, max_tokens: int) -> None:
        if request_id in self._by_id:
            raise ValueError(f"request id {request_id!r} is already in use")
        if prompt_tokens < 1:
            raise ValueError("the prompt is empty")
        if prompt_tokens >= self.max_model_len:
            raise ValueError(
                f"prompt of {prompt_tokens} tokens does not fit max_model_len {self.max_model_len}"
            )
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1 (got {max_tokens})")
        seq = _Sequence(request_id, prompt_tokens, min(max_tokens, self.max_model_len - prompt_tokens))
        self._by_id[request_id] = seq
        self._waiting.append(seq)

    def abort(self, request_id: str) -> None:
        """Forget a request (client gone). No-op for unknown or finished ones."""
        seq = self._by_id.get(request_id)
        if seq is None:
            return
        seq.aborted = True
        if seq in self._waiting:
            self._waiting.remove(seq)
            del self._by_id[request_id]
        elif self._in_flight is None:
            self._release(seq)

    # --- steps ---
    def begin_step(self) -> Step | None:
        """Plan the next step, or None when idle."""
        assert self._in_flight is None, "finish the step in flight first"
        admitted = self._admit()
        if admitted:
            tokens = sum(s.cached for s in admitted)
            step = Step(
                "prefill",
                tuple(s.request_id for s in admitted),
                tokens * self.params.prefill_seconds_per_token,
            )
        elif self._running:
            # Each running sequence appends one token: make room by preempting the newest.
            while self.kv_used + len(self._running) > self.params.kv_cache_tokens:
                self._preempt(self._running[-1])
            seconds = self.params.decode_step_seconds + self.params.decode_seconds_per_seq * len(
                self._running
            )
            step = Step("decode", tuple(s.request_id for s in self._running), seconds)
        else:
            return None
        self._in_flight = step
        return step

    def finish_step(self, step: Step) -> list[TokenEvent]:
        """Apply a planned step: one token for each of its sequences still running."""
        assert step is self._in_flight, "not the step in flight"
        self._in_flight = None
        events: list[TokenEvent] = []
        for request_id in step.request_ids:
            seq = self._by_id.get(request_id)
            if seq is None or seq not in self._running:
                continue
            if seq.aborted:
                self._release(seq)
                continue
            seq.generated += 1
            seq.cached += 1
            self.kv_used += 1
            finished = seq.generated >= seq.max_tokens
            events.append(TokenEvent(request_id, seq.generated - 1, finished))
            if finished:
                self._release(seq)
        return events

    def _admit(self) -> list[_Sequence]:
        admitted: list[_Sequence] = []
        budget = self.batched_tokens
        while self._waiting and len(self._running) < self.params.max_num_seqs:
            seq = self._waiting[0]
            need = seq.prompt_tokens + seq.generated  # a preempted sequence recomputes its output too
            # +1: room for the token this prefill produces.
            if self.kv_used + need + 1 > self.params.kv_cache_tokens:
                break
            if admitted and need > budget:
                break
            self._waiting.popleft()
            seq.cached = need
            self.kv_used += need
            budget -= need
            self._running.append(seq)
            admitted.append(seq)
        return admitted

    def _preempt(self, seq: _Sequence) -> None:
        self._running.remove(seq)
        self.kv_used -= seq.cached
        seq.cached = 0
        self._waiting.appendleft(seq)
        self.preemptions += 1

    def _release(self, seq: _Sequence) -> None:
        if seq in self._running:
            self._running.remove(seq)
        self.kv_used -= seq.cached
        seq.cached = 0
        self._by_id.pop(seq.request_id, None)


class Progress(NamedTuple):
    """A request's output so far: the same fields as model.py's vLLM adapter yields (vllm_engine.Progress)."""

    texts: tuple[str, ...]  # cumulative text of each completion (the simulation makes one)
    tokens: int
    prompt_tokens: int
    queue_seconds: float | None


class EngineStats(NamedTuple):
    running: int
    waiting: int
    kv_usage: float  # 0-1


# The sampling keys of current vLLM (0.32 SamplingParams): the simulation refuses the same unknown keys a
# real engine would (best_of, use_beam_search), so the lab exercises model.py's INVALID_ARG path.
SAMPLING_KEYS = frozenset({
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature", "top_p", "top_k",
    "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens", "min_tokens", "logprobs",
    "prompt_logprobs", "skip_special_tokens", "spaces_between_special_tokens", "include_stop_str_in_output",
    "logit_bias", "allowed_token_ids", "bad_words", "extra_args", "structured_outputs",
})

Sleep = Callable[[float], Awaitable[None]]


class SimEngine:
    """The asyncio face of `Scheduler`, with the same interface as model.py's vLLM engine adapter."""

    kind = "simulated"

    def __init__(self, params: SimParams, max_model_len: int, *, sleep: Sleep = asyncio.sleep) -> None:
        self.params = params
        self.scheduler = Scheduler(params, max_model_len)
        self._sleep = sleep
        self._queues: dict[str, asyncio.Queue[TokenEvent]] = {}
        self._admitted: dict[str, float] = {}  # request id -> loop time of its first prefill
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str], max_model_len: int) -> SimEngine:
        return cls(SimParams.from_parameters(parameters), max_model_len)

    def describe(self) -> str:
        return f"simulated engine (time scale {self.params.time_scale:g}); gauges read from its scheduler"

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="sim-engine")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def stats(self) -> EngineStats | None:
        if self._task is None or self._task.done():
            return None  # not started, or the loop died: unreadable, never a silent 0
        s = self.scheduler
        return EngineStats(s.running, s.waiting, s.kv_usage)

    def check_sampling(self, sampling: Mapping[str, Any]) -> dict[str, Any]:
        for key in sampling:
            if key not in SAMPLING_KEYS:
                raise ValueError(f"SAMPLING_PARAMETERS: {key} is not a sampling parameter of the simulated engine")
        if int(sampling.get("n", 1)) != 1:
            raise ValueError("SAMPLING_PARAMETERS: n: the simulated engine makes one completion per request")
        max_tokens = int(sampling.get("max_tokens", 16))  # vLLM's default
        if max_tokens < 1:
            raise ValueError(f"SAMPLING_PARAMETERS: max_tokens must be at least 1, got {max_tokens}")
        return dict(sampling)

    async def generate(
        self, prompt: str, sampling: Mapping[str, Any], request_id: str
    ) -> AsyncIterator[Progress]:
        """Stream one word per token, cumulatively. Closing the iterator early aborts the request."""
        assert self._wake is not None, "start() the engine first"
        prompt_tokens = count_tokens(prompt)
        queue: asyncio.Queue[TokenEvent] = asyncio.Queue()
        added = asyncio.get_running_loop().time()
        self.scheduler.add(request_id, prompt_tokens, int(sampling.get("max_tokens", 16)))
        self._queues[request_id] = queue
        self._wake.set()
        text = ""
        try:
            while True:
                event = await queue.get()
                text += token_text(prompt, event.index)
                admitted = self._admitted.get(request_id)
                waited = None if admitted is None else max(0.0, admitted - added)
                yield Progress((text,), event.index + 1, prompt_tokens, waited)
                if event.finished:
                    return
        finally:
            del self._queues[request_id]
            self._admitted.pop(request_id, None)
            self.scheduler.abort(request_id)

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            step = self.scheduler.begin_step()
            if step is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if step.kind == "prefill":
                for request_id in step.request_ids:
                    self._admitted.setdefault(request_id, loop.time())
            await self._sleep(step.seconds * self.params.time_scale)
            for event in self.scheduler.finish_step(step):
                queue = self._queues.get(event.request_id)
                if queue is not None:
                    queue.put_nowait(event)
