"""`tune --write`: set `autoscaling.targets.<signal>` in tritonobs.yaml in place, keeping every comment, the key
order, flow mappings and quoting (ruamel.yaml round trip). Pure: text in, text out."""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from tritonobs.core.errors import UsageError


def _yaml() -> YAML:
    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines
    y.indent(mapping=2, sequence=4, offset=2)  # the example's `models:\n  - name:` layout
    return y


def set_target(text: str, signal: str, value: float, note: str, *, file: str = "tritonobs.yaml") -> str:
    """The spec text with autoscaling.targets.<signal> = value and `note` as its end-of-line comment."""
    y = _yaml()
    try:
        data = y.load(text)
    except Exception as e:  # noqa: BLE001 (ruamel raises many kinds; the spec was validated before)
        raise UsageError(f"cannot edit the spec in place: {e}", file=file) from None
    if not isinstance(data, CommentedMap):
        raise UsageError("the spec is not a mapping", file=file)
    auto = data.get("autoscaling")
    if auto is None:
        auto = data["autoscaling"] = CommentedMap()
    targets = auto.get("targets")
    if targets is None:
        targets = auto["targets"] = CommentedMap()
    targets[signal] = int(value) if float(value).is_integer() else value
    targets.yaml_add_eol_comment(note, signal)
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()
