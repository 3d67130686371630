"""Validate a Triton model repository against Triton's own schema, the seed client and our model.py.

Each config.pbtxt is parsed with `tritonclient.grpc.model_config_pb2.ModelConfig` (the schema
tritonserver itself loads), so a typo fails here with line:column instead of at pod start. Then:
layout (`<model>/config.pbtxt`, `<model>/<version>/model.py`, name = folder), Python backend, decoupled,
the I/O the seed client sends and reads, every parameter model.py reads (derived from its source),
the simulation's parameters when it ships one, no token pasted into a parameter, and, with a spec,
that the repository serves exactly the spec's models with the same settings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonobs.core import yaml_bounded
from tritonobs.core.config import Spec
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import input_dir, read_text
from tritonobs.core.spec_loader import line_of
from tritonobs.core.vllm_backend import REPORT_CUSTOM_METRICS, custom_metrics_value, image_release
from tritonobs.models.model_code import ModelReads, model_reads, read_model_file, serving_source
from tritonobs.models.serving import sim_engine

# The seed client (triton-client.py, docs/facts.md): name -> (data type, dims, may the client omit it).
SEED_INPUTS: dict[str, tuple[str, list[int], bool]] = {
    "PROMPT": ("TYPE_STRING", [1], False),
    "STREAM": ("TYPE_BOOL", [1], False),
    "SAMPLING_PARAMETERS": ("TYPE_STRING", [1], True),
}
SEED_OUTPUTS: dict[str, tuple[str, list[int]]] = {"TEXT": ("TYPE_STRING", [-1])}

# A Hugging Face access token; a value like this belongs in a Secret, not in config.pbtxt.
_HF_TOKEN = re.compile(r"^hf_[A-Za-z0-9]{20,}$")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def error(self) -> UsageError:
        return UsageError(self.message, file=self.file, line=self.line)


def _strip_comments(text: str) -> str:
    """Blank out `#` comments (outside strings) so line searches only see configuration."""
    out = []
    for line in text.splitlines():
        quoted = False
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                quoted = not quoted
            elif ch == "#" and not quoted:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


class PbtxtFile:
    """A parsed config.pbtxt and a way to point at the line where something is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.text = read_text(path, what="model config")
        self._searchable = _strip_comments(self.text)
        self.config = mc.ModelConfig()
        try:
            text_format.Parse(self.text, self.config)
        except text_format.ParseError as e:
            detail = str(e).split(" : ", 1)[-1]
            raise UsageError(
                f"not a valid Triton model config (column {e.GetColumn()}): {detail}",
                file=self.file,
                line=e.GetLine(),
            ) from None

    def line(self, pattern: str) -> int | None:
        m = re.search(pattern, self._searchable, re.MULTILINE)
        return self._searchable.count("\n", 0, m.start()) + 1 if m else None

    def line_of_name(self, name: str) -> int | None:
        return self.line(rf'\bname\s*:\s*"{re.escape(name)}"')

    def line_of_parameter(self, key: str) -> int | None:
        return self.line(rf'\bkey\s*:\s*"{re.escape(key)}"')

    def problem(self, message: str, line: int | None = 1) -> Problem:
        return Problem(self.file, line or 1, message)

    @property
    def parameters(self) -> dict[str, str]:
        return {k: v.string_value for k, v in self.config.parameters.items()}


def parse_config(path: Path) -> mc.ModelConfig:
    """Parse one config.pbtxt with Triton's schema. Raises UsageError at `file:line`."""
    return PbtxtFile(path).config


def model_dirs(repository: Path) -> list[Path]:
    """Model folders as Triton sees them: every non-hidden subfolder."""
    input_dir(repository, "model repository", " (pass --repository PATH)")
    return sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _dtype(value: int) -> str:
    return mc.DataType.Name(value)  # type: ignore[arg-type]


def _check_io(cfg: PbtxtFile, reads: ModelReads) -> list[Problem]:
    problems: list[Problem] = []
    inputs = {i.name: i for i in cfg.config.input}
    outputs = {o.name: o for o in cfg.config.output}
    for name, (dtype, dims, optional) in SEED_INPUTS.items():
        i = inputs.get(name)
        if i is None:
            problems.append(
                cfg.problem(
                    f"input {name} is missing: the seed client sends {name} ({dtype} {dims})",
                    cfg.line(r"\binput\b"),
                )
            )
            continue
        where = cfg.line_of_name(name)
        if _dtype(i.data_type) != dtype or list(i.dims) != dims:
            problems.append(
                cfg.problem(
                    f"input {name} must be {dtype} dims {dims} for the seed client "
                    f"(is {_dtype(i.data_type)} dims {list(i.dims)})",
                    where,
                )
            )
        if optional and not i.optional:
            problems.append(cfg.problem(f"input {name} must be optional: true (clients may omit it)", where))
    for name, (dtype, dims) in SEED_OUTPUTS.items():
        o = outputs.get(name)
        if o is None:
            problems.append(
                cfg.problem(
                    f"output {name} is missing: the seed client reads {name} ({dtype} {dims})",
                    cfg.line(r"\boutput\b"),
                )
            )
        elif _dtype(o.data_type) != dtype or list(o.dims) != dims:
            problems.append(
                cfg.problem(
                    f"output {name} must be {dtype} dims {dims} for the seed client "
                    f"(is {_dtype(o.data_type)} dims {list(o.dims)})",
                    cfg.line_of_name(name),
                )
            )
    for name in sorted(reads.inputs - inputs.keys()):
        problems.append(
            cfg.problem(
                f"model.py reads input {name}, which config.pbtxt does not declare", cfg.line(r"\binput\b")
            )
        )
    for name in sorted(reads.outputs - outputs.keys()):
        problems.append(
            cfg.problem(
                f"model.py sends output {name}, which config.pbtxt does not declare", cfg.line(r"\boutput\b")
            )
        )
    return problems


