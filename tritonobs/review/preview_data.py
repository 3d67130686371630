"""Query results for panel previews, from a Prometheus (the edge). Template variables are substituted as
Grafana does: a query variable's values come from `label_values(...)` on that Prometheus; `All` (or a
multi-value selection) becomes the regex `(a|b)` with regex characters escaped, or the variable's
allValue; a single value is used as is. `$__interval` is the range over ~{POINTS} points (at least the
scrape interval), `$__rate_interval` is max($__interval + scrape, 4 x scrape), `$__range` the whole range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from tritonobs.prom.client import PrometheusClient, QueryError
from tritonobs.review.preview_draw import PanelData, Series

POINTS = 300
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+)\s*,\s*)?([A-Za-z_]\w*)\s*\)\s*$")  # greedy: the last comma
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    scrape_s: float = 15.0

    @property
    def step(self) -> float:
        return max(self.scrape_s, math.ceil((self.end - self.start) / POINTS))

    def builtins(self) -> dict[str, str]:
        step = self.step
        return {"__interval": f"{int(step)}s", "__interval_ms": str(int(step * 1000)),
                "__rate_interval": f"{int(max(step + self.scrape_s, 4 * self.scrape_s))}s",
                "__range": f"{int(self.end - self.start)}s", "__range_s": str(int(self.end - self.start)),
                "__range_ms": str(int((self.end - self.start) * 1000))}


def substitute(expr: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))

    return _VAR.sub(sub, expr)


def regex_escape(value: str) -> str:
    """Grafana's prometheusSpecialRegexEscape: a regex escape written inside a PromQL string (doubled)."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def _selected(var: dict[str, Any]) -> list[str]:
    cur = (var.get("current") or {}).get("value")
    vals = cur if isinstance(cur, list) else [cur] if cur not in (None, "") else []
    return [str(v) for v in vals]


def resolve_variables(dashboard: dict[str, Any], client: PrometheusClient, w: Window) -> dict[str, str]:
    """Each variable's text as Grafana puts it into a query, in declaration order (later ones may use earlier)."""
    values = w.builtins()
    for var in (dashboard.get("templating") or {}).get("list") or []:
        name, kind = str(var.get("name") or ""), var.get("type")
        if kind == "datasource" or not name:
            continue
        selected = _selected(var)
        if kind in ("constant", "textbox", "custom", "interval"):
            values[name] = selected[0] if selected else str(var.get("query") or "")
            continue
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = _LABEL_VALUES.match(substitute(query, values))
        options: list[str] = []
        if m:
            match, label = m.group(1) or "up", m.group(2)
            try:
                options = sorted({s[label] for s in client.series(match, w.start, w.end) if label in s})
            except QueryError:
                options = []
        all_selected = not selected or "$__all" in selected or "All" in selected
        if all_selected and var.get("includeAll"):
            if var.get("allValue"):
                values[name] = str(var["allValue"])
            else:
                values[name] = "(" + "|".join(regex_escape(o) for o in options) + ")" if options else ".*"
        elif all_selected:
            values[name] = options[0] if options else ""
        elif len(selected) > 1:
            values[name] = "(" + "|".join(regex_escape(v) for v in selected) + ")"
        else:
            values[name] = selected[0]
    return values


def panel_data(panel: dict[str, Any], client: PrometheusClient, w: Window, values: dict[str, str]) -> PanelData:
    if panel.get("type") in ("row", "text"):
        return PanelData()
    out: list[Series] = []
    notes = []
    for t in panel.get("targets") or []:
        expr = str((t or {}).get("expr") or "")
        if not expr.strip() or t.get("hide"):
            continue
        q = substitute(expr, values)
        try:
            for s in client.query_range(q, w.start, w.end, w.step):
                out.append(Series(dict(s.labels), tuple(s.points), str(t.get("refId") or ""), str(t.get("legendFormat") or "")))
        except QueryError as e:
            notes.append(f"{t.get('refId')}: {e}")
    return PanelData(tuple(out), "; ".join(notes) or "No data")
