"""Rules for alerting/recording rules, prometheus-adapter rules, HPA and KEDA ScaledObjects.

alert-for               `for` at least two scrape intervals (one missed scrape must not fire a page)
alert-runbook-url       an absolute http(s) runbook_url (a relative link is dead in Alertmanager/Slack)
alert-labels            a severity label and a summary annotation
hpa-metric-rule         every Pods/Object metric of an HPA has an adapter rule that names it
adapter-relist          the adapter's relist interval is at least the scrape interval
adapter-query           a metricsQuery groups by <<.GroupBy>> and keeps <<.LabelMatchers>> (else `<unknown>`)
keda-one-series         a KEDA Prometheus query aggregates to one series (sum/max/... without `by`)
keda-null-fallback      `ignoreNullValues: "false"` and a `fallback`, so a lost series is not read as 0
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from tritonobs.core.inputs import parse_duration
from tritonobs.review.findings import Doc, Finding, Severity

_AGGS_ONE = {"sum", "max", "min", "avg", "count", "group", "stddev", "stdvar", "quantile"}


@dataclass(frozen=True)
class StackSettings:
    scrape_interval_s: float = 30.0
    relist_interval_s: float | None = None  # None: unknown (a lone adapter file), not checked


def _f(doc: Doc, rule: str, msg: str, path: tuple[str | int, ...], alert: str = "",
       severity: Severity = Severity.error) -> Finding:
    return Finding(rule=rule, message=msg, file=doc.file, line=doc.line(*doc.prefix, *path), alert=alert,
                   severity=severity)


def _rules(doc: Doc) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    for gi, g in enumerate((doc.data or {}).get("groups") or []):
        for ri, r in enumerate((g or {}).get("rules") or []):
            if isinstance(r, dict):
                yield ("groups", gi, "rules", ri), r


def recorded(docs: list[Doc]) -> set[str]:
    return {str(r["record"]) for d in docs if d.kind == "rules" for _, r in _rules(d) if r.get("record")}


def _seconds(text: object) -> float | None:
    try:
        return parse_duration(str(text))
    except Exception:
        return None


def lint_rules(doc: Doc, s: StackSettings) -> list[Finding]:
    out = []
    for path, r in _rules(doc):
        name = str(r.get("alert") or "")
        if not name:
            continue
        f = _seconds(r.get("for", "0s"))
        if f is not None and f < 2 * s.scrape_interval_s:
            out.append(_f(doc, "alert-for", f"for: {r.get('for', '0s')} is under two scrape intervals "
                          f"({2 * s.scrape_interval_s:g}s): one late scrape fires it", (*path, "for")
                          if "for" in r else path, name))
        ann = r.get("annotations") or {}
        url = str(ann.get("runbook_url") or "")
        if not url:
            out.append(_f(doc, "alert-runbook-url", "no runbook_url annotation", path, name))
        elif not re.match(r"https?://[^/\s]+", url):
            out.append(_f(doc, "alert-runbook-url", f"runbook_url '{url}' is not an absolute http(s) URL: the link "
                          "is dead where the alert is read (Alertmanager, Slack)", (*path, "annotations", "runbook_url"), name))
        if not (r.get("labels") or {}).get("severity"):
            out.append(_f(doc, "alert-labels", "no severity label (routing needs it)", path, name))
        if not ann.get("summary"):
            out.append(_f(doc, "alert-labels", "no summary annotation", path, name))
    return out


def _adapter_names(doc: Doc) -> set[str]:
    names = set()
    for r in (doc.data or {}).get("rules") or []:
        as_ = ((r or {}).get("name") or {}).get("as")
        if as_:
            names.add(str(as_))
        else:  # without `as` the metric keeps its series name
            m = re.match(r"\s*([A-Za-z_:][\w:]*)", str((r or {}).get("seriesQuery") or ""))
            if m:
                names.add(m.group(1))
    return names


def lint_adapter(doc: Doc, s: StackSettings) -> list[Finding]:
    out = []
    if s.relist_interval_s is not None and s.relist_interval_s < s.scrape_interval_s:
        out.append(_f(doc, "adapter-relist", f"relist interval {s.relist_interval_s:g}s is shorter than the scrape "
                      f"interval {s.scrape_interval_s:g}s: series drop out between scrapes and the HPA flaps", ("rules",)))
    for i, r in enumerate((doc.data or {}).get("rules") or []):
        q = str((r or {}).get("metricsQuery") or "")
        missing = [f for f in (".GroupBy", ".LabelMatchers") if not re.search(r"<<\s*" + re.escape(f) + r"\s*>>", q)]
        if missing:
            out.append(_f(doc, "adapter-query", f"metricsQuery lacks {' and '.join('<<' + m + '>>' for m in missing)}: "
                          "the adapter cannot return one value per pod and the HPA shows <unknown>",
                          ("rules", i, "metricsQuery")))
    return out


def lint_hpa(doc: Doc, adapter_docs: list[Doc]) -> list[Finding]:
    if not adapter_docs:
        return []  # nothing to hold it against (a lone HPA file)
    names = set().union(*(_adapter_names(a) for a in adapter_docs))
    out = []
    for i, m in enumerate(((doc.data or {}).get("spec") or {}).get("metrics") or []):
        kind = str((m or {}).get("type") or "")
        if kind not in ("Pods", "Object"):
            continue
        name = str((((m or {}).get(kind.lower()) or {}).get("metric") or {}).get("name") or "")
        if name and name not in names:
            out.append(_f(doc, "hpa-metric-rule", f"metric '{name}' has no prometheus-adapter rule "
                          f"({', '.join(sorted(names)) or 'none'} are served): the HPA cannot read it",
                          ("spec", "metrics", i)))
    return out


def lint_keda(doc: Doc) -> list[Finding]:
    out = []
    spec = (doc.data or {}).get("spec") or {}
    if not spec.get("fallback"):
        out.append(_f(doc, "keda-null-fallback", "no fallback: when Prometheus fails, KEDA keeps the last replicas "
                      "without telling", ("spec",)))
    for i, t in enumerate(spec.get("triggers") or []):
        if (t or {}).get("type") != "prometheus":
            continue
        md = t.get("metadata") or {}
        path = ("spec", "triggers", i, "metadata")
        if str(md.get("ignoreNullValues", "true")).lower() != "false":
            out.append(_f(doc, "keda-null-fallback", 'ignoreNullValues is not "false": a lost series reads as 0 and '
                          "scales the workload in", (*path, "ignoreNullValues") if "ignoreNullValues" in md else path))
        query = str(md.get("query") or "")
        try:
            node = pp.parse(query)
        except ValueError as e:
            out.append(_f(doc, "keda-one-series", f"query does not parse: {str(e).splitlines()[0]}", (*path, "query")))
            continue
        while isinstance(node, pp.ParenExpr):
            node = node.expr
        mod = node.modifier if isinstance(node, pp.AggregateExpr) else None
        one = (isinstance(node, pp.AggregateExpr) and str(node.op) in _AGGS_ONE
               and (mod is None or (str(mod.type).endswith("By") and not mod.labels)))
        if not one and not isinstance(node, pp.NumberLiteral):
            out.append(_f(doc, "keda-one-series", "query may return several series (KEDA needs exactly one): wrap it "
                          "in sum(...) without `by`", (*path, "query")))
    return out
