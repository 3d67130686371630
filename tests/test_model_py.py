"""model.py's request-side rules, without a server: response styles, sampling input, the blueprint's variables.

model.py is imported as the Python-backend stub imports it: with Triton's own triton_python_backend_utils
(shipped in the nvidia-pytriton wheel) on the path. Its engine-side behaviour runs on a real tritonserver in
tests/integration (simulated engine and real vLLM)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SERVING = Path(__file__).resolve().parent.parent / "tritonobs" / "models" / "serving"


@pytest.fixture(scope="module")
def model() -> ModuleType:
    import pytriton

    backend = str(Path(pytriton.__file__).parent / "tritonserver" / "backends" / "python")
    sys.path.insert(0, backend)
    try:
        spec = importlib.util.spec_from_file_location("tritonobs_test_model_py", SERVING / "model.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # The stub adds this exception class to triton_python_backend_utils when it starts (pb_stub.cc).
        module.pb_utils.TritonModelException = type("TritonModelException", (Exception,), {})
        return module
    finally:
        sys.path.remove(backend)


def style(model: ModuleType, stream_text: str, prompt_echo: str) -> object:
    return model.ResponseStyle(
        {"stream_text": stream_text, "prompt_echo": prompt_echo, "sampling_from_request_parameters": "true"}
    )


def stream(model: ModuleType, s: object, prompt: str, updates: list[tuple[str, ...]]) -> list[list[str] | None]:
    sent: list[str] = [""] * len(updates[0])
    return [s.streamed(prompt, texts, sent) for texts in updates]  # type: ignore[attr-defined]


UPDATES = [("He",), ("Hello",), ("Hello",), ("Hello there",)]


def test_the_blueprints_style_streams_prompt_and_text_so_far(model: ModuleType) -> None:
    s = style(model, "cumulative", "always")
    assert stream(model, s, "Q: ", UPDATES) == [["Q: He"], ["Q: Hello"], None, ["Q: Hello there"]]
    assert s.final("Q: ", ("Hello there",)) == ["Q: Hello there"]  # type: ignore[attr-defined]


def test_the_official_backends_style_streams_deltas_and_echoes_only_unstreamed(model: ModuleType) -> None:
    s = style(model, "delta", "non_streaming")
    assert stream(model, s, "Q: ", UPDATES) == [["He"], ["llo"], None, [" there"]]
    assert s.final("Q: ", ("Hello there",)) == ["Q: Hello there"]  # type: ignore[attr-defined]
    bare = style(model, "delta", "never")
    assert bare.final("Q: ", ("Hello there",)) == ["Hello there"]  # type: ignore[attr-defined]
    first_only = style(model, "delta", "always")
    assert stream(model, first_only, "Q: ", UPDATES) == [["Q: He"], ["llo"], None, [" there"]]


def test_n_completions_stream_side_by_side(model: ModuleType) -> None:
    s = style(model, "delta", "never")
    updates = [("a", ""), ("ab", "x"), ("ab", "xy")]
    assert stream(model, s, "p", updates) == [["a", ""], ["b", "x"], ["", "y"]]
    assert style(model, "cumulative", "always").final("p", ("ab", "xy")) == ["pab", "pxy"]  # type: ignore[attr-defined]


def test_sampling_input_types_and_triton_keys(model: ModuleType) -> None:
    # The seed client sends numbers as strings; Triton's own request parameters are not sampling keys.
    parsed = model.parse_sampling('{"temperature": "0.01", "top_p": "1.0", "top_k": 20, "max_tokens": "512", '
                                  '"ignore_eos": "true", "triton_enable_empty_final_response": true, "stop": ["x"]}')
    assert parsed == {"temperature": 0.01, "top_p": 1.0, "top_k": 20, "max_tokens": 512, "ignore_eos": True,
                      "stop": ["x"]}
    with pytest.raises(ValueError, match="SAMPLING_PARAMETERS: max_tokens has a bad value 'many'"):
        model.parse_sampling('{"max_tokens": "many"}')
    with pytest.raises(ValueError, match="request parameters is not JSON"):
        model.parse_sampling("{", "request parameters")
    with pytest.raises(ValueError, match="must be a JSON object"):
        model.parse_sampling("[1]")


def test_the_blueprints_environment_agrees_or_stops_the_load(model: ModuleType) -> None:
    params = {"tensor_parallel_size": "1", "gpu_memory_utilization": "0.8", "dtype": "auto", "model_name": "m"}
    assert model.check_blueprint_env(params, {"PATH": "/bin"}) == []
    notes = model.check_blueprint_env(params, {"gpu_memory_utilization": "0.80", "dtype": "AUTO"})
    assert notes == ["environment variable gpu_memory_utilization agrees with config.pbtxt (0.8)",
                     "environment variable dtype agrees with config.pbtxt (auto)"]
    with pytest.raises(model.pb_utils.TritonModelException, match=r"tensor_parallel_size='2' \(the blueprint's Helm values\) disagrees with "
                                        r"config.pbtxt parameter tensor_parallel_size='1'"):
        model.check_blueprint_env(params, {"tensor_parallel_size": "2"})


def test_typed_parameters_say_what_is_wrong(model: ModuleType) -> None:
    with pytest.raises(model.pb_utils.TritonModelException, match=r"parameter 'max_num_seqs' must be a whole number, got 'lots'"):
        model._number({"max_num_seqs": "lots"}, "max_num_seqs", int)
    with pytest.raises(model.pb_utils.TritonModelException, match=r"parameter 'stream_text' must be one of cumulative, delta, got 'x'"):
        model._choice({"stream_text": "x"}, "stream_text", ("cumulative", "delta"))
    with pytest.raises(model.pb_utils.TritonModelException, match=r"parameter 'engine' is missing or empty"):
        model._parameter({}, "engine")
    assert model._number({"gpu_memory_utilization": "0.8"}, "gpu_memory_utilization", float) == 0.8


def serve_with_watch(model: ModuleType, updates: AsyncIterator[Any], cancelled: Any, every: float,
                     unload_after: float | None = None) -> tuple[str, bool, list[Any]]:
    """model.py's serving loop in small: consume `updates` under a ClientWatch, as `_stream` does."""
    seen: list[Any] = []

    async def serve() -> tuple[str, bool]:
        watch = model.ClientWatch(cancelled, every)
        try:
            async for update in updates:
                watch.heard = time.monotonic()
                seen.append(update)
            return "answered", watch.gone
        except asyncio.CancelledError:
            return "cancelled", watch.gone
        finally:
            watch.close()

    async def main() -> tuple[str, bool]:
        task = asyncio.ensure_future(serve())
        if unload_after is not None:
            await asyncio.sleep(unload_after)
            task.cancel()  # what model.py's shutdown does to the requests still serving
        return await task

    outcome, gone = asyncio.run(main())
    return outcome, gone, seen


