"""What a model.py reads, found by parsing its source (never importing it: it needs Triton and vLLM).

model.py reads its settings through `_parameter(parameters, "key")`, its inputs through
`pb_utils.get_input_tensor_by_name(request, "NAME")` and creates outputs with `pb_utils.Tensor("NAME", ...)`.
The validator derives from this what config.pbtxt must declare, so the two cannot drift apart silently.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tritonobs.errors import UsageError

PARAMETER_READER = "_parameter"  # model.py's one way to read a config.pbtxt parameter
INPUT_READER = "get_input_tensor_by_name"
OUTPUT_MAKER = "Tensor"


@dataclass(frozen=True)
class ModelReads:
    parameters: frozenset[str]
    inputs: frozenset[str]
    outputs: frozenset[str]


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


def model_reads(source: str, file: str = "model.py") -> ModelReads:
    """Parameter keys, input names and output names a model.py uses (string literals only)."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as e:
        raise UsageError(f"not valid Python: {e.msg}", file=file, line=e.lineno) from None
    parameters: set[str] = set()
    inputs: set[str] = set()
    outputs: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name == PARAMETER_READER and (key := _literal_arg(node, 1)) is not None:
            parameters.add(key)
        elif name == INPUT_READER and (key := _literal_arg(node, 1)) is not None:
            inputs.add(key)
        elif name == OUTPUT_MAKER and (key := _literal_arg(node, 0)) is not None:
            outputs.add(key)
    return ModelReads(frozenset(parameters), frozenset(inputs), frozenset(outputs))


def read_model_file(path: Path) -> ModelReads:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read: {e}", file=str(path)) from None
    return model_reads(source, str(path))
