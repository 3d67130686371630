"""Run every lint rule over located documents and apply the config. Pure: documents in, findings out."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tritonobs.review import rules_dashboard, rules_grafana, rules_stack
from tritonobs.review.dashboard import Dash
from tritonobs.review.findings import Doc, Finding, Severity
from tritonobs.review.lint_config import LintConfig

STACK_RULES = ("alert-for", "alert-runbook-url", "alert-labels", "hpa-metric-rule", "adapter-relist",
               "adapter-query", "keda-one-series", "keda-null-fallback")
ALL_RULES = (*rules_grafana.RULES, *rules_dashboard.RULES, *STACK_RULES)
K8S_LABELS = ("namespace", "pod")


def kubernetes_labelled(d: Dash) -> bool:
    """A dashboard whose variables or queries select by namespace/pod: job/instance add nothing there."""
    if any(v.get("name") in K8S_LABELS for v in d.variables()):
        return True
    exprs = json.dumps([t.get("expr") for p in d.panels() for _, t in p.targets()])
    return any(f'{label}=' in exprs or f'{label}=~' in exprs or f"by ({label}" in exprs or f"by({label}" in exprs
               for label in K8S_LABELS)


def lint_dashboard(doc: Doc, cfg: LintConfig, known_series: set[str]) -> list[Finding]:
    d = Dash(doc)
    skip_job_instance = cfg.job_instance == "off" or (cfg.job_instance == "auto" and kubernetes_labelled(d))
    out: list[Finding] = []
    for name, rule in rules_grafana.RULES.items():
        if skip_job_instance and name in rules_grafana.JOB_INSTANCE:
            continue
        out += rule(d)
    for _name, ours in rules_dashboard.RULES.items():
        out += ours(d, known_series)
    return out


def lint(docs: Sequence[Doc], cfg: LintConfig, settings: rules_stack.StackSettings) -> list[Finding]:
    if cfg.scrape_interval_s is not None:
        settings = rules_stack.StackSettings(cfg.scrape_interval_s, settings.relist_interval_s)
    known = rules_stack.recorded(list(docs)) | set(cfg.series)
    adapters = [d for d in docs if d.kind == "adapter"]
    out: list[Finding] = []
    for doc in docs:
        if doc.kind == "dashboard":
            out += lint_dashboard(doc, cfg, known)
        elif doc.kind == "rules":
            out += rules_stack.lint_rules(doc, settings)
        elif doc.kind == "adapter":
            out += rules_stack.lint_adapter(doc, settings)
        elif doc.kind == "hpa":
            out += rules_stack.lint_hpa(doc, adapters)
        elif doc.kind == "keda":
            out += rules_stack.lint_keda(doc)
    out = [cfg.apply(f) for f in out]
    return sorted(out, key=lambda f: (f.file, f.line or 0, f.rule, f.panel, f.message))


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if any(f.severity is Severity.error for f in findings) else 0
