"""PromQL changes shown by token: both sides pretty-printed, and what changed named (matcher, function,
aggregation, range), so a reviewer sees `model=~"$model"` -> `model="llama2"` instead of two long lines."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

import promql_parser as pp

from tritonobs.review import promql_tools as pq

_VAR = re.compile(r"\$\{[^}]+\}|\$\w+|\[\[[^\[\]]+\]\]")


def pretty(expr: str) -> str:
    """Prometheus' own layout (prettify), with Grafana variables kept as written."""
    holders: dict[str, str] = {}

    def hold(m: re.Match[str]) -> str:
        placeholder = pp.display_duration(timedelta(milliseconds=977_000_001 + len(holders)))
        holders[placeholder] = m.group(0)
        return placeholder

    parts = expr.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = _VAR.sub(hold, parts[i])
    try:
        out = pp.parse('"'.join(parts)).prettify()
    except ValueError:
        return expr.strip()
    for placeholder, original in sorted(holders.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(placeholder, original)
    return out


def _facts(expr: str) -> dict[str, set[str]]:
    try:
        node = pq.parse(expr, [])
    except ValueError:
        return {}
    facts: dict[str, set[str]] = {"matcher": set(), "function": set(), "aggregation": set(), "range": set(),
                                  "series": set(), "number": set()}
    for n, _ in pq.walk(node):
        if isinstance(n, pp.VectorSelector):
            if n.name:
                facts["series"].add(n.name)
            facts["matcher"] |= {f"{n.name or ''}{{{m}}}" for m in pq.matchers(n)}
        elif isinstance(n, pp.Call):
            facts["function"].add(pq.func_name(n))
        elif isinstance(n, pp.AggregateExpr):
            mod = n.modifier
            by = f" {'by' if str(mod.type).endswith('By') else 'without'} ({', '.join(mod.labels)})" if mod else ""
            facts["aggregation"].add(f"{pq.agg_op(n)}{by}")
        elif isinstance(n, pp.NumberLiteral):
            facts["number"].add(f"{n.val:g}")
        elif isinstance(n, pp.MatrixSelector):
            facts["range"].add(f"[{_MAGIC.get(n.range) or pp.display_duration(n.range)}]")
    return facts


def _magic() -> dict[timedelta, str]:
    out = {}
    for name, value in pq.GLOBALS.items():
        try:
            out[pp.parse_duration(value)] = f"${name}"
        except ValueError:
            continue
    return out


_MAGIC = _magic()


def _unexpand(text: str) -> str:
    for name, value in pq.GLOBALS.items():
        text = text.replace(value, f"${name}")
    return text


def changes(old: str, new: str) -> list[str]:
    """What differs, by kind: `matcher: -namespace="a" +namespace="b"`."""
    a, b = _facts(old), _facts(new)
    out = []
    for kind in ("series", "matcher", "function", "aggregation", "range", "number"):
        removed, added = sorted(a.get(kind, set()) - b.get(kind, set())), sorted(b.get(kind, set()) - a.get(kind, set()))
        if removed or added:
            out.append(f"{kind}: " + " ".join([f"-`{_unexpand(x)}`" for x in removed] + [f"+`{_unexpand(x)}`" for x in added]))
    return out


def unified(old: str, new: str) -> str:
    """A `diff` block body of the two pretty-printed queries."""
    lines = difflib.unified_diff(pretty(old).splitlines(), pretty(new).splitlines(), lineterm="", n=20)
    return "\n".join(line for line in list(lines)[2:] if not line.startswith("@@"))
