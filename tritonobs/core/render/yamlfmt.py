"""Deterministic YAML/JSON text for every artifact: sorted keys, block scalars for multi-line strings."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tritonobs.core.model import GENERATED_BY


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (PromQL, JSON, rule files) as literal blocks so diffs stay readable.
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Any, *, header: bool = True, sort_keys: bool = True) -> str:
    """sort_keys=False keeps a document's own key order (a shared config that others wrote)."""
    body = yaml.dump(obj, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, width=100, allow_unicode=True)
    return (f"# {GENERATED_BY}\n" if header else "") + body


def to_yaml_docs(objs: list[Any], *, header: bool = True) -> str:
    parts = [yaml.dump(o, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100) for o in objs]
    return (f"# {GENERATED_BY}\n" if header else "") + "---\n".join(parts)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
