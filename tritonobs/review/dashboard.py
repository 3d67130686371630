"""A dashboard as the lint rules see it: panels (rows and their nested panels included), targets and
template variables, each with the line it starts on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tritonobs.review.findings import Doc, Finding, Severity
from tritonobs.review.locate import Path

QUERY_PANELS = {"stat", "singlestat", "graph", "table", "timeseries", "gauge"}  # upstream's typed panels


@dataclass(frozen=True)
class Panel:
    data: dict[str, Any]
    path: Path

    @property
    def type(self) -> str:
        return str(self.data.get("type") or "")

    @property
    def title(self) -> str:
        return str(self.data.get("title") or "")

    def targets(self) -> list[tuple[int, dict[str, Any]]]:
        raw = self.data.get("targets")
        return [(i, t) for i, t in enumerate(raw) if isinstance(t, dict)] if isinstance(raw, list) else []


@dataclass(frozen=True)
class Dash:
    doc: Doc

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data if isinstance(self.doc.data, dict) else {}

    @property
    def title(self) -> str:
        return str(self.data.get("title") or "")

    def panels(self) -> Iterator[Panel]:
        """Old-style rows' panels, then top-level panels each followed by the panels nested in it."""
        rows = self.data.get("rows")
        for ri, row in enumerate(rows if isinstance(rows, list) else []):
            for pi, p in enumerate((row or {}).get("panels") or []):
                if isinstance(p, dict):
                    yield Panel(p, ("rows", ri, "panels", pi))
        panels = self.data.get("panels")
        for pi, p in enumerate(panels if isinstance(panels, list) else []):
            if not isinstance(p, dict):
                continue
            yield Panel(p, ("panels", pi))
            for ci, c in enumerate(p.get("panels") or []):
                if isinstance(c, dict):
                    yield Panel(c, ("panels", pi, "panels", ci))

    def variables(self) -> list[dict[str, Any]]:
        raw = (self.data.get("templating") or {}).get("list")
        return [v for v in raw if isinstance(v, dict)] if isinstance(raw, list) else []

    def var_path(self, name: str) -> Path:
        for i, v in enumerate(self.variables()):
            if v.get("name") == name:
                return ("templating", "list", i)
        return ("templating",)

    def datasource_var(self) -> dict[str, Any] | None:
        return next((v for v in self.variables() if v.get("type") == "datasource"), None)

    def is_prometheus(self) -> bool:
        """Upstream runs its PromQL rules only when the first datasource variable is a Prometheus one."""
        ds = self.datasource_var()
        return ds is not None and ds.get("query") == "prometheus"

    def finding(self, rule: str, message: str, path: Path = (), panel: Panel | None = None,
                target: int | None = None, severity: Severity = Severity.error) -> Finding:
        return Finding(rule=rule, message=message, file=self.doc.file, line=self.doc.line(*path),
                       dashboard=self.title, panel=panel.title if panel else "", target_idx=target,
                       severity=severity)


def datasource_uid(raw: Any) -> str:
    """Upstream's GetDataSource: a string is the uid; an object gives its uid; null gives ''."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        uid = raw.get("uid")
        return uid if isinstance(uid, str) else ""
    return ""


def unit_of(panel: Panel) -> str:
    """The unit Grafana shows: an override's unit wins over the default (as upstream reads it)."""
    fc = panel.data.get("fieldConfig") or {}
    unit = ""
    for o in fc.get("overrides") or []:
        for prop in (o or {}).get("properties") or []:
            if (prop or {}).get("id") == "unit" and isinstance(prop.get("value"), str):
                unit = prop["value"]
    if not unit:
        unit = str((fc.get("defaults") or {}).get("unit") or "")
    return unit
