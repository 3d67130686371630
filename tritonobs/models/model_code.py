"""What a model.py reads, found by parsing its source (never importing it: it needs Triton and vLLM).

model.py reads its settings through `_parameter(parameters, "key")` and its typed forms `_number(parameters,
"key", int|float)`, `_choice(parameters, "key", ("a", "b"))` and `_flag(parameters, "key")`; its inputs through
`pb_utils.get_input_tensor_by_name(request, "NAME")`; it creates outputs with `pb_utils.Tensor("NAME", ...)`.
The validator derives from this what config.pbtxt must declare, and what each value must look like, so the
config and the code cannot drift apart silently.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import read_text

# The model code's one source is tritonobs/models/serving/. These files run inside Triton from each model's
# version folder (the Python backend puts that folder on sys.path); the lab adds the simulation.
SERVING_FILES = ("model.py", "vllm_engine.py", "engine_metrics.py", "engine_processes.py")
LAB_FILES = (*SERVING_FILES, "sim_engine.py")

PARAMETER_READERS = ("_parameter", "_number", "_choice", "_flag")  # model.py's ways to read a parameter
INPUT_READER = "get_input_tensor_by_name"
OUTPUT_MAKER = "Tensor"
FLAG_VALUES = ("true", "false", "1", "0", "yes", "no")
JSON_PARAMETERS = frozenset({"engine_args"})  # read as a JSON object (vllm_engine.parse_engine_args)


@dataclass(frozen=True)
class ParameterKind:
    """What a parameter's value must be: any text, int, float, one of `choices`, or a JSON object."""

    kind: str = "text"
    choices: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        """Why `value` would fail model.py's load, or None."""
        text = value.strip()
        if self.kind in ("int", "float"):
            try:
                (int if self.kind == "int" else float)(text)
            except ValueError:
                return f"must be {'a whole number' if self.kind == 'int' else 'a number'}, got {value!r}"
        elif self.kind == "choice" and text.lower() not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        elif self.kind == "json":
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as e:
                return f"is not JSON ({e.msg} at column {e.colno}): write a JSON object, e.g. {{}}"
            if not isinstance(parsed, dict):
                return "must be a JSON object, e.g. {}"
        return None


@dataclass(frozen=True)
class ModelReads:
    parameters: frozenset[str]
    inputs: frozenset[str]
    outputs: frozenset[str]
    kinds: dict[str, ParameterKind] = field(default_factory=dict)


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literal_arg(call: ast.Call, index: int) -> str | None:
    if len(call.args) > index:
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def _kind(call: ast.Call, reader: str, key: str) -> ParameterKind:
    if key in JSON_PARAMETERS:
        return ParameterKind("json")
    if reader == "_flag":
        return ParameterKind("choice", FLAG_VALUES)
    if reader == "_number" and len(call.args) > 2 and isinstance(call.args[2], ast.Name):
        return ParameterKind(call.args[2].id if call.args[2].id in ("int", "float") else "text")
    if reader == "_choice" and len(call.args) > 2 and isinstance(call.args[2], ast.Tuple):
        values = tuple(e.value for e in call.args[2].elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        return ParameterKind("choice", values)
    return ParameterKind()


def model_reads(source: str, file: str = "model.py") -> ModelReads:
    """Parameter keys (with what their values must be), input names and output names a model.py uses."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as e:
        raise UsageError(f"not valid Python: {e.msg}", file=file, line=e.lineno) from None
    except (RecursionError, MemoryError):
        raise UsageError("nested too deeply for Python's parser: is this the right file?", file=file) from None
    kinds: dict[str, ParameterKind] = {}
    inputs: set[str] = set()
    outputs: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name in PARAMETER_READERS and (key := _literal_arg(node, 1)) is not None:
            kind = _kind(node, name, key)
            if kinds.get(key, ParameterKind()).kind == "text":  # a typed read wins over a plain one
                kinds[key] = kind
        elif name == INPUT_READER and (key := _literal_arg(node, 1)) is not None:
            inputs.add(key)
        elif name == OUTPUT_MAKER and (key := _literal_arg(node, 0)) is not None:
            outputs.add(key)
    return ModelReads(frozenset(kinds), frozenset(inputs), frozenset(outputs), kinds)


def read_model_file(path: Path) -> ModelReads:
    return model_reads(read_text(path, what="model file"), str(path))


def serving_source(file: str) -> str:
    """The packaged source of one model-code file (SERVING_FILES or sim_engine.py)."""
    return resources.files("tritonobs.models.serving").joinpath(file).read_text(encoding="utf-8")


def missing_code(repository: Path) -> dict[Path, str]:
    """Model-code files a repository's version folders lack, by path relative to the repository, with
    the packaged source to put there (`models sync` uploads them; a folder with its own copy keeps it)."""
    out: dict[Path, str] = {}
    for model in sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file()):
        for version in sorted(p for p in model.iterdir() if p.is_dir() and p.name.isdigit()):
            for file in SERVING_FILES:
                if not (version / file).is_file():
                    out[(version / file).relative_to(repository)] = serving_source(file)
    return out