def _check_parameters(cfg: PbtxtFile, reads: ModelReads, model_py: str, has_sim: bool) -> list[Problem]:
    problems: list[Problem] = []
    params = cfg.parameters
    for key in sorted(reads.parameters):
        if not params.get(key, "").strip():
            problems.append(
                cfg.problem(
                    f'parameter "{key}" is read by {model_py} but not set: add '
                    f'parameters {{ key: "{key}" value: {{ string_value: "..." }} }}',
                    cfg.line_of_parameter(key) or cfg.line(r"\bparameters\b"),
                )
            )
            continue
        why = reads.kinds[key].problem(params[key]) if key in reads.kinds else None
        if why:
            problems.append(cfg.problem(f'parameter "{key}" {why} ({model_py} would fail to load)',
                                        cfg.line_of_parameter(key)))
    for key, value in sorted(params.items()):
        if _HF_TOKEN.match(value.strip()):
            problems.append(
                cfg.problem(
                    f'parameter "{key}" holds what looks like a Hugging Face token: remove it, keep the token in a '
                    "Secret and name its environment variable in hf_token_env",
                    cfg.line_of_parameter(key),
                )
            )
    if params.get("engine") == "simulated" and not has_sim:
        problems.append(
            cfg.problem(
                f"engine is simulated but sim_engine.py is not beside {model_py}",
                cfg.line_of_parameter("engine"),
            )
        )
    if has_sim:
        for key in sorted(k for k in params if k.startswith(sim_engine.PARAMETER_PREFIX)):
            try:
                sim_engine.SimParams.from_parameters({key: params[key]})
            except ValueError as e:
                problems.append(cfg.problem(str(e), cfg.line_of_parameter(key)))
    return problems


def check_model(model_dir: Path) -> list[Problem]:
    """Every problem of one model folder, each located in the file to edit."""
    name = model_dir.name
    config_path = model_dir / "config.pbtxt"
    if not config_path.is_file():
        return [
            Problem(
                str(config_path),
                None,
                f"missing: every model folder needs a config.pbtxt ({name}/config.pbtxt)",
            )
        ]
    try:
        cfg = PbtxtFile(config_path)
    except UsageError as e:
        return [Problem(str(config_path), e.line, e.detail)]
    c = cfg.config
    problems: list[Problem] = []
    if c.name and c.name != name:
        problems.append(
            cfg.problem(
                f'name "{c.name}" differs from the folder name "{name}": Triton refuses to load it',
                cfg.line_of_name(c.name),
            )
        )
    if c.backend == "vllm":  # Triton's official vllm_backend: model.json per version, no model.py of ours
        return problems + _check_vllm_backend(cfg, model_dir)
    if c.backend != "python":
        problems.append(
            cfg.problem(
                f'backend must be "python" to run model.py, or "vllm" for Triton\'s vllm_backend (is "{c.backend}")',
                cfg.line(r"\bbackend\s*:"),
            )
        )
    if c.max_batch_size != 0:
        problems.append(
            cfg.problem(
                f"max_batch_size must be 0: the seed client sends unbatched [1] tensors (is {c.max_batch_size})",
                cfg.line(r"\bmax_batch_size\s*:"),
            )
        )
    if not c.model_transaction_policy.decoupled:
        problems.append(
            cfg.problem(
                "model_transaction_policy { decoupled: true } is required to stream tokens",
                cfg.line(r"\bmodel_transaction_policy\b|\bdecoupled\s*:"),
            )
        )
    versions = sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not versions:
        problems.append(cfg.problem(f"no version folder: expected {name}/1/model.py", None))
    for version in versions:
        model_py = version / "model.py"
        try:
            # A version folder without model.py gets tritonobs' own on `models sync` and in the lab.
            reads = read_model_file(model_py) if model_py.is_file() else model_reads(serving_source("model.py"))
        except UsageError as e:
            problems.append(Problem(str(model_py), e.line, e.detail))
            continue
        shown = f"{version.name}/model.py"
        problems += _check_io(cfg, reads)
        problems += _check_parameters(cfg, reads, shown, (version / "sim_engine.py").is_file())
    return problems


