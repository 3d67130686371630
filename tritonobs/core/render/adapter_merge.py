"""Merging this stack's prometheus-adapter rules into a shared adapter's rule list. Pure.

One prometheus-adapter serves every team's HPAs from one rule list (its config file; with the Helm chart,
`rules.custom`, which Helm replaces as a whole on `upgrade -f`). So tritonobs never writes "its" list: it
reads the live one, keeps every rule it does not own where it is, replaces its own in place, appends new
ones and drops the ones the spec no longer renders.

Ownership mark. The adapter parses its config strictly (yaml.UnmarshalStrict: an extra key fails the whole
file), so a rule cannot carry a label. Every rule tritonobs renders carries instead the series filter
`isNot: ^tritonobs/part-of=<stack>$`: no Prometheus metric name contains `/` or `=`, so it filters nothing,
and it says which stack owns the rule, like the part-of label on our objects. A rule without our mark is
foreign, with one exception: a rule identical to what this stack renders minus the mark (what tritonobs
rendered before the mark existed) is adopted.

Refusal. The adapter keys metrics by (resource, name) and the last rule wins (series_registry.go SetSeries),
so a foreign rule serving one of our metric names (`name.as`) would silently take our HPA's metric, or ours
theirs. Such a rule is never overwritten: `merge` raises RuleConflict and nothing is applied.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tritonobs.core.errors import UsageError

Rule = dict[str, Any]
METRIC_PREFIX = "tritonobs_"  # every adapter metric tritonobs names starts with it
_MARK = re.compile(r"^\^tritonobs/part-of=(?P<stack>[a-z0-9\\.-]+)\$$")


class RuleConflict(UsageError):
    """A rule tritonobs does not own serves a metric name this stack renders (exit 2, nothing applied)."""


def owner_filter(stack_name: str) -> dict[str, str]:
    """The no-op series filter that marks a rule as this stack's (stack names are DNS names: only `.` needs escaping)."""
    escaped = stack_name.replace(".", r"\.")
    return {"isNot": f"^tritonobs/part-of={escaped}$"}


def owner(rule: Any) -> str | None:
    """The stack whose mark a rule carries, or None."""
    if not isinstance(rule, dict):
        return None
    for f in rule.get("seriesFilters") or []:
        m = _MARK.match(str(f.get("isNot", ""))) if isinstance(f, dict) else None
        if m:
            return m.group("stack").replace(r"\.", ".")
    return None


def metric_name(rule: Any) -> str | None:
    """The custom-metrics name a rule serves when it names it explicitly (`name.as`)."""
    if not isinstance(rule, dict) or not isinstance(rule.get("name"), dict):
        return None
    value = rule["name"].get("as")
    return str(value) if value else None


def unmarked(rule: Rule) -> Rule:
    out = copy.deepcopy(rule)
    filters = [f for f in out.get("seriesFilters") or [] if owner({"seriesFilters": [f]}) is None]
    if filters:
        out["seriesFilters"] = filters
    else:
        out.pop("seriesFilters", None)
    return out


@dataclass(frozen=True)
class Merged:
    rules: list[Any]  # the whole list to write back: foreign rules untouched and in place, ours current
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # unmarked rules identical to ours (older tritonobs)
    kept: int = 0  # rules of others, left as they were
    changed: bool = False

    def summary(self) -> str:
        parts = [f"{len(v)} {k} ({', '.join(v)})" for k, v in
                 (("added", self.added), ("updated", self.updated), ("removed", self.removed),
                  ("adopted", self.adopted)) if v]
        return "; ".join([*parts, f"{self.kept} rule(s) of others kept"])


def merge(live: Sequence[Any], ours: Sequence[Rule], stack_name: str, where: str) -> Merged:
    """The live list with this stack's rules brought up to date. `where` names the list in messages."""
    rendered = {metric_name(r): r for r in ours}
    conflicts: list[str] = []
    mine: list[bool] = []
    adopted: list[str] = []
    for i, rule in enumerate(live):
        name = metric_name(rule)
        stack = owner(rule)
        if stack == stack_name:
            mine.append(True)
            continue
        if name in rendered and stack is None and rule == unmarked(rendered[name]):
            mine.append(True)
            adopted.append(str(name))
            continue
        mine.append(False)
        if name in rendered:
            whose = f"tritonobs stack {stack!r}'s" if stack else "not marked as tritonobs'"
            conflicts.append(f"{where}[{i}] serves {name} too ({whose})")
    if conflicts:
        raise RuleConflict(
            f"{'; '.join(conflicts)}: the adapter serves one rule per metric name (the last wins), so tritonobs "
            "will neither overwrite it nor add a second one. Nothing applied. If an older tritonobs rendered it, "
            f"delete it from {where} and re-run; otherwise its owner must serve another metric name (two "
            "tritonobs stacks cannot share one adapter on the same signal)"
        )
    out: list[Any] = []
    done: set[str] = set()
    added: list[str] = []
    updated: list[str] = []
    removed: list[str] = []
    for rule, is_mine in zip(live, mine, strict=True):
        if not is_mine:
            out.append(rule)
            continue
        name = metric_name(rule) or "<unnamed>"
        if name in rendered and name not in done:
            out.append(rendered[name])
            done.add(name)
            if rule != rendered[name] and name not in adopted:
                updated.append(name)
        else:
            removed.append(name)
    for key, rule in rendered.items():
        if key not in done:
            out.append(rule)
            added.append(str(key))
    return Merged(out, added, updated, removed, adopted, kept=mine.count(False), changed=out != list(live))