def test_a_client_that_goes_away_while_its_request_waits_ends_it(model: ModuleType) -> None:
    """A request waiting in the engine's queue gets no update: its client is asked every `every` s meanwhile.
    On a yes the serving task is cancelled, and the engine's generator runs its `finally` (where the engines
    abort the request)."""
    log: list[str] = []
    asked: list[float] = []

    async def waiting_in_the_queue() -> AsyncIterator[str]:
        try:
            await asyncio.sleep(3600)
            yield "never"
        finally:
            log.append("engine generator closed")

    def cancelled() -> bool:
        asked.append(time.monotonic())
        return len(asked) == 3

    started = time.monotonic()
    assert serve_with_watch(model, waiting_in_the_queue(), cancelled, every=0.05) == ("cancelled", True, [])
    assert log == ["engine generator closed"] and len(asked) == 3
    gaps = [b - a for a, b in zip([started, *asked], asked, strict=False)]
    assert min(gaps) >= 0.04, gaps  # asked once per `every` (timer slack aside), not in a busy loop


def test_the_client_is_not_asked_while_updates_come(model: ModuleType) -> None:
    asked: list[bool] = []

    async def answering() -> AsyncIterator[int]:
        for i in range(30):
            await asyncio.sleep(0.01)  # 0.3 s of updates, each sooner than `every`
            yield i

    outcome = serve_with_watch(model, answering(), lambda: asked.append(True) or True, every=0.1)
    assert outcome == ("answered", False, list(range(30)))
    assert asked == []  # no pb_utils round trip while the engine is talking


def test_unloading_is_not_taken_for_a_client_that_went_away(model: ModuleType) -> None:
    async def waiting_in_the_queue() -> AsyncIterator[str]:
        await asyncio.sleep(3600)
        yield "never"

    assert serve_with_watch(model, waiting_in_the_queue(), lambda: False, every=0.02,
                            unload_after=0.1) == ("cancelled", False, [])
