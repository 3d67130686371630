"""grafana/dashboard-linter's Prometheus rules, ported to Python with the same names, scopes and messages
(lint/rule_*.go at 4d0844b). Differences, on purpose: none in what is flagged; findings carry lines.

template-job/-instance and target-job/-instance are switched by `job_instance` in the lint config:
`auto` (default) turns them off for a dashboard whose queries select by Kubernetes labels (namespace/pod),
where job and instance say nothing the pod label doesn't.
"""

from __future__ import annotations

from collections.abc import Callable

import promql_parser as pp

from tritonobs.review import promql_tools as pq
from tritonobs.review.dashboard import QUERY_PANELS, Dash, Panel, datasource_uid, unit_of
from tritonobs.review.findings import Finding, Severity
from tritonobs.review.units import VALID_UNITS

DashRule = Callable[[Dash], list[Finding]]


def template_datasource(d: Dash) -> list[Finding]:
    rule = "template-datasource-rule"
    ds_vars = [v for v in d.variables() if str(v.get("type", "")).lower() == "datasource"]
    if not ds_vars:
        return [d.finding(rule, "does not have a templated data source", ("templating",))]
    out = []
    for v in ds_vars:
        name, label, query = str(v.get("name") or ""), str(v.get("label") or ""), str(v.get("query") or "")
        uid, title = f"{query.lower()}_datasource", f"{query.title()} data source"
        ok_names, ok_labels = {uid}, {title}
        uid_err = f"templated data source variable named '{name}', should be named '{uid}'"
        name_err = f"templated data source variable labeled '{label}', should be labeled '{title}'"
        if len(ds_vars) == 1:
            ok_names.add("datasource")
            ok_labels.add("Data source")
            uid_err += ", or 'datasource'"
            name_err += ", or 'Data source'"
        path = d.var_path(name)
        if name not in ok_names:
            out.append(d.finding(rule, uid_err, path))
        if label not in ok_labels:
            out.append(d.finding(rule, name_err, path, severity=Severity.warning))
    return out


def _template(d: Dash, name: str, rule: str) -> list[Finding]:
    if not d.is_prometheus():
        return []
    var = next((v for v in d.variables() if v.get("name") == name), None)
    if var is None:
        return [d.finding(rule, f"is missing the {name} template", ("templating",))]
    path = d.var_path(name)
    out = []
    uid = datasource_uid(var.get("datasource"))
    if uid not in ("$datasource", "${datasource}", "$prometheus_datasource", "${prometheus_datasource}"):
        out.append(d.finding(rule, f"{name} template should use datasource '$datasource', is currently '{uid}'", path))
    if var.get("type") != "query":
        out.append(d.finding(rule, f"{name} template should be a Prometheus query, is currently '{var.get('type')}'", path))
    if var.get("label") != name.title():
        out.append(d.finding(rule, f"{name} template should be a labeled '{name.title()}', is currently "
                                   f"'{var.get('label') or ''}'", path, severity=Severity.warning))
    if not var.get("multi"):
        out.append(d.finding(rule, f"{name} template should be a multi select", path))
    if var.get("allValue") != ".+":
        out.append(d.finding(rule, f"{name} template allValue should be '.+', is currently '{var.get('allValue') or ''}'", path))
    return out


def template_job(d: Dash) -> list[Finding]:
    return _template(d, "job", "template-job-rule")


def template_instance(d: Dash) -> list[Finding]:
    return _template(d, "instance", "template-instance-rule")


_LABEL_QUERY = pq.re.compile(r"([a-z_]+)\((.+)\)")


def template_label_promql(d: Dash) -> list[Finding]:
    if not d.is_prometheus():
        return []
    out = []
    for v in d.variables():
        if v.get("type") != "query":
            continue
        query = v.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = _LABEL_QUERY.search(query)
        problem = ""
        if m is None:
            problem = f"invalid 'query': {query}"
        elif m.group(1) not in ("label_names", "label_values", "metrics", "query_result"):
            problem = f"invalid 'function': {m.group(1)}"
        else:
            inner = m.group(2)
            if m.group(1) == "label_values" and "," in inner:  # label_values(selector, label): the selector parses
                inner = inner.rsplit(",", 1)[0]
            try:
                pq.parse(inner, d.variables())
            except ValueError as e:
                problem = str(e).splitlines()[0]
        if problem:
            out.append(d.finding("template-label-promql-rule",
                                 f"template '{v.get('name')}' invalid templated label '{query}': {problem}",
                                 d.var_path(str(v.get("name")))))
    return out


