"""`.tritonobs-lint.yaml`: shaped like grafana/dashboard-linter's `.lint` (exclusions and warnings, rule ->
reason and entries of dashboard/panel/alert/targetIdx), plus `settings` and declared `series`.

    exclusions:
      panel-title-description-rule:          # whole rule
        reason: our rows carry the description
      unit-format:
        entries:
          - dashboard: LLM serving
            panel: Prompt tokens
            reason: ...
    warnings:
      template-on-time-change-reload-rule: {}
    settings:
      job_instance: auto   # auto | on | off (job/instance rules; auto: off for Kubernetes-labelled dashboards)
      scrape_interval: 30s # for alert-for and adapter-relist when no spec is linted
    series: [my_app_requests_total]

A rule is named as upstream (`panel-units-rule`) or without its `-rule` suffix. As upstream: a rule
listed with no entries matches everything; an entry's fields that are set must all match.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import parse_duration, read_text
from tritonobs.core.yaml_bounded import load
from tritonobs.review.findings import Finding, Severity
from tritonobs.review.locate import yaml_lines

FILE_NAME = ".tritonobs-lint.yaml"


@dataclass(frozen=True)
class Entry:
    dashboard: str = ""
    panel: str = ""
    alert: str = ""
    target_idx: int | None = None
    reason: str = ""

    def matches(self, f: Finding) -> bool:
        return ((not self.dashboard or self.dashboard == f.dashboard) and (not self.panel or self.panel == f.panel)
                and (not self.alert or self.alert == f.alert)
                and (self.target_idx is None or f.target_idx is None or self.target_idx == f.target_idx))


@dataclass(frozen=True)
class LintConfig:
    exclusions: dict[str, list[Entry]] = field(default_factory=dict)
    warnings: dict[str, list[Entry]] = field(default_factory=dict)
    job_instance: str = "auto"
    scrape_interval_s: float | None = None
    series: frozenset[str] = frozenset()
    file: str = ""

    def apply(self, f: Finding) -> Finding:
        if _hit(self.exclusions, f):
            return replace(f, severity=Severity.excluded)
        if _hit(self.warnings, f):
            return replace(f, severity=Severity.warning)
        return f


def _hit(table: dict[str, list[Entry]], f: Finding) -> bool:
    for name in (f.rule, f.rule.removesuffix("-rule"), f.rule + "-rule"):
        if name in table:
            entries = table[name]
            return not entries or any(e.matches(f) for e in entries)
    return False


def _entries(raw: Any, where: str, file: str, line: int | None) -> list[Entry]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a mapping with `reason` and/or `entries`", file=file, line=line)
    out = []
    for e in raw.get("entries") or []:
        if not isinstance(e, dict):
            raise UsageError(f"{where}.entries: each entry is a mapping (dashboard, panel, alert, targetIdx, reason)",
                             file=file, line=line)
        unknown = set(e) - {"dashboard", "panel", "alert", "targetIdx", "reason"}
        if unknown:
            raise UsageError(f"{where}.entries: unknown key(s) {', '.join(sorted(unknown))}", file=file, line=line)
        idx = e.get("targetIdx")
        out.append(Entry(str(e.get("dashboard") or ""), str(e.get("panel") or ""), str(e.get("alert") or ""),
                         int(idx) if idx not in (None, "") else None, str(e.get("reason") or "")))
    return out


def parse(text: str, file: str, known_rules: set[str]) -> LintConfig:
    node, data = load(text, file)
    lines = yaml_lines(node)
    if data is None:
        return LintConfig(file=file)
    if not isinstance(data, dict):
        raise UsageError("expected a mapping with exclusions/warnings/settings/series", file=file, line=1)
    unknown = set(data) - {"exclusions", "warnings", "settings", "series"}
    if unknown:
        key = sorted(unknown)[0]
        raise UsageError(f"{key}: unknown key (exclusions, warnings, settings, series)", file=file, line=lines.get((key,)))
    tables: dict[str, dict[str, list[Entry]]] = {}
    for section in ("exclusions", "warnings"):
        raw = data.get(section) or {}
        if not isinstance(raw, dict):
            raise UsageError(f"{section}: expected a mapping rule -> entries", file=file, line=lines.get((section,)))
        tables[section] = {}
        for rule, body in raw.items():
            line = lines.get((section, rule))
            if rule not in known_rules and f"{rule}-rule" not in known_rules:
                raise UsageError(f"{section}.{rule}: no such rule (see `tritonobs lint --rules`)", file=file, line=line)
            tables[section][str(rule)] = _entries(body, f"{section}.{rule}", file, line)
    settings = data.get("settings") or {}
    ji = str(settings.get("job_instance", "auto"))
    if ji not in ("auto", "on", "off"):
        raise UsageError(f"settings.job_instance: {ji!r}; use auto, on or off", file=file,
                         line=lines.get(("settings", "job_instance")))
    scrape = settings.get("scrape_interval")
    try:
        scrape_s = parse_duration(str(scrape)) if scrape is not None else None
    except Exception:
        raise UsageError(f"settings.scrape_interval: {scrape!r} is not a duration like 30s", file=file,
                         line=lines.get(("settings", "scrape_interval"))) from None
    series = data.get("series") or []
    if not isinstance(series, list):
        raise UsageError("series: expected a list of series names", file=file, line=lines.get(("series",)))
    return LintConfig(tables["exclusions"], tables["warnings"], ji, scrape_s, frozenset(map(str, series)), file)


def load_config(path: Path | None, root: Path, known_rules: set[str]) -> LintConfig:
    """The named file, else `.tritonobs-lint.yaml` in `root` when it exists, else defaults."""
    if path is None:
        default = root / FILE_NAME
        if not default.is_file():
            return LintConfig()
        path = default
    return parse(read_text(path, what="lint config"), str(path), known_rules)
