"""tritonobs' own dashboard rules: what the upstream linter does not see.

series-known            every series is in the metric catalogue, recorded by the stack, or declared
counter-rate            counters (by the catalogue's type, else a `_total` name) only under rate/irate/increase
histogram-quantile      histogram_quantile over `_bucket` series, keeping `le` through every aggregation
fixed-rate-range        a literal rate window where `$__rate_interval` belongs (for dashboards upstream's
                        target-rate-interval-rule skips: no Prometheus datasource variable)
unique-panel-titles     two panels with one title cannot be told apart (links, alerts, exclusions)
unique-panel-ids        Grafana keys panel state by id
gridpos-overlap         overlapping panels hide each other
unit-format             unit strings Grafana shows as their author meant
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import promql_parser as pp

from tritonobs.core import catalogue
from tritonobs.review import promql_tools as pq
from tritonobs.review.dashboard import Dash, Panel, unit_of
from tritonobs.review.findings import Finding
from tritonobs.review.units import custom_unit_problem

RANGE_FUNCS = {"rate", "irate", "increase"}


def _exprs(d: Dash) -> Iterable[tuple[Panel, int, str, pp.Expr]]:
    for p in d.panels():
        for i, t in p.targets():
            expr = str(t.get("expr") or "")
            if not expr.strip():
                continue
            try:
                yield p, i, expr, pq.parse(expr, d.variables())
            except ValueError:
                continue  # target-promql-rule reports it


def _target_rule(rule: str, check: Callable[[str, pp.Expr, set[str]], list[str]]) -> Callable[[Dash, set[str]], list[Finding]]:
    def run(d: Dash, known: set[str]) -> list[Finding]:
        return [d.finding(rule, msg, (*p.path, "targets", i, "expr"), p, i)
                for p, i, expr, node in _exprs(d) for msg in check(expr, node, known)]
    return run


def _series_known(expr: str, node: pp.Expr, known: set[str]) -> list[str]:
    out = []
    for sel in pq.selectors(node):
        name = sel.name
        if name and catalogue.lookup(name) is None and name not in known:
            out.append(f"series '{name}' is not in the metric catalogue, not recorded by the stack's rules and not "
                       "declared (add it to `series:` in .tritonobs-lint.yaml if it exists)")
    return sorted(set(out))


def is_counter(name: str) -> bool:
    m = catalogue.lookup(name)
    if m is not None:
        return m.type == "counter" or (m.type == "histogram" and name != m.name)
    return name.endswith(("_total", "_bucket", "_count", "_sum"))


def _counter_rate(expr: str, node: pp.Expr, known: set[str]) -> list[str]:
    out = []
    for n, parents in pq.walk(node):
        if not isinstance(n, pp.VectorSelector) or not n.name or not is_counter(n.name):
            continue
        under = (len(parents) >= 2 and isinstance(parents[-1], pp.MatrixSelector)
                 and pq.func_name(parents[-2]) in RANGE_FUNCS)
        if not under and not any(pq.func_name(p) in ("absent", "absent_over_time", "timestamp") for p in parents):
            out.append(f"counter '{n.name}' is read raw: its value only grows since the process started; "
                       f"wrap it in rate(...[$__rate_interval]) or increase(...)")
    return sorted(set(out))


def _keeps_le(path: tuple[object, ...]) -> str | None:
    """Every aggregation between histogram_quantile and the bucket series must keep `le`."""
    for n in path:
        if isinstance(n, pp.AggregateExpr):
            mod = n.modifier
            labels = list(mod.labels) if mod else []
            by = mod is not None and str(mod.type).endswith("By")
            if (by and "le" not in labels) or (not by and "le" in labels) or mod is None:
                return f"{pq.agg_op(n)} drops `le`"
    return None


def _histogram_quantile(expr: str, node: pp.Expr, known: set[str]) -> list[str]:
    out = []
    for n, _parents in pq.walk(node):
        if pq.func_name(n) != "histogram_quantile" or len(n.args) < 2:
            continue
        inner = n.args[1]
        sels = [(s, p) for s, p in pq.walk(inner) if isinstance(s, pp.VectorSelector)]
        if not sels:
            continue
        for s, p in sels:
            if s.name and not s.name.endswith("_bucket"):
                out.append(f"histogram_quantile over '{s.name}', not a `_bucket` series")
            problem = _keeps_le(p)
            if problem:
                out.append(f"histogram_quantile: {problem} (aggregate `by (le, ...)`)")
    return sorted(set(out))


def _fixed_range(d: Dash) -> list[Finding]:
    if d.is_prometheus():
        return []  # upstream's target-rate-interval-rule covers these dashboards
    out = []
    for p, i, _expr, node in _exprs(d):
        for n, parents in pq.walk(node):
            if (isinstance(n, pp.MatrixSelector) and parents and pq.func_name(parents[-1]) in ("rate", "irate")
                    and n.range != pq.RATE_INTERVAL):
                out.append(d.finding("fixed-rate-range", f"rate window [{pp.display_duration(n.range)}] is fixed: use "
                                     "[$__rate_interval] (at least four scrape intervals, follows the time range)",
                                     (*p.path, "targets", i, "expr"), p, i))
                break
    return out


def _unique_titles(d: Dash) -> list[Finding]:
    panels = [p for p in d.panels() if p.type != "row"]
    counts = Counter(p.title for p in panels)
    seen: set[str] = set()
    out = []
    for p in panels:
        if counts[p.title] > 1 and p.title in seen:
            out.append(d.finding("unique-panel-titles", f"title '{p.title}' is used by {counts[p.title]} panels",
                                 (*p.path, "title"), p))
        seen.add(p.title)
    return out


def _unique_ids(d: Dash) -> list[Finding]:
    seen: dict[object, Panel] = {}
    out = []
    for p in d.panels():
        pid = p.data.get("id")
        if pid is None:
            continue
        if pid in seen:
            out.append(d.finding("unique-panel-ids", f"id {pid} is also the id of panel '{seen[pid].title}'",
                                 (*p.path, "id"), p))
        else:
            seen[pid] = p
    return out


def _box(p: Panel) -> tuple[int, int, int, int] | None:
    g = p.data.get("gridPos")
    if not isinstance(g, dict):
        return None
    try:
        return int(g.get("x", 0)), int(g.get("y", 0)), int(g.get("w", 0)), int(g.get("h", 0))
    except (TypeError, ValueError):
        return None


def _overlap(d: Dash) -> list[Finding]:
    out = []
    placed: list[tuple[Panel, tuple[int, int, int, int]]] = []
    raw = d.data.get("panels")
    panels: list[object] = raw if isinstance(raw, list) else []
    collapsed_children = {id(c) for p in panels if isinstance(p, dict) for c in p.get("panels") or []}
    for p in d.panels():
        box = _box(p)
        if box is None or id(p.data) in collapsed_children:
            continue  # a collapsed row's panels are laid out when it opens
        x, y, w, h = box
        for q, (qx, qy, qw, qh) in placed:
            if x < qx + qw and qx < x + w and y < qy + qh and qy < y + h:
                out.append(d.finding("gridpos-overlap", f"gridPos {box} overlaps panel '{q.title}' at "
                                     f"{(qx, qy, qw, qh)}", (*p.path, "gridPos"), p))
                break
        placed.append((p, box))
    return out


def _unit_format(d: Dash) -> list[Finding]:
    out = []
    for p in d.panels():
        if p.type in ("row", "text"):
            continue
        problem = custom_unit_problem(unit_of(p))
        if problem:
            out.append(d.finding("unit-format", problem, (*p.path, "fieldConfig", "defaults", "unit"), p))
    return out


RULES: dict[str, Callable[[Dash, set[str]], list[Finding]]] = {
    "series-known": _target_rule("series-known", _series_known),
    "counter-rate": _target_rule("counter-rate", _counter_rate),
    "histogram-quantile": _target_rule("histogram-quantile", _histogram_quantile),
    "fixed-rate-range": lambda d, k: _fixed_range(d),
    "unique-panel-titles": lambda d, k: _unique_titles(d),
    "unique-panel-ids": lambda d, k: _unique_ids(d),
    "gridpos-overlap": lambda d, k: _overlap(d),
    "unit-format": lambda d, k: _unit_format(d),
}
