"""Deliver this stack's prometheus-adapter rules into a shared adapter without dropping anyone else's.

The adapter serves every team from one rule list, so apply reads the live list, merges (render/adapter_merge:
foreign rules kept in place, ours added/updated/removed, a foreign rule under one of our names refused) and
writes the whole list back:

- `monitoring.adapter_install: helm`: the list is the release's `rules.custom`, read from Helm's own record of
  the release (kube/helm_release). apply writes a values file holding only `rules.custom` (every rule of the
  release plus ours) and prints `helm upgrade --reuse-values --version <the release's chart version> -f` with
  it: Helm replaces the list with one that still holds every other rule, and `--reuse-values` keeps every
  other value (`rules.default`, the Prometheus URL, the relist interval) as the release has it. tritonobs
  never changes those shared settings; it warns when they disagree with the spec. Nothing to change: no file,
  no command.
- `monitoring.adapter_install: configmap`: the list is `rules` of `config.yaml` in the adapter's ConfigMap;
  apply server-side-applies the merged text (optimistic: the read resourceVersion is a precondition). The
  ConfigMap is the adapter's, not ours: it carries no ownership labels and prune never deletes it.

Only `autoscaling.engine: adapter` touches the adapter; with KEDA it is left as it is. The predictive floor's
external rules (`autoscaling.predictive`) are merged the same way into the chart's `rules.external` (the
config file's `externalRules`); that list is written only when this stack has or had an external rule.

Our rules come from the `Bundle` the command already rendered and checked (render once): nothing here renders
them again, so what is merged is exactly what `render` writes to adapter_rules/prometheus-adapter-config.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tritonobs.core import kinds
from tritonobs.core.config import duration_seconds
from tritonobs.core.errors import UsageError
from tritonobs.core.model import Stack
from tritonobs.core.render import Bundle, adapter_rules, amp_keda
from tritonobs.core.render.adapter_merge import Merged, merge, owner
from tritonobs.core.render.yamlfmt import to_yaml
from tritonobs.kube import helm_release
from tritonobs.kube.client import JsonObj, Kube

HELM_CHART = "prometheus-community/prometheus-adapter"
CHART_NAME = "prometheus-adapter"
VALUES_FILE = Path(".tritonobs") / "prometheus-adapter-values.yaml"  # beside the spec; git-ignored


class AdapterRefused(UsageError):
    """The adapter's live configuration cannot be merged into safely (exit 2, nothing applied)."""

    def __init__(self, message: str, spec_key: tuple[str, ...] | None = None) -> None:
        self.spec_key = spec_key
        super().__init__(message)


def _summary(merged: Merged, external: Merged | None) -> str:
    return merged.summary() + (f"; external rules: {external.summary()}" if external else "")


def merge_external(live: Any, stack: Stack, ours: list[dict[str, Any]], where: str) -> Merged | None:
    """The live external rule list with this stack's (`ours`, from the bundle) brought up to date; None when
    neither has any of ours."""
    if not isinstance(live, list):
        raise AdapterRefused(f"{where} is a {type(live).__name__}, not a list; cannot merge safely")
    if not ours and not any(owner(r) == stack.name for r in live):
        return None
    return merge(live, ours, stack.name, where)


@dataclass(frozen=True)
class HelmPlan:
    release: helm_release.Release
    merged: Merged
    warnings: list[str] = field(default_factory=list)
    external: Merged | None = None  # rules.external, when this stack has (or had) an external rule

    @property
    def changed(self) -> bool:
        return self.merged.changed or bool(self.external and self.external.changed)

    def summary(self) -> str:
        return _summary(self.merged, self.external)

    @property
    def values(self) -> dict[str, Any]:
        external = {"external": self.external.rules} if self.external else {}
        return {"rules": {"custom": self.merged.rules, **external}}

    def values_text(self, endpoint: str) -> str:
        r = self.release
        head = (
            f"# prometheus-adapter values written by `tritonobs apply` from Helm release {r.namespace}/{r.name}\n"
            f"# revision {r.revision} (chart {r.chart} {r.chart_version}) on {endpoint}: the release's rules.custom,\n"
            "# every rule of others as it was, with this stack's rules brought up to date. Helm replaces the\n"
            "# whole list: use it only with --reuse-values, and only while that revision is the current one\n"
            "# (re-run `tritonobs apply` after any other upgrade of the release).\n"
        )
        return head + to_yaml(self.values, header=False, sort_keys=False)

    def command(self, values_path: Path) -> str:
        r = self.release
        version = f" --version {r.chart_version}" if r.chart_version else ""
        return f"helm upgrade {r.name} {HELM_CHART} -n {r.namespace}{version} --reuse-values -f {values_path}"


@dataclass(frozen=True)
class ConfigMapPlan:
    ref: str
    merged: Merged
    obj: JsonObj  # what to apply when changed
    external: Merged | None = None

    @property
    def changed(self) -> bool:
        return self.merged.changed or bool(self.external and self.external.changed)

    def summary(self) -> str:
        return _summary(self.merged, self.external)


def plan(kube: Kube, stack: Stack, bundle: Bundle) -> HelmPlan | ConfigMapPlan | None:
    """How to merge the bundle's adapter and external rules into the shared adapter; None with KEDA."""
    if bundle.keda:
        return None
    if stack.spec.monitoring.adapter_install == "helm":
        return helm_plan(kube, stack, bundle)
    return configmap_plan(kube, stack, bundle)


