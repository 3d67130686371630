"""PromQL as dashboard-linter reads it: Grafana variables replaced by sample values, then parsed and walked
with each node's parents.

The sample values follow dashboard-linter (lint/variables.go): `$__rate_interval` becomes a magic
duration (8869990787ms) so a rule can tell it from a fixed range after parsing; a template variable takes
its current value (else its first option, else its own name); text between double quotes is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import promql_parser as pp

RATE_INTERVAL_MS = 8869990787


def _ms(ms: int) -> str:
    """`8869990787ms` as `2463h53m10s787ms`: the same duration, which this parser reads (u32 milliseconds)."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    sec, milli = divmod(rest, 1000)
    return f"{h}h{m}m{sec}s{milli}ms"


GLOBALS: dict[str, str] = {
    "__rate_interval": _ms(RATE_INTERVAL_MS),
    "__interval": _ms(4867856611),
    "__interval_ms": "7781188786",
    "__range_ms": "6737667980",
    "__range_s": "9397795485",
    "__range": _ms(6069770749),
    "__dashboard": "AwREbnft",
    "__from": "1594671549254",
    "__to": "1594671549254",
    "__name": "name",
    "__org": "42",
    "__auto": _ms(12345),
}
RATE_INTERVAL = timedelta(milliseconds=RATE_INTERVAL_MS)
_VAR = re.compile(r"\$(\w+)|\$\{([^}]+)\}|\[\[([^\[\]]+)\]\]")


def _current(var: dict[str, Any]) -> str:
    for source in (var.get("current"), *(var.get("options") or [])[:1]):
        if isinstance(source, dict):
            value = source.get("value")
            if isinstance(value, list):
                value = value[0] if value else ""
            if isinstance(value, str) and value:
                return value
    return ""


def _sample(spec: str, variables: list[dict[str, Any]], depth: int) -> str:
    name, _, fmt = spec.partition(":")
    if name in GLOBALS:
        return GLOBALS[name]
    if name.startswith("__auto_interval"):
        return "10s"
    for v in variables:
        if v.get("name") == name:
            value = _current(v)
            if value and depth < 8:
                others = [o for o in variables if o.get("name") != name]
                return expand(value, others, depth + 1)
    if fmt in ("regex", "pipe"):
        return "|".join([name] * 3)
    if fmt in ("csv", "raw"):
        return ",".join([name] * 3)
    return name


def expand(expr: str, variables: list[dict[str, Any]], depth: int = 0) -> str:
    parts = expr.split('"')
    for i in range(0, len(parts), 2):  # outside double quotes only, as upstream
        parts[i] = _VAR.sub(lambda m: _sample(next(g for g in m.groups() if g), variables, depth), parts[i])
    return '"'.join(parts)


def parse(expr: str, variables: list[dict[str, Any]]) -> pp.Expr:
    """Raises ValueError when the expanded expression does not parse."""
    return pp.parse(expand(expr, variables))


def children(node: Any) -> list[Any]:
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if isinstance(node.param, pp.Expr) else [])
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, pp.Call):
        return [a for a in node.args if isinstance(a, pp.Expr)]
    return []


def walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node with its parents (outermost first), pre-order."""
    yield node, parents
    for child in children(node):
        yield from walk(child, (*parents, node))


def func_name(node: Any) -> str:
    return str(node.func.name) if isinstance(node, pp.Call) else ""


def selectors(node: Any) -> list[pp.VectorSelector]:
    return [n for n, _ in walk(node) if isinstance(n, pp.VectorSelector)]


def matchers(sel: pp.VectorSelector) -> list[pp.Matcher]:
    return list(sel.matchers.matchers)


def agg_op(node: Any) -> str:
    return str(node.op) if isinstance(node, pp.AggregateExpr) else ""


def first(node: Any, test: Callable[[Any, tuple[Any, ...]], bool]) -> Any | None:
    return next((n for n, p in walk(node) if test(n, p)), None)
