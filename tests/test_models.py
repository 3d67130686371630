"""The model repository: validator (bad-config corpus with exact located messages), one-source model code,
the lab repository generator, the `models validate` command, and the simulated engine (virtual time)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonobs.cli import main
from tritonobs.core.errors import UsageError
from tritonobs.core.spec_loader import load_spec
from tritonobs.models.config_check import check_against_spec, check_repository, parse_config
from tritonobs.models.lab_repository import build_lab_repository
from tritonobs.models.model_code import SERVING_FILES, missing_code, model_reads
from tritonobs.models.serving import sim_engine
from tritonobs.models.serving.sim_engine import Scheduler, SimEngine, SimParams

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "model_repository"
SPEC = REPO / "tritonobs.yaml"
GOOD = (SOURCE / "llama2" / "config.pbtxt").read_text()


KEY = 'key: "{}"'


def line(text: str, needle: str) -> int:
    """1-based line of the first occurrence of `needle` (how the expected locations are derived)."""
    return text[: text.index(needle)].count("\n") + 1


def copy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(SOURCE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def problems_of(repo: Path) -> list[str]:
    return [str(p).replace(str(repo) + "/", "") for p in check_repository(repo)[1]]


# --- the repository as committed ---


def test_committed_repository_is_valid_and_agrees_with_the_spec() -> None:
    names, problems = check_repository(SOURCE)
    assert (names, problems) == (["llama2", "mistral7b"], [])
    assert check_against_spec(SOURCE, load_spec(SPEC), "tritonobs.yaml", SPEC.read_text()) == []


def test_model_code_has_one_source() -> None:
    """Every model's code files are links to the one source in the package; whatever differs between models
    lives in config.pbtxt."""
    serving = REPO / "tritonobs" / "models" / "serving"
    for model in ("llama2", "mistral7b"):
        for file in SERVING_FILES:
            path = SOURCE / model / "1" / file
            assert path.is_symlink(), f"{path} should link to {serving / file}"
            assert path.resolve() == serving / file
    assert sorted(p.name for p in (SOURCE / "llama2" / "1").iterdir()) == sorted(SERVING_FILES)


def test_missing_model_code_is_supplied_from_the_package(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    (repo / "mistral7b" / "1" / "model.py").unlink()
    (repo / "mistral7b" / "1" / "vllm_engine.py").unlink()
    (repo / "llama2" / "1" / "vllm_engine.py").unlink()
    supplied = missing_code(repo)
    assert sorted(map(str, supplied)) == ["llama2/1/vllm_engine.py", "mistral7b/1/model.py", "mistral7b/1/vllm_engine.py"]
    serving = REPO / "tritonobs" / "models" / "serving"
    assert supplied[Path("mistral7b/1/model.py")] == (serving / "model.py").read_text()
    assert problems_of(repo) == []  # a repository of configs only is valid: the code comes with tritonobs


def test_parameters_model_py_reads_are_exactly_the_configured_ones() -> None:
    reads = model_reads((REPO / "tritonobs" / "models" / "serving" / "model.py").read_text())
    for model in ("llama2", "mistral7b"):
        config = parse_config(SOURCE / model / "config.pbtxt")
        assert set(config.parameters) == reads.parameters  # no dead parameter, none missing
    assert reads.inputs == {"PROMPT", "STREAM", "SAMPLING_PARAMETERS"}
    assert reads.outputs == {"TEXT"}
    assert config.parameters["hf_token_env"].string_value == "HUGGING_FACE_TOKEN"


# --- bad-config corpus: (mutation of llama2/config.pbtxt) -> exact located messages ---

P = "llama2/config.pbtxt"
ENGINE_KEY = 'key: "engine"'
Mutation = Callable[[str], str]
CORPUS: dict[str, tuple[Mutation, Callable[[str], list[str]]]] = {
    "unknown field": (
        lambda t: t.replace("decoupled: true", "decoupledd: true"),
        lambda t: [
            f"{P}:{line(t, 'decoupledd')}: not a valid Triton model config (column 3): Message type "
            '"inference.ModelTransactionPolicy" has no field named "decoupledd".'
        ],
    ),
    "name differs from folder": (
        lambda t: t.replace('name: "llama2"', 'name: "llama3"'),
        lambda t: [
            f'{P}:{line(t, "llama3")}: name "llama3" differs from the folder name "llama2": Triton refuses to load it'
        ],
    ),
    "not decoupled": (
        lambda t: t.replace("decoupled: true", "decoupled: false"),
        lambda t: [
            f"{P}:{line(t, 'model_transaction_policy {')}: model_transaction_policy {{ decoupled: true }} "
            "is required to stream tokens"
        ],
    ),
    "batching on": (
        lambda t: t.replace("max_batch_size: 0", "max_batch_size: 8"),
        lambda t: [
            f"{P}:{line(t, 'max_batch_size')}: max_batch_size must be 0: the seed client sends unbatched [1] "
            "tensors (is 8)"
        ],
    ),
    "prompt wrong type": (
        lambda t: t.replace('"PROMPT"\n    data_type: TYPE_STRING', '"PROMPT"\n    data_type: TYPE_FP32'),
        lambda t: [
            f"{P}:{line(t, 'PROMPT')}: input PROMPT must be TYPE_STRING dims [1] for the seed client "
            "(is TYPE_FP32 dims [1])"
        ],
    ),
    "sampling parameters required": (
        lambda t: t.replace("    optional: true\n", ""),
        lambda t: [
            f"{P}:{line(t, 'SAMPLING_PARAMETERS')}: input SAMPLING_PARAMETERS must be optional: true "
            "(clients may omit it)"
        ],
    ),
    "output renamed": (
        lambda t: t.replace('name: "TEXT"', 'name: "OUT"'),
        lambda t: [
            f"{P}:{line(t, 'output [')}: output TEXT is missing: the seed client reads TEXT (TYPE_STRING [-1])",
            f"{P}:{line(t, 'output [')}: model.py sends output TEXT, which config.pbtxt does not declare",
        ],
    ),
    "parameter model.py reads is missing": (
        lambda t: t.replace('key: "engine"', 'key: "engin"'),
        lambda t: [
            f'{P}:{line(t, "parameters:")}: parameter "engine" is read by 1/model.py but not set: add '
            'parameters { key: "engine" value: { string_value: "..." } }'
        ],
    ),
    "token pasted into the config": (
        lambda t: t.replace('"HUGGING_FACE_TOKEN"', '"hf_' + "A" * 34 + '"'),
        lambda t: [
            f'{P}:{line(t, "hf_token_env")}: parameter "hf_token_env" holds what looks like a Hugging Face token: '
            "remove it, keep the token in a Secret and name its environment variable in hf_token_env"
        ],
    ),
    "wrong backend": (
        lambda t: t.replace('backend: "python"', 'backend: "onnxruntime"'),
        lambda t: [f'{P}:{line(t, "backend:")}: backend must be "python" to run model.py, or "vllm" for '
                   "Triton's vllm_backend (is \"onnxruntime\")"],
    ),
    "a number parameter that is not a number": (
        lambda t: t.replace('key: "max_num_seqs"\n  value: { string_value: "256" }',
                            'key: "max_num_seqs"\n  value: { string_value: "lots" }'),
        lambda t: [
            f'{P}:{line(t, KEY.format("max_num_seqs"))}: parameter "max_num_seqs" must be a whole number, got \'lots\' '
            "(1/model.py would fail to load)"
        ],
    ),
    "a fraction that is not a number": (
        lambda t: t.replace('string_value: "0.8"', 'string_value: "80%"'),
        lambda t: [
            f'{P}:{line(t, KEY.format("gpu_memory_utilization"))}: parameter "gpu_memory_utilization" must be a number, '
            "got '80%' (1/model.py would fail to load)"
        ],
    ),
    "a choice that is not one": (
        lambda t: t.replace('string_value: "cumulative"', 'string_value: "pieces"'),
        lambda t: [
            f'{P}:{line(t, KEY.format("stream_text"))}: parameter "stream_text" must be one of cumulative, delta, got '
            "'pieces' (1/model.py would fail to load)"
        ],
    ),
    "engine arguments that are not a JSON object": (
        lambda t: t.replace('string_value: "{}"', 'string_value: "[1, 2]"'),
        lambda t: [
            f'{P}:{line(t, KEY.format("engine_args"))}: parameter "engine_args" must be a JSON object, e.g. {{}} '
            "(1/model.py would fail to load)"
        ],
    ),
    "simulated without its engine": (
        lambda t: t.replace('string_value: "vllm"', 'string_value: "simulated"'),
        lambda t: [
            f"{P}:{line(t, ENGINE_KEY)}: engine is simulated but sim_engine.py is not beside 1/model.py"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_config_is_reported_where_it_is(tmp_path: Path, case: str) -> None:
    mutate, expected = CORPUS[case]
    repo = copy_repo(tmp_path)
    text = mutate(GOOD)
    assert text != GOOD, "the mutation must change the config"
    (repo / P).write_text(text)
    assert problems_of(repo) == expected(text)


def test_layout_problems(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    (repo / "mistral7b" / "config.pbtxt").unlink()
    (repo / "extra").mkdir()
    (repo / "extra" / "config.pbtxt").write_text(GOOD.replace('"llama2"', '"extra"'))
    assert problems_of(repo) == [
        "extra/config.pbtxt:1: no version folder: expected extra/1/model.py",
        "mistral7b/config.pbtxt: missing: every model folder needs a config.pbtxt (mistral7b/config.pbtxt)",
    ]


def test_model_py_that_does_not_parse(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    (repo / "llama2" / "1" / "model.py").write_text("def broken(:\n")
    assert problems_of(repo) == ["llama2/1/model.py:1: not valid Python: invalid syntax"]


def test_spec_disagreements_are_located(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    text = GOOD.replace('"4096"', '"2048"').replace("gpus: [ 0 ]", "gpus: [ 1 ]")
    (repo / P).write_text(text)
    shutil.rmtree(repo / "mistral7b")
    shutil.copytree(repo / "llama2", repo / "falcon")
    (repo / "falcon" / "config.pbtxt").write_text(text.replace('name: "llama2"', 'name: "falcon"'))
    spec_text = SPEC.read_text()
    found = [
        str(p).replace(str(repo) + "/", "")
        for p in check_against_spec(repo, load_spec(SPEC), "tritonobs.yaml", spec_text)
    ]
    assert found == [
        f'{P}:{line(text, "max_model_len")}: parameter "max_model_len" is "2048" but tritonobs.yaml says 4096',
        f"{P}:{line(text, 'gpus:')}: instance_group gpus is [1] but tritonobs.yaml gives llama2 GPU 0: use gpus: [ 0 ]",
        f"tritonobs.yaml:{line(spec_text, 'name: mistral7b')}: model mistral7b is not in the repository {repo}",
        "falcon/config.pbtxt:1: model falcon is not in tritonobs.yaml (models[].name)",
    ]


# --- the command ---


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


def test_validate_command_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("models", "validate", "--repository", str(SOURCE), "--spec", str(SPEC)) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(f"ok (2 models: llama2, mistral7b; checked against Triton's schema and {SPEC})")
    )


def test_validate_command_exit_2_with_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = copy_repo(tmp_path)
    (repo / P).write_text(GOOD.replace("max_batch_size: 0", "max_batch_size: 0 0"))
    assert run_cli("models", "validate", "-r", str(repo)) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: {repo}/{P}:{line(GOOD, 'max_batch_size')}: not a valid Triton model config (column 19): "
        'Message type "inference.ModelConfig" has no field named "0".'
    ]
    assert captured.out == ""


# --- the lab repository ---


def test_lab_repository(tmp_path: Path) -> None:
    lab = build_lab_repository(SOURCE, tmp_path / "lab", sim={"max_num_seqs": "8", "sim_time_scale": "0.05"})
    assert check_repository(lab) == (["llama2", "mistral7b"], [])
    for model in ("llama2", "mistral7b"):
        config = parse_config(lab / model / "config.pbtxt")
        params = {k: v.string_value for k, v in config.parameters.items()}
        assert params["engine"] == "simulated"
        assert params["sim_max_num_seqs"] == "8" and params["sim_time_scale"] == "0.05"
        assert params["sim_kv_cache_tokens"] == str(SimParams().kv_cache_tokens)
        assert [(g.kind, list(g.gpus), g.count) for g in config.instance_group] == [
            (mc.ModelInstanceGroup.KIND_CPU, [], 1)
        ]
        source = parse_config(SOURCE / model / "config.pbtxt")
        assert (list(config.input), list(config.output)) == (list(source.input), list(source.output))
        # The code under test in the lab is the production code, from its one package source.
        serving = Path(sim_engine.__file__).parent
        for file in ("model.py", "vllm_engine.py", "sim_engine.py"):
            assert (lab / model / "1" / file).read_bytes() == (serving / file).read_bytes()
            assert not (lab / model / "1" / file).is_symlink()
    again = build_lab_repository(
        SOURCE, tmp_path / "again", sim={"max_num_seqs": "8", "sim_time_scale": "0.05"}
    )
    assert (lab / "llama2" / "config.pbtxt").read_bytes() == (again / "llama2" / "config.pbtxt").read_bytes()
    text_format.Parse((lab / "llama2" / "config.pbtxt").read_text(), mc.ModelConfig())


def test_lab_repository_subset_and_bad_input(tmp_path: Path) -> None:
    lab = build_lab_repository(SOURCE, tmp_path / "lab", models=["mistral7b"])
    assert sorted(p.name for p in lab.iterdir()) == ["mistral7b"]
    assert parse_config(lab / "mistral7b" / "config.pbtxt").parameters["sim_time_scale"].string_value == "0.1"
    with pytest.raises(UsageError, match=r"no such model\(s\) \['gpt5'\]"):
        build_lab_repository(SOURCE, tmp_path / "x", models=["gpt5"])
    with pytest.raises(UsageError, match='unknown parameter "sim_warp"'):
        build_lab_repository(SOURCE, tmp_path / "x", sim={"warp": "9"})
    with pytest.raises(UsageError, match='parameter "sim_max_num_seqs" is not a number: "many"'):
        build_lab_repository(SOURCE, tmp_path / "x", sim={"max_num_seqs": "many"})


def test_lab_config_with_bad_simulation_parameter_is_located(tmp_path: Path) -> None:
    lab = build_lab_repository(SOURCE, tmp_path / "lab", models=["llama2"])
    path = lab / "llama2" / "config.pbtxt"
    text = path.read_text().replace(
        'key: "sim_max_num_seqs"\n  value {\n    string_value: "256"',
        'key: "sim_max_num_seqs"\n  value {\n    string_value: "0"',
    )
    path.write_text(text)
    assert problems_of(lab) == [
        f'{P}:{line(text, "sim_max_num_seqs")}: parameter "sim_max_num_seqs" must be > 0 (got 0)'
    ]


# --- the simulated engine, on virtual time ---


def params(**overrides: float) -> SimParams:
    return SimParams(**{"kv_cache_tokens": 10_000, **overrides})  # type: ignore[arg-type]


def run_until_idle(s: Scheduler) -> tuple[float, list[sim_engine.TokenEvent]]:
    clock, events = 0.0, []
    while (step := s.begin_step()) is not None:
        clock += step.seconds
        events += s.finish_step(step)
    return clock, events


def test_defaults_behave_like_a_7b_model_on_one_a10g() -> None:
    """Published vLLM figures for Llama-2-7B on an A10G: ~40 tokens/s for one stream, ~350 over 16."""
    for streams, low, high in ((1, 35, 45), (16, 300, 400)):
        s = Scheduler(SimParams(), max_model_len=4096)
        for i in range(streams):
            s.add(f"r{i}", prompt_tokens=100, max_tokens=256)
        clock, events = run_until_idle(s)
        assert len(events) == 256 * streams
        assert low <= len(events) / clock <= high


def test_batch_is_limited_by_max_num_seqs() -> None:
    s = Scheduler(params(max_num_seqs=4), max_model_len=100)
    for i in range(10):
        s.add(f"r{i}", prompt_tokens=10, max_tokens=3)
    step = s.begin_step()
    assert step is not None and step.kind == "prefill" and step.request_ids == ("r0", "r1", "r2", "r3")
    assert step.seconds == pytest.approx(40 * SimParams.prefill_seconds_per_token)
    assert (s.running, s.waiting) == (4, 6)
    events = s.finish_step(step)
    while (step := s.begin_step()) is not None:
        assert s.running <= 4
        events += s.finish_step(step)
    assert (s.running, s.waiting, s.kv_used) == (0, 0, 0)
    per_request: dict[str, list[int]] = {}
    for e in events:
        per_request.setdefault(e.request_id, []).append(e.index)
    assert per_request == {f"r{i}": [0, 1, 2] for i in range(10)}


def test_decode_step_grows_with_batch_size() -> None:
    seconds = {}
    for batch in (1, 8):
        s = Scheduler(params(), max_model_len=100)
        for i in range(batch):
            s.add(f"r{i}", 5, 10)
        s.finish_step(s.begin_step())  # type: ignore[arg-type]
        step = s.begin_step()
        assert step is not None and step.kind == "decode"
        seconds[batch] = step.seconds
    p = SimParams()
    assert seconds[1] == pytest.approx(p.decode_step_seconds + p.decode_seconds_per_seq)
    assert seconds[8] - seconds[1] == pytest.approx(7 * p.decode_seconds_per_seq)


def test_kv_cache_capacity_admission_and_preemption() -> None:
    s = Scheduler(params(kv_cache_tokens=100), max_model_len=50)
    for i in range(4):
        s.add(f"r{i}", prompt_tokens=30, max_tokens=19)
    step = s.begin_step()
    assert step is not None and len(step.request_ids) == 3  # 3 x 30 tokens fit 100; a 4th does not
    assert (s.running, s.waiting, s.kv_usage) == (3, 1, 0.9)
    s.finish_step(step)
    assert s.kv_used == 93  # prompt + the first token of each
    for _ in range(2):
        s.finish_step(s.begin_step())  # type: ignore[arg-type]
    assert s.kv_used == 99
    step = s.begin_step()  # 3 more tokens would overflow: the newest request is preempted
    assert step is not None and step.request_ids == ("r0", "r1") and s.preemptions == 1
    assert (s.running, s.waiting, s.kv_used) == (2, 2, 66)
    s.finish_step(step)
    _, events = run_until_idle(s)
    assert s.kv_used == 0 and (s.running, s.waiting) == (0, 0)
    assert sorted(e.request_id for e in events if e.finished) == ["r0", "r1", "r2", "r3"]


def test_waiting_grows_under_load() -> None:
    """Arrivals faster than the batch drains: the waiting queue only grows, the batch stays full."""
    s = Scheduler(params(max_num_seqs=4), max_model_len=200)
    for i in range(4):
        s.add(f"first{i}", 20, 50)
    waiting = []
    for i in range(12):
        s.add(f"r{2 * i}", 20, 50)
        s.add(f"r{2 * i + 1}", 20, 50)
        step = s.begin_step()
        assert step is not None
        s.finish_step(step)
        waiting.append(s.waiting)
        assert s.running == 4
    assert waiting == list(range(2, 25, 2))


def test_abort_frees_the_request() -> None:
    s = Scheduler(params(max_num_seqs=1), max_model_len=100)
    s.add("a", 10, 5)
    s.add("b", 10, 5)
    s.finish_step(s.begin_step())  # type: ignore[arg-type]
    s.abort("b")  # waiting
    s.abort("a")  # running, no step in flight
    assert (s.running, s.waiting, s.kv_used) == (0, 0, 0) and s.begin_step() is None


def test_requests_that_cannot_run_are_refused() -> None:
    s = Scheduler(params(), max_model_len=100)
    with pytest.raises(ValueError, match="does not fit max_model_len 100"):
        s.add("long", 100, 1)
    with pytest.raises(ValueError, match="smaller than max_model_len"):
        Scheduler(params(kv_cache_tokens=50), max_model_len=100)
    with pytest.raises(ValueError, match='unknown parameter "sim_speed"'):
        SimParams.from_parameters({"sim_speed": "2", "engine": "simulated"})


def test_engine_streams_words_and_reports_stats_on_virtual_time() -> None:
    async def scenario() -> tuple[dict[str, list[sim_engine.Progress]], list[sim_engine.EngineStats | None], float]:
        clock = [0.0]
        seen: list[sim_engine.EngineStats | None] = []

        async def virtual_sleep(seconds: float) -> None:
            seen.append(engine.stats())
            clock[0] += seconds
            await asyncio.sleep(0)

        engine = SimEngine(params(max_num_seqs=2, time_scale=1.0), max_model_len=100, sleep=virtual_sleep)
        assert engine.stats() is None  # not started: unreadable, never a silent 0
        await engine.start()

        async def one(i: int) -> tuple[str, list[sim_engine.Progress]]:
            prompt = f"prompt number {i}"
            return prompt, [p async for p in engine.generate(prompt, {"max_tokens": 4}, f"r{i}")]

        updates = dict(await asyncio.gather(*(one(i) for i in range(5))))
        await engine.shutdown()
        assert engine.stats() is None
        return updates, seen, clock[0]

    updates, seen, clock = asyncio.run(scenario())
    for prompt, progress in updates.items():
        words = [sim_engine.token_text(prompt, i) for i in range(4)]
        # Cumulative: the text so far, one more token each update.
        assert [p.texts for p in progress] == [("".join(words[: k + 1]),) for k in range(4)]
        assert [(p.tokens, p.prompt_tokens) for p in progress] == [(1, 3), (2, 3), (3, 3), (4, 3)]
        assert all(p.queue_seconds is not None and p.queue_seconds >= 0 for p in progress)
    # Two run at a time: three wait, and the last two admitted waited (queue time > 0 on virtual time).
    assert max(s.running for s in seen if s) == 2 and max(s.waiting for s in seen if s) == 3
    assert sorted(p[-1].queue_seconds or 0 for p in updates.values())[-1] > 0
    assert clock > 0


def test_simulated_engine_refuses_what_vllm_would() -> None:
    engine = SimEngine(params(), max_model_len=100)
    assert engine.check_sampling({"max_tokens": 5, "temperature": 0.1}) == {"max_tokens": 5, "temperature": 0.1}
    with pytest.raises(ValueError, match="best_of is not a sampling parameter of the simulated engine"):
        engine.check_sampling({"best_of": 2})
    with pytest.raises(ValueError, match="n: the simulated engine makes one completion"):
        engine.check_sampling({"n": 2})


def test_validate_command_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = copy_repo(tmp_path)
    text = GOOD.replace("max_batch_size: 0", "max_batch_size: 4").replace(
        'backend: "python"', 'backend: "onnx"'
    )
    (repo / P).write_text(text)
    assert run_cli("models", "validate", "-r", str(repo)) == 2
    backend = (f'{repo}/{P}:{line(text, "backend:")}: backend must be "python" to run model.py, or "vllm" for '
               "Triton's vllm_backend (is \"onnx\")")
    batch = f"{repo}/{P}:{line(text, 'max_batch_size')}: max_batch_size must be 0: the seed client sends unbatched [1] tensors (is 4)"
    assert capsys.readouterr().err.splitlines() == [
        backend,
        batch,
        f"error: {backend} (1 of 2 problems, all listed above)",
    ]