def _check_vllm_backend(cfg: PbtxtFile, model_dir: Path) -> list[Problem]:
    versions = sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())
    if not any((v / "model.json").is_file() for v in versions):
        return [cfg.problem(f"backend vllm reads <version>/model.json: expected {model_dir.name}/1/model.json", None)]
    return []


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def check_against_spec(repository: Path, spec: Spec, spec_file: str, spec_text: str) -> list[Problem]:
    """The repository serves exactly the spec's models, with the spec's model id, limits and GPU."""
    problems: list[Problem] = []
    root = yaml_bounded.compose(spec_text, spec_file)
    dirs = {d.name: d for d in model_dirs(repository)}
    for i, m in enumerate(spec.models):
        if m.name not in dirs:
            problems.append(
                Problem(
                    spec_file,
                    line_of(root, ("models", i, "name")),
                    f"model {m.name} is not in the repository {repository}",
                )
            )
            continue
        path = dirs[m.name] / "config.pbtxt"
        if not path.is_file():
            continue  # check_model reports it
        try:
            cfg = PbtxtFile(path)
        except UsageError:
            continue  # check_model reports it
        params = cfg.parameters
        backend = "vllm" if cfg.config.backend == "vllm" else "tritonobs"
        if backend != m.backend:
            server = "Triton's vllm_backend" if backend == "vllm" else "tritonobs' model.py"
            problems.append(Problem(spec_file, line_of(root, ("models", i, "backend")) or line_of(root, ("models", i)),
                                    f'{m.name} is served by {server} (config.pbtxt backend "{cfg.config.backend}"): '
                                    f"set models[{i}].backend: {backend}"))
            continue
        if backend == "vllm":
            problems += _report_custom_metrics(cfg, spec)
            continue
        expected = {
            "model_name": (m.hf_model_id, params.get("model_name", "") == m.hf_model_id),
            "max_model_len": (
                str(m.max_model_len),
                _float(params.get("max_model_len", "")) == m.max_model_len,
            ),
            "gpu_memory_utilization": (
                str(m.gpu_memory_utilization),
                _float(params.get("gpu_memory_utilization", "")) == m.gpu_memory_utilization,
            ),
            "max_num_seqs": (str(m.max_num_seqs), _float(params.get("max_num_seqs", "")) == m.max_num_seqs),
        }
        for key, (want, ok) in expected.items():
            if key in params and not ok:
                problems.append(
                    cfg.problem(
                        f'parameter "{key}" is "{params[key]}" but {spec_file} says {want}',
                        cfg.line_of_parameter(key),
                    )
                )
        for group in cfg.config.instance_group:
            if group.kind == mc.ModelInstanceGroup.KIND_GPU and list(group.gpus) != [m.gpu]:
                problems.append(
                    cfg.problem(
                        f"instance_group gpus is {list(group.gpus)} but {spec_file} gives "
                        f"{m.name} GPU {m.gpu}: use gpus: [ {m.gpu} ]",
                        cfg.line(r"\bgpus\s*:"),
                    )
                )
    spec_names = {m.name for m in spec.models}
    for name, d in sorted(dirs.items()):
        if name not in spec_names:
            problems.append(
                Problem(str(d / "config.pbtxt"), 1, f"model {name} is not in {spec_file} (models[].name)")
            )
    return problems


def _report_custom_metrics(cfg: PbtxtFile, spec: Spec) -> list[Problem]:
    """Triton's vllm_backend reports vLLM's metrics only with REPORT_CUSTOM_METRICS, whose accepted value
    changed in 24.12 ("yes" before, "true" after; the other silently means off)."""
    release = image_release(spec.triton.image)
    want = custom_metrics_value(release) if release else None
    if want is None:
        return []  # no custom metrics in that release (spec validation says so), or an unknown tag
    have = cfg.parameters.get(REPORT_CUSTOM_METRICS, "")
    if have.strip().lower() == want:
        return []
    where = cfg.line_of_parameter(REPORT_CUSTOM_METRICS) or cfg.line(r"\bparameters\b") or cfg.line(r"\bbackend\s*:")
    got = f'is "{have}"' if have else "is not set"
    return [cfg.problem(f"parameter {REPORT_CUSTOM_METRICS} {got}: {spec.triton.image} reports vLLM's metrics only "
                        f'with "{want}"; without them the TTFT dashboards, SLO alerts and ttft_p90 stay empty', where)]


def check_repository(repository: Path) -> tuple[list[str], list[Problem]]:
    """(model names, problems) for a whole repository."""
    dirs = model_dirs(repository)
    if not dirs:
        return [], [Problem(str(repository), None, "no model folders (expected <model>/config.pbtxt)")]
    problems: list[Problem] = []
    for d in dirs:
        problems += check_model(d)
    return [d.name for d in dirs], problems