def helm_plan(kube: Kube, stack: Stack, bundle: Bundle) -> HelmPlan:
    mon = stack.spec.monitoring
    release = helm_release.find(kube, mon.namespace, mon.adapter_release)
    where = f"Helm release {mon.namespace}/{mon.adapter_release}"
    if release is None:
        raise AdapterRefused(
            f"no Helm release {mon.adapter_release!r} in namespace {mon.namespace} (no Secret or ConfigMap "
            f"labelled owner=helm,name={mon.adapter_release}): set monitoring.adapter_release to the adapter's "
            "release, or monitoring.adapter_install: configmap when it was not installed with Helm",
            ("monitoring", "adapter_release"),
        )
    if release.chart != CHART_NAME:
        raise AdapterRefused(
            f"{where} is chart {release.chart!r}, not {CHART_NAME}: set monitoring.adapter_release to the "
            "prometheus-adapter release",
            ("monitoring", "adapter_release"),
        )
    values = release.values
    raw = values.get("rules")
    rules: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if rules.get("existing"):
        raise AdapterRefused(
            f"{where} sets rules.existing={rules['existing']!r}: the adapter reads that ConfigMap, not the "
            "chart's rules, so rules merged into the release would do nothing; add the rules of "
            "adapter_rules/prometheus-adapter-config.yaml to that ConfigMap by hand"
        )
    custom = rules.get("custom") or []
    if not isinstance(custom, list):
        raise AdapterRefused(f"{where}: rules.custom is a {type(custom).__name__}, not a list; cannot merge safely")
    merged = merge(custom, bundle.adapter_rules, stack.name, f"{where} rules.custom")
    external = merge_external(rules.get("external") or [], stack, bundle.external_rules, f"{where} rules.external")
    return HelmPlan(release, merged, _setting_warnings(stack, values, where), external)


def _setting_warnings(stack: Stack, values: dict[str, Any], where: str) -> list[str]:
    """The adapter's shared settings tritonobs leaves alone, where they disagree with the spec."""
    mon = stack.spec.monitoring
    out: list[str] = []
    raw = values.get("prometheus")
    prom: dict[str, Any] = raw if isinstance(raw, dict) else {}
    # The chart's flag: --prometheus-url={{url}}{{if port}}:{{port}}{{end}}{{path}}
    live = f"{prom.get('url', '')}{':' + str(prom['port']) if prom.get('port') else ''}{prom.get('path') or ''}"
    want = amp_keda.adapter_prometheus(stack) or adapter_rules.prometheus_values(mon.prometheus_url)
    wanted = f"{want['url']}:{want['port']}{want['path']}"
    spec_says = (f"AMP workspace is read through the sigv4 sidecar at {wanted} (prometheus-adapter-amp-values.yaml)"
                 if mon.backend == "amp" else f"monitoring.prometheus_url is {mon.prometheus_url}")
    if live.rstrip("/") != wanted.rstrip("/"):
        out.append(
            f"{where} queries Prometheus at {live or '<unset>'}, the spec's {spec_says}: the adapter serves our metrics from {live or 'nowhere'} (tritonobs leaves the "
            "shared adapter's prometheus.url/port/path alone; fix whichever is wrong)"
        )
    relist = str(values.get("metricsRelistInterval") or "")
    try:
        same = duration_seconds(relist) == duration_seconds(mon.adapter_relist_interval)
    except ValueError:
        same = relist == mon.adapter_relist_interval
    if not same:
        out.append(
            f"{where} relists every {relist or '<unset>'}, the spec's monitoring.adapter_relist_interval is "
            f"{mon.adapter_relist_interval}: new pods reach the HPA after up to {relist or 'the default 10m'} "
            "(tritonobs leaves the shared adapter's metricsRelistInterval alone)"
        )
    return out


def configmap_plan(kube: Kube, stack: Stack, bundle: Bundle) -> ConfigMapPlan:
    mon = stack.spec.monitoring
    ref = f"ConfigMap {mon.namespace}/{mon.adapter_release}"
    live = kube.get(kinds.CONFIG_MAP, mon.adapter_release, mon.namespace)
    text = str(((live or {}).get("data") or {}).get(adapter_rules.CONFIG_KEY) or "")
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise AdapterRefused(f"{ref}: {adapter_rules.CONFIG_KEY} is not YAML ({e}); cannot merge safely") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules") or [], list):
        raise AdapterRefused(f"{ref}: {adapter_rules.CONFIG_KEY} is not a prometheus-adapter config; cannot merge safely")
    key = adapter_rules.CONFIG_KEY
    merged = merge(doc.get("rules") or [], bundle.adapter_rules, stack.name, f"{ref} {key} rules")
    external = merge_external(doc.get("externalRules") or [], stack, bundle.external_rules, f"{ref} {key} externalRules")
    new_doc = {**doc, "rules": merged.rules, **({"externalRules": external.rules} if external else {})}
    changed = merged.changed or bool(external and external.changed)
    new_text = to_yaml(new_doc, header=False, sort_keys=False) if changed else text
    meta: JsonObj = {"name": mon.adapter_release, "namespace": mon.namespace}
    if live is not None:
        meta["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {adapter_rules.CONFIG_KEY: new_text}}
    return ConfigMapPlan(ref, merged, obj, external)


def protected(stack: Stack) -> list[tuple[kinds.Kind, str, str]]:
    """(kind, namespace, name) of shared objects prune must never delete, whatever labels they carry
    (an adapter ConfigMap an older tritonobs applied carries ours)."""
    mon = stack.spec.monitoring
    return [(kinds.CONFIG_MAP, mon.namespace, mon.adapter_release)]