def template_on_time_change_reload(d: Dash) -> list[Finding]:
    out = []
    for v in d.variables():
        if v.get("type") == "query" and v.get("refresh") != 2:
            out.append(d.finding(
                "template-on-time-change-reload-rule",
                f"templated datasource variable named '{v.get('name')}', should be set to be refreshed "
                f"'On Time Range Change (value 2)', is currently '{v.get('refresh') or 0}'",
                (*d.var_path(str(v.get("name"))), "refresh")))
    return out


def uneditable(d: Dash) -> list[Finding]:
    if d.data.get("editable"):
        return [d.finding("uneditable-dashboard", "is editable, it should be set to 'editable: false'", ("editable",))]
    return []


def _panel_rule(fn: Callable[[Dash, Panel], list[Finding]]) -> DashRule:
    return lambda d: [f for p in d.panels() for f in fn(d, p)]


def panel_datasource(d: Dash, p: Panel) -> list[Finding]:
    if p.type not in ("singlestat", "graph", "table", "timeseries"):
        return []
    names = {v.get("name") for v in d.variables() if str(v.get("type", "")).lower() == "datasource"}
    allowed = {f"${n}" for n in names} | {f"${{{n}}}" for n in names}
    uid = datasource_uid(p.data.get("datasource"))
    if uid in allowed:
        return []
    return [d.finding("panel-datasource-rule", f"does not use a templated datasource, uses '{uid}'",
                      (*p.path, "datasource"), p)]


def panel_title_description(d: Dash, p: Panel) -> list[Finding]:
    if p.type not in QUERY_PANELS:
        return []
    desc = str(p.data.get("description") or "")
    if p.title and desc:
        return []
    return [d.finding("panel-title-description-rule", "has missing title or description, currently has title "
                      f"'{p.title}' and description: '{desc}'", p.path, p)]


def panel_units(d: Dash, p: Panel) -> list[Finding]:
    if p.type not in QUERY_PANELS:
        return []
    if p.type == "stat" and ((p.data.get("options") or {}).get("reduceOptions") or {}).get("fields"):
        return []  # a stat showing non-numeric fields needs no unit
    fc = p.data.get("fieldConfig") or {}
    mappings = (fc.get("defaults") or {}).get("mappings")
    has_override_mappings = any((prop or {}).get("id") == "mappings" and prop.get("value") is not None
                                for o in fc.get("overrides") or [] for prop in (o or {}).get("properties") or [])
    if has_override_mappings or mappings is not None and "mappings" in (fc.get("defaults") or {}):
        # upstream: any mappings field that unmarshals (even []) counts as value mappings
        return []
    unit = unit_of(p)
    if unit and unit in VALID_UNITS:
        return []
    return [d.finding("panel-units-rule", f"has no or invalid units defined: '{unit}'",
                      (*p.path, "fieldConfig", "defaults", "unit"), p)]


def panel_no_targets(d: Dash, p: Panel) -> list[Finding]:
    if p.type in QUERY_PANELS and p.data.get("targets") is None:
        return [d.finding("panel-no-targets-rule", "has no targets", p.path, p)]
    return []


_PROMQL_PANELS = {"singlestat", "gauge", "table", "stat", "state-timeline", "timeseries"}


def _targets(rule: str, check: Callable[[Dash, Panel, dict, pp.Expr], list[str]], need_prom: bool = True,
             panels: set[str] | None = _PROMQL_PANELS) -> DashRule:
    def run(d: Dash) -> list[Finding]:
        if need_prom and not d.is_prometheus():
            return []
        out = []
        for p in d.panels():
            if panels is not None and p.type not in panels:
                continue
            for i, t in p.targets():
                try:
                    expr = pq.parse(str(t.get("expr") or ""), d.variables())
                except ValueError:
                    continue
                for msg in check(d, p, t, expr):
                    out.append(d.finding(rule, msg, (*p.path, "targets", i, "expr"), p, i))
        return out
    return run


