"""Where each value of a JSON or YAML document starts: `{path: line}` (1-based), path = keys/indexes.

`json.loads` gives no positions, so a small scanner walks the same text once more and records the
line of every value. For YAML the composed node tree carries the marks. A dashboard embedded in a
ConfigMap (`data: {x.json: |...}`) gets lines shifted to where its block starts in the file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

Path = tuple[str | int, ...]
Lines = dict[Path, int]

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_decoder = json.JSONDecoder()


def json_lines(text: str) -> Lines:
    """Line of every value in a JSON text that `json.loads` accepts (the caller parsed it first)."""
    lines: Lines = {}
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        lo, hi = 0, len(line_starts)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def ws(pos: int) -> int:
        return _WS.match(text, pos).end()  # type: ignore[union-attr]

    # Recursive like json.loads itself: a text that parsed is no deeper than its limit.
    def value(pos: int, path: Path) -> int:
        pos = ws(pos)
        lines[path] = line_of(pos)
        ch = text[pos]
        if ch == '"':
            _, end = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
            return int(end)
        if ch in "{[":
            return container(pos, path)
        m = _NUMBER.match(text, pos)
        if m and m.end() > pos:
            return m.end()
        for word in ("true", "false", "null", "NaN", "Infinity", "-Infinity"):
            if text.startswith(word, pos):
                return pos + len(word)
        raise ValueError(f"unexpected character at {pos}")

    def container(pos: int, path: Path) -> int:
        close = "}" if text[pos] == "{" else "]"
        pos = ws(pos + 1)
        index = 0
        if text[pos] == close:
            return pos + 1
        while True:
            if close == "}":
                key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
                pos = ws(pos) + 1  # the colon
                pos = value(pos, (*path, key))
            else:
                pos = value(pos, (*path, index))
                index += 1
            pos = ws(pos)
            if text[pos] == close:
                return pos + 1
            pos = ws(pos + 1)  # past the comma

    value(0, ())
    return lines


def yaml_lines(node: yaml.Node | None, path: Path = (), out: Lines | None = None) -> Lines:
    """Line of every value of a composed YAML node tree."""
    out = {} if out is None else out
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark.line)
            out[(*path, key)] = k.start_mark.line + 1
            yaml_lines(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1  # a key's line, not its block's first line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yaml_lines(v, (*path, i), out)
    return out


def block_offset(node: yaml.Node | None, path: Path) -> int | None:
    """For a literal block scalar at `path`, the file line just before its first content line."""
    cur = node
    for part in path:
        if isinstance(cur, yaml.MappingNode):
            cur = next((v for k, v in cur.value if getattr(k, "value", None) == part), None)
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            cur = cur.value[part]
        else:
            return None
    if isinstance(cur, yaml.ScalarNode) and cur.style in ("|", ">"):
        return int(cur.start_mark.line) + 1  # the indicator's line (0-based) + 1 = last line before content
    return None


def nearest(lines: Lines, path: Path) -> int | None:
    """The line of `path`, else of its closest ancestor that has one."""
    p: Any = path
    while True:
        if p in lines:
            return lines[p]
        if not p:
            return None
        p = p[:-1]
