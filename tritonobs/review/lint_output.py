"""Findings as text (one line each), JSON, or GitHub Actions workflow commands (annotations)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tritonobs.review.findings import Finding, Severity


def text(findings: Sequence[Finding], show_excluded: bool = False) -> str:
    shown = [f for f in findings if show_excluded or f.severity is not Severity.excluded]
    lines = [("warning: " if f.severity is Severity.warning else "") + f.text() for f in shown]
    errors = sum(f.severity is Severity.error for f in findings)
    warnings = sum(f.severity is Severity.warning for f in findings)
    excluded = sum(f.severity is Severity.excluded for f in findings)
    lines.append(f"{errors} error(s), {warnings} warning(s), {excluded} excluded")
    return "\n".join(lines) + "\n"


def as_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2, sort_keys=True) + "\n"


def _escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return s.replace(":", "%3A").replace(",", "%2C") if prop else s


def github(findings: Sequence[Finding]) -> str:
    """`::error file=F,line=L,title=RULE::message` — GitHub shows them on the pull request's diff."""
    out = []
    for f in findings:
        if f.severity is Severity.excluded:
            continue
        level = "error" if f.severity is Severity.error else "warning"
        props = [f"file={_escape(f.file, True)}"] + ([f"line={f.line}"] if f.line else []) + [f"title={_escape(f.rule, True)}"]
        ctx = " ".join(x for x in (f'dashboard "{f.dashboard}"' if f.dashboard else "",
                                   f'panel "{f.panel}"' if f.panel else "", f'rule "{f.alert}"' if f.alert else "") if x)
        out.append(f"::{level} {','.join(props)}::{_escape((ctx + ': ' if ctx else '') + f.message)}")
    return "\n".join(out) + ("\n" if out else "")
