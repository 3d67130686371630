"""What lint works on (located documents) and what it reports (findings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tritonobs.review.locate import Lines, Path, nearest


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    excluded = "excluded"


@dataclass(frozen=True)
class Doc:
    """One parsed document of a file, with the line of each value (lines already shifted for ConfigMaps)."""

    file: str
    kind: str  # dashboard | rules | adapter | hpa | keda | servicemonitor
    data: Any
    lines: Lines = field(default_factory=dict)
    prefix: Path = ()  # where `data` sits inside the file's document (ConfigMap: ("data", "x.json"))

    def line(self, *path: str | int) -> int | None:
        return nearest(self.lines, path)


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    file: str
    line: int | None = None
    dashboard: str = ""
    panel: str = ""
    alert: str = ""
    target_idx: int | None = None
    severity: Severity = Severity.error

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def text(self) -> str:
        ctx = []
        if self.dashboard:
            ctx.append(f'dashboard "{self.dashboard}"')
        if self.panel:
            ctx.append(f'panel "{self.panel}"')
        if self.alert:
            ctx.append(f'rule "{self.alert}"')
        head = f"{self.where}: " + (" ".join(ctx) + ": " if ctx else "")
        tail = " (excluded)" if self.severity is Severity.excluded else ""
        return f"{head}{self.rule}: {self.message}{tail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": str(self.severity), "message": self.message, "file": self.file,
            "line": self.line, "dashboard": self.dashboard or None, "panel": self.panel or None,
            "alert": self.alert or None, "target": self.target_idx,
        }
