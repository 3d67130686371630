"""The diff as Markdown for a pull-request comment (summary table, then one collapsible section per
artifact) or as JSON. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tritonobs.review.diff import ArtifactDiff, Change
from tritonobs.review.hpa_effect import Effect

MARKER = "<!-- tritonobs-diff -->"  # the workflow finds its own comment by this line and updates it


def _v(x: Any) -> str:
    if x is None:
        return "—"
    text = json.dumps(x, sort_keys=True) if not isinstance(x, str) else x
    text = text if len(text) <= 200 else text[:197] + "…"
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def _around(old: str, new: str, context: int = 40) -> tuple[str, str]:
    """Two long strings cut to the part that differs, with some context."""
    i = 0
    while i < min(len(old), len(new)) and old[i] == new[i]:
        i += 1
    j = 0
    while j < min(len(old), len(new)) - i and old[-1 - j] == new[-1 - j]:
        j += 1
    start = max(0, i - context)

    def cut(s: str) -> str:
        end = len(s) - max(0, j - context)
        return ("…" if start else "") + s[start:end] + ("…" if end < len(s) else "")

    return cut(old), cut(new)


def _line(c: Change) -> str:
    if c.what in ("added", "removed") and not c.field:
        return f"- {c.subject}: **{c.what}**"
    head = f"- {c.subject}: {c.what} `{c.field}`" if c.field else f"- {c.subject}: {c.what}"
    if c.notes or c.detail:
        return head + "\n" + "\n".join(f"  - {n}" for n in c.notes)
    old, new = c.old, c.new
    if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 80:
        old, new = _around(old, new)
    return f"{head}: {_v(old)} → {_v(new)}"


def _effect_md(e: Effect) -> str:
    o, n = e.old, e.new

    def fs(x: float | None) -> str:
        return "never" if x is None else f"{x:g} s"

    rows = [
        ("target per pod", f"{o.target:g}", f"{n.target:g}"),
        ("max replicas reached", str(o.max_replicas_reached), str(n.max_replicas_reached)),
        ("first scale-up after", fs(o.first_scale_up_s), fs(n.first_scale_up_s)),
        ("GPU-hours", f"{o.gpu_hours:g}", f"{n.gpu_hours:g}"),
        ("seconds above target", f"{o.seconds_above_target:g}", f"{n.seconds_above_target:g}"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return (f"**HPA effect** ({e.metric}; trace: {e.trace_name}; the project's HPA engine, replicas ready at once)\n\n"
            f"| | base | head |\n|---|---|---|\n{table}\n")


def markdown(diffs: Sequence[ArtifactDiff], base: str, head: str, effect: Effect | None = None,
             images: dict[str, list[str]] | None = None) -> str:
    out = [MARKER, f"### tritonobs diff `{base}` → `{head}`", ""]
    if not diffs:
        out.append("No change to any rendered artifact (dashboards, rules, adapter, HPA/KEDA, ServiceMonitor).")
        return "\n".join(out) + "\n"
    out += ["| artifact | status | changes |", "|---|---|---|"]
    for d in diffs:
        subjects = sorted({c.subject for c in d.changes})
        out.append(f"| `{d.path}` | {d.status} | {len(d.changes)} in {len(subjects)} item(s) |")
    out.append("")
    effect_shown = False
    for d in diffs:
        out.append(f"<details><summary><code>{d.path}</code> — {d.status}, {len(d.changes)} change(s)</summary>\n")
        for c in d.changes:
            out.append(_line(c))
            if c.detail:
                out += ["", "  ```diff", *("  " + line for line in c.detail.splitlines()), "  ```"]
        if d.kind in ("hpa", "keda") and effect is not None and not effect_shown:
            out += ["", _effect_md(effect)]
            effect_shown = True
        for img in (images or {}).get(d.path, []):
            out.append(f"- preview: `{img}`")
        out.append("\n</details>\n")
    return "\n".join(out) + "\n"


def as_json(diffs: Sequence[ArtifactDiff], base: str, head: str, effect: Effect | None = None,
            images: dict[str, list[str]] | None = None) -> str:
    data: dict[str, Any] = {
        "base": base, "head": head,
        "artifacts": [{"path": d.path, "kind": d.kind, "status": d.status, "changes": [c.as_dict() for c in d.changes]}
                      for d in diffs],
        "images": images or {},
    }
    if effect is not None:
        data["hpa_effect"] = {
            "trace": effect.trace_name, "metric": effect.metric,
            **{s.label: {"target": s.target, "gpu_hours": s.gpu_hours, "seconds_above_target": s.seconds_above_target,
                         "max_replicas_reached": s.max_replicas_reached, "first_scale_up_s": s.first_scale_up_s,
                         "replicas": [[r.time_s, r.replicas] for r in s.rows]} for s in (effect.old, effect.new)},
        }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