def target_promql(d: Dash) -> list[Finding]:
    if not d.is_prometheus():
        return []
    out = []
    for p in d.panels():
        if p.type not in _PROMQL_PANELS:
            continue
        for i, t in p.targets():
            expr = str(t.get("expr") or "")
            try:
                pq.parse(expr, d.variables())
            except ValueError as e:
                out.append(d.finding("target-promql-rule", f"invalid PromQL query '{expr}': {str(e).splitlines()[0]}",
                                     (*p.path, "targets", i, "expr"), p, i))
    return out


def _rate_interval(d: Dash, p: Panel, t: dict, expr: pp.Expr) -> list[str]:
    for node, parents in pq.walk(expr):
        if not isinstance(node, pp.MatrixSelector) or node.range == pq.RATE_INTERVAL or not parents:
            continue
        if not isinstance(parents[-1], pp.Call):
            return [f"invalid PromQL query '{t.get('expr')}': $__rate_interval used in non-rate function"]
        if pq.func_name(parents[-1]) in ("rate", "irate"):
            return [f"invalid PromQL query '{t.get('expr')}': should use $__rate_interval"]
    return []


def _matcher(label: str) -> Callable[[Dash, Panel, dict, pp.Expr], list[str]]:
    """Upstream checkForMatcher: every selector needs `label=~"$label"` (quoted text is never expanded)."""
    def check(d: Dash, p: Panel, t: dict, expr: pp.Expr) -> list[str]:
        out = []
        for sel in pq.selectors(expr):
            problem: str | None = f"{label} selector not found"
            for m in pq.matchers(sel):
                if m.name != label:
                    continue
                is_re = str(m.op) == "MatchOp.Re"
                if is_re and m.value == f"${label}":
                    problem = None
                    break
                if not is_re:
                    problem = f"{label} selector is {_OPS.get(str(m.op), str(m.op))}, not =~"
                if m.value != f"${label}":
                    problem = f"{label} selector is {m.value}, not ${label}"
            if problem:
                out.append(f"invalid PromQL query '{t.get('expr')}': {problem}")
        return out
    return check


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def _counter_agg(d: Dash, p: Panel, t: dict, expr: pp.Expr) -> list[str]:
    for node, parents in pq.walk(expr):
        # upstream tests the selector's text, as Go prints it: a selector with label matchers ends in `}` and
        # is not taken for a counter (kept as is: ours, counter-rate, reads the catalogue's type instead)
        if (isinstance(node, pp.VectorSelector) and node.name and node.name.endswith("_total")
                and not [m for m in pq.matchers(node) if m.name != "__name__"]):
            ok = (len(parents) >= 2 and isinstance(parents[-1], pp.MatrixSelector)
                  and pq.func_name(parents[-2]) in ("rate", "irate", "increase"))
            if not ok:
                return [f"counter metric '{node.name}' is not aggregated with rate, irate, or increase"]
    return []


target_rate_interval = _targets("target-rate-interval-rule", _rate_interval)
target_job = _targets("target-job-rule", _matcher("job"))
target_instance = _targets("target-instance-rule", _matcher("instance"))
target_counter_agg = _targets("target-counter-agg-rule", _counter_agg, need_prom=False, panels=None)

RULES: dict[str, DashRule] = {
    "template-datasource-rule": template_datasource,
    "template-job-rule": template_job,
    "template-instance-rule": template_instance,
    "template-label-promql-rule": template_label_promql,
    "template-on-time-change-reload-rule": template_on_time_change_reload,
    "panel-datasource-rule": _panel_rule(panel_datasource),
    "panel-title-description-rule": _panel_rule(panel_title_description),
    "panel-units-rule": _panel_rule(panel_units),
    "panel-no-targets-rule": _panel_rule(panel_no_targets),
    "target-promql-rule": target_promql,
    "target-rate-interval-rule": target_rate_interval,
    "target-job-rule": target_job,
    "target-instance-rule": target_instance,
    "target-counter-agg-rule": target_counter_agg,
    "uneditable-dashboard": uneditable,
}
JOB_INSTANCE = ("template-job-rule", "template-instance-rule", "target-job-rule", "target-instance-rule")
