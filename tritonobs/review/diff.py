"""Semantic diff of two sets of rendered artifacts ({path: text}). Pure.

Dashboards panel by panel (matched by id, else title): added, removed, moved (gridPos), retitled, and the
fields a reviewer reads (type, queries, legend, unit, min/max, thresholds, stacking, description);
variables by name. Rules by alert/record name; adapter rules by the metric they serve; HPA, KEDA and
ServiceMonitor field by field. Noise is ignored: version, id, iteration, pluginVersion.
The Kubernetes ConfigMap/PrometheusRule copies say the same as the files they wrap and are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from tritonobs.review import promql_diff

NOISE = frozenset({"version", "id", "iteration", "pluginVersion"})
COPIES = ("dashboards/kubernetes/", "alerts/prometheusrule.yaml", "alerts/tests/")  # copies and derived tests


@dataclass(frozen=True)
class Change:
    artifact: str
    subject: str  # 'panel "Prompt tokens"', 'alert TritonDown', 'spec.maxReplicas'
    what: str  # added | removed | moved | retitled | changed
    field: str = ""
    old: Any = None
    new: Any = None
    notes: tuple[str, ...] = ()  # PromQL: what changed, by token
    detail: str = ""  # PromQL: unified diff of the pretty-printed queries

    def as_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "subject": self.subject, "what": self.what, "field": self.field,
                "old": self.old, "new": self.new, "notes": list(self.notes)}


@dataclass
class ArtifactDiff:
    path: str
    kind: str
    status: str  # added | removed | changed
    changes: list[Change] = field(default_factory=list)


def _kind(path: str) -> str:
    if path.startswith("dashboards/") and path.endswith(".json"):
        return "dashboard"
    if path.startswith("alerts/") and path.endswith(".yaml"):
        return "rules"
    name = path.rsplit("/", 1)[-1]
    if "hpa" in name:
        return "hpa"
    if "keda" in name or "scaledobject" in name:
        return "keda"
    if "adapter" in name:
        return "adapter"
    if "servicemonitor" in name:
        return "servicemonitor"
    return "file"


def _load(path: str, text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return text


def _strip(x: Any, top: bool = True) -> Any:
    """Noise out: version/id/iteration of the dashboard itself, pluginVersion anywhere (panel ids stay:
    they match panels across revisions)."""
    if isinstance(x, dict):
        drop = NOISE if top else {"pluginVersion"}
        return {k: _strip(v, False) for k, v in x.items() if k not in drop}
    if isinstance(x, list):
        return [_strip(v, False) for v in x]
    return x


def flat(x: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(x, dict) and x:
        out: dict[str, Any] = {}
        for k in sorted(x, key=str):
            out |= flat(x[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(x, list) and x and all(isinstance(v, dict) for v in x):
        out = {}
        for i, v in enumerate(x):
            out |= flat(v, f"{prefix}[{i}]")
        return out
    return {prefix: x}


def _field_changes(artifact: str, subject: str, old: Any, new: Any) -> list[Change]:
    a, b = flat(old), flat(new)
    return [Change(artifact, subject, "changed", k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def _query(artifact: str, subject: str, fld: str, old: str | None, new: str | None) -> Change:
    if old is None or new is None:
        return Change(artifact, subject, "changed", fld, old, new)
    return Change(artifact, subject, "changed", fld, old, new, tuple(promql_diff.changes(old, new)),
                  promql_diff.unified(old, new))


# --- dashboards ---

def _panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in d.get("panels") or []:
        if isinstance(p, dict):
            out.append(p)
            out += [c for c in p.get("panels") or [] if isinstance(c, dict)]
    return out


def _panel_view(p: dict[str, Any]) -> dict[str, Any]:
    fc = p.get("fieldConfig") or {}
    d = fc.get("defaults") or {}
    custom = d.get("custom") or {}
    return {
        "type": p.get("type"), "description": p.get("description"), "unit": d.get("unit"), "min": d.get("min"),
        "max": d.get("max"), "decimals": d.get("decimals"),
        "thresholds": [(s.get("color"), s.get("value")) for s in (d.get("thresholds") or {}).get("steps") or []],
        "stacking": (custom.get("stacking") or {}).get("mode"), "overrides": _strip(fc.get("overrides")),
        "datasource": _strip(p.get("datasource")),
    }


def _targets(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(t.get("refId") or i): t for i, t in enumerate(p.get("targets") or []) if isinstance(t, dict)}


def _diff_panel(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    subject = f'panel "{new.get("title")}"'
    out = []
    if old.get("title") != new.get("title"):
        out.append(Change(path, subject, "retitled", "title", old.get("title"), new.get("title")))
    if old.get("gridPos") != new.get("gridPos"):
        out.append(Change(path, subject, "moved", "gridPos", old.get("gridPos"), new.get("gridPos")))
    a, b = _panel_view(old), _panel_view(new)
    for k in a:
        if a[k] != b[k]:
            out.append(Change(path, subject, "changed", k, a[k], b[k]))
    ta, tb = _targets(old), _targets(new)
    for ref in sorted(set(ta) | set(tb)):
        x, y = ta.get(ref), tb.get(ref)
        if x is None or y is None:
            out.append(Change(path, subject, "added" if x is None else "removed", f"query {ref}",
                              (x or {}).get("expr"), (y or {}).get("expr")))
            continue
        if x.get("expr") != y.get("expr"):
            out.append(_query(path, subject, f"query {ref}", x.get("expr"), y.get("expr")))
        for k in ("legendFormat", "interval", "instant", "range"):
            if x.get(k) != y.get(k):
                out.append(Change(path, subject, "changed", f"query {ref} {k}", x.get(k), y.get(k)))
    return out


def diff_dashboard(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    for k in ("title", "tags", "refresh", "time", "editable", "graphTooltip", "description"):
        if old.get(k) != new.get(k):
            out.append(Change(path, "dashboard", "changed", k, old.get(k), new.get(k)))
    po, pn = _panels(old), _panels(new)
    by_id_old = {p.get("id"): p for p in po if p.get("id") is not None}
    matched: set[int] = set()
    for p in pn:
        q = by_id_old.get(p.get("id")) if p.get("id") is not None else None
        if q is None or id(q) in matched:
            q = next((x for x in po if x.get("title") == p.get("title") and id(x) not in matched), None)
        if q is None:
            out.append(Change(path, f'panel "{p.get("title")}"', "added", "", None, p.get("type")))
            continue
        matched.add(id(q))
        out += _diff_panel(path, q, p)
    for q in po:
        if id(q) not in matched:
            out.append(Change(path, f'panel "{q.get("title")}"', "removed", "", q.get("type"), None))
    va = {v.get("name"): _strip(v) for v in (old.get("templating") or {}).get("list") or []}
    vb = {v.get("name"): _strip(v) for v in (new.get("templating") or {}).get("list") or []}
    for name in sorted(set(va) | set(vb), key=str):
        if va.get(name) != vb.get(name):
            if name not in va or name not in vb:
                out.append(Change(path, f"variable ${name}", "added" if name not in va else "removed"))
            else:
                out += _field_changes(path, f"variable ${name}", va[name], vb[name])
    return out


# --- rules, adapter, kube objects ---

def _rules(data: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for g in (data or {}).get("groups") or []:
        for r in g.get("rules") or []:
            key = f"alert {r['alert']}" if r.get("alert") else f"record {r.get('record')}"
            labels = r.get("labels") or {}
            # recording rules may repeat a name with other labels: tell them apart
            if key in out:
                key += " {" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
            out[key] = r
    return out


def diff_rules(path: str, old: Any, new: Any) -> list[Change]:
    a, b = _rules(old), _rules(new)
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            out.append(Change(path, key, "added" if x is None else "removed"))
            continue
        if x.get("expr") != y.get("expr"):
            out.append(_query(path, key, "expr", x.get("expr"), y.get("expr")))
        rest_x = {k: v for k, v in x.items() if k != "expr"}
        rest_y = {k: v for k, v in y.items() if k != "expr"}
        out += _field_changes(path, key, rest_x, rest_y)
    return out


def diff_adapter(path: str, old: Any, new: Any) -> list[Change]:
    def rules(d: Any) -> dict[str, dict[str, Any]]:
        return {str(((r.get("name") or {}).get("as")) or r.get("seriesQuery")): r for r in (d or {}).get("rules") or []}

    a, b = rules(old), rules(new)
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            out.append(Change(path, f"rule {key}", "added" if x is None else "removed"))
            continue
        for q in ("metricsQuery", "seriesQuery"):
            if x.get(q) != y.get(q):
                out.append(_query(path, f"rule {key}", q, x.get(q), y.get(q)) if q == "seriesQuery" or "<<" not in str(x.get(q))
                           else Change(path, f"rule {key}", "changed", q, x.get(q), y.get(q)))
        out += _field_changes(path, f"rule {key}", {k: v for k, v in x.items() if not k.endswith("Query")},
                              {k: v for k, v in y.items() if not k.endswith("Query")})
    return out


def diff_artifacts(old: dict[str, str], new: dict[str, str]) -> list[ArtifactDiff]:
    out = []
    for path in sorted(set(old) | set(new)):
        if path.startswith(COPIES):
            continue
        kind = _kind(path)
        a, b = _strip(_load(path, old.get(path, ""))), _strip(_load(path, new.get(path, "")))
        if a == b:
            continue
        if a is None or b is None:
            out.append(ArtifactDiff(path, kind, "added" if a is None else "removed"))
            continue
        if kind == "dashboard" and isinstance(a, dict) and isinstance(b, dict):
            changes = diff_dashboard(path, a, b)
        elif kind == "rules":
            changes = diff_rules(path, a, b)
        elif kind == "adapter":
            changes = diff_adapter(path, a, b)
        else:
            changes = _field_changes(path, kind, a, b)
        if changes:
            out.append(ArtifactDiff(path, kind, "changed", changes))
    return out
