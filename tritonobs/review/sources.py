"""Text of a file -> located documents lint and diff work on. Pure: the caller reads the file.

A `.json` file is a dashboard. A YAML file is sorted by what it holds: a ConfigMap whose data values are
dashboard JSON (the Grafana sidecar's form), rule groups (plain or a PrometheusRule), prometheus-adapter
rules (plain or Helm values `rules.custom`), an HPA, a KEDA ScaledObject or a ServiceMonitor.
"""

from __future__ import annotations

import json
from typing import Any

from tritonobs.core.errors import UsageError
from tritonobs.core.yaml_bounded import load_all
from tritonobs.review.findings import Doc
from tritonobs.review.locate import block_offset, json_lines, yaml_lines


def dashboard_doc(text: str, file: str, line_offset: int = 0, prefix: tuple[str | int, ...] = (),
                  indent: int = 0) -> Doc:
    """`line_offset`/`indent`: where the JSON sits in the file (a ConfigMap's block scalar), for located errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"not valid JSON: {e.msg} (column {e.colno + indent})", file=file,
                         line=e.lineno + line_offset) from None
    if not isinstance(data, dict):
        raise UsageError("not a Grafana dashboard: expected a JSON object", file=file, line=1 + line_offset)
    if "dashboard" in data and isinstance(data["dashboard"], dict) and "panels" not in data:
        # the HTTP API's envelope {"dashboard": {...}, "meta": ...}
        lines = {k[1:]: v + line_offset for k, v in json_lines(text).items() if k[:1] == ("dashboard",)}
        return Doc(file, "dashboard", data["dashboard"], lines, prefix)
    lines = {k: v + line_offset for k, v in json_lines(text).items()}
    return Doc(file, "dashboard", data, lines, prefix)


def _kind(data: dict[str, Any]) -> str | None:
    kind = data.get("kind")
    if kind == "HorizontalPodAutoscaler":
        return "hpa"
    if kind == "ScaledObject":
        return "keda"
    if kind == "ServiceMonitor":
        return "servicemonitor"
    if kind == "PrometheusRule":
        return "prometheusrule"
    if kind == "ConfigMap":
        return "configmap"
    if isinstance(data.get("groups"), list):
        return "rules"
    rules = data.get("rules")
    if isinstance(rules, dict) and isinstance(rules.get("custom"), list):
        return "adapter-values"
    if isinstance(rules, list):
        return "adapter"
    return None


def yaml_docs(text: str, file: str) -> list[Doc]:
    out: list[Doc] = []
    for node, data in load_all(text, file):
        if not isinstance(data, dict):
            continue
        lines = yaml_lines(node)
        kind = _kind(data)
        if kind == "configmap":
            for key, value in sorted((data.get("data") or {}).items()):
                if str(key).endswith(".json") and isinstance(value, str):
                    offset = block_offset(node, ("data", key))
                    base = offset if offset is not None else (lines.get(("data", key)) or 1) - 1
                    indent = 0
                    if offset is not None:  # the block's content indentation (first content line)
                        first = (text.splitlines()[offset:offset + 1] or [""])[0]
                        indent = len(first) - len(first.lstrip(" "))
                    out.append(dashboard_doc(value, file, base, ("data", key), indent))
        elif kind == "prometheusrule":
            spec = data.get("spec") or {}
            sub = {k[1:]: v for k, v in lines.items() if k[:1] == ("spec",)}
            out.append(Doc(file, "rules", spec, sub))
        elif kind == "adapter-values":
            sub = {k[2:]: v for k, v in lines.items() if k[:2] == ("rules", "custom")}
            out.append(Doc(file, "adapter", {"rules": data["rules"]["custom"]},
                           {("rules", *k): v for k, v in sub.items()} | {("rules",): lines.get(("rules",), 1)}))
        elif kind is not None:
            out.append(Doc(file, kind, data, lines))
    return out


def docs_of(text: str, file: str) -> list[Doc]:
    """Every document lint knows in this file; [] when it holds none (the caller says so)."""
    if file.endswith(".json"):
        return [dashboard_doc(text, file)]
    if file.endswith((".yaml", ".yml")):
        return yaml_docs(text, file)
    raise UsageError("not a file lint reads: name a dashboard .json or a .yaml (ConfigMap, rules, adapter, HPA, "
                     "ScaledObject)", file=file)
