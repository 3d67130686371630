"""`tritonobs apply`: preflight, server-side apply in dependency order, optional prune, wait for the HPA.

Also home of the cluster connection options shared with `status`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.options import SpecOption, spec_location
from tritonobs.cli.render_cmd import DashboardsOption, prepare
from tritonobs.core.errors import CheckFailed, UsageError
from tritonobs.core.inputs import MAX_WAIT_SECONDS, number
from tritonobs.core.model import Stack
from tritonobs.core.render import Bundle
from tritonobs.kube import adapter, hpa, keda, preflight
from tritonobs.kube import apply as engine
from tritonobs.kube.client import JsonObj, Kube
from tritonobs.kube.connection import Target, connect
from tritonobs.kube.errors import PreflightFailed

out = Console(highlight=False, soft_wrap=True)

ContextOption = typer.Option(None, "--context", help="kubeconfig context (default: cluster.context, else EKS)")
KubeconfigOption = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
ClusterOption = typer.Option(None, "--cluster", help="EKS cluster name (overrides cluster.name; implies EKS)")
RegionOption = typer.Option(None, "--region", help="AWS region (overrides cluster.region)")
_STYLE = {"created": "green", "configured": "yellow", "unchanged": "dim"}


def connect_to(stack: Stack, spec: Path, target: Target) -> Kube:
    try:
        return connect(target)
    except UsageError as e:
        if e.file is None and target.context is None:  # an EKS lookup of the spec's cluster name failed
            file, line = spec_location(spec, ("cluster", "name"))
            raise UsageError(e.detail, file=file, line=line) from None
        raise


def _adapter_plan(
    kube: Kube, stack: Stack, spec: Path, bundle: Bundle
) -> adapter.HelmPlan | adapter.ConfigMapPlan | None:
    """Read the shared adapter's live rules and merge the bundle's in; refusals (exit 2) come before any write."""
    try:
        return adapter.plan(kube, stack, bundle)
    except adapter.AdapterRefused as e:
        if e.spec_key:
            file, line = spec_location(spec, e.spec_key)
            raise UsageError(e.detail, file=file, line=line) from None
        raise


def _check_keda(kube: Kube, spec: Path) -> None:
    try:
        out.print(keda.check(kube), markup=False)
    except keda.KedaTooOld as e:
        file, line = spec_location(spec, ("autoscaling", "engine"))
        raise UsageError(e.detail, file=file, line=line) from None


def _apply_adapter_configmap(kube: Kube, plan: adapter.ConfigMapPlan, dry_run: bool, force: bool) -> engine.Applied:
    if not plan.changed:
        return engine.Applied(plan.ref, "unchanged")
    return engine.apply_one(kube, plan.obj, dry_run=dry_run, force=force)


def _helm(kube: Kube, plan: adapter.HelmPlan, spec: Path, dry_run: bool) -> None:
    r = plan.release
    where = f"prometheus-adapter: Helm release {r.namespace}/{r.name} revision {r.revision} (chart {r.chart_version})"
    for w in plan.warnings:
        out.print(f"[yellow]warning[/]: {w}")
    if not plan.changed:
        out.print(f"{where} already serves this stack's rules ({plan.summary()}): nothing to run", markup=False)
        return
    out.print(f"{where}: {plan.summary()}", markup=False)
    values = spec.resolve().parent / adapter.VALUES_FILE
    if dry_run:
        out.print(f"dry run: {values} not written; apply would print the helm upgrade that uses it", markup=False)
        return
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(plan.values_text(kube.endpoint), encoding="utf-8")
    out.print(f"wrote {values} (the release's whole rules.custom, ours merged in); apply it with", markup=False)
    out.print(f"  {plan.command(values)}", markup=False)


def _preflight(kube: Kube, stack: Stack, spec: Path, objects: list[JsonObj]) -> None:
    report = preflight.run(kube, stack, objects)
    for w in report.warnings:
        out.print(f"[yellow]warning[/]: {w.message}")
    if report.errors:
        for e in report.errors:
            where = ""
            if e.spec_key:
                file, line = spec_location(spec, e.spec_key)
                where = f"{file}:{line}: " if line else f"{file}: "
            out.print(f"[red]preflight[/]: {where}{e.message}")
        raise PreflightFailed(f"preflight found {len(report.errors)} problem(s) on {kube.endpoint}; nothing applied")


def _wait(kube: Kube, stack: Stack, seconds: float) -> None:
    with out.status(f"waiting up to {seconds:g}s for HPA {stack.effective_hpa_name} to report metric values") as st:

        def progress(state: hpa.HpaState, remaining: float) -> None:
            shown = ", ".join(f"{r.name}={r.current or '<unknown>'}" for r in state.readings) or "no HPA yet"
            st.update(f"HPA {state.name}: {shown} ({remaining:.0f}s left)")

        state = hpa.wait_reporting(kube, stack, seconds, on_poll=progress)
    if state.reporting:
        shown = ", ".join(f"{r.name} {r.current}/{r.target}" for r in state.readings)
        out.print(f"HPA {state.name} reads its metrics: {shown}")
        return
    out.print(f"[red]HPA {state.name} still reads <unknown> after {seconds:g}s[/]; likely cause(s):")
    for cause in hpa.explain(kube, stack, state):
        out.print(f"  - {cause}", markup=False)
    raise CheckFailed(f"applied, but HPA {stack.namespace}/{state.name} reports no metric value (see causes above)")


def register(app: typer.Typer) -> None:
    @app.command()
    def apply(
        spec: Path = SpecOption,
        dashboards: Path | None = DashboardsOption,
        dry_run: bool = typer.Option(False, "--dry-run", help="server-side dry run: show diffs, change nothing"),
        prune: bool = typer.Option(False, "--prune", help="delete objects of this stack the spec no longer renders"),
        force_conflicts: bool = typer.Option(False, "--force-conflicts", help="take over fields other managers own"),
        context: str | None = ContextOption,
        kubeconfig: str | None = KubeconfigOption,
        cluster: str | None = ClusterOption,
        region: str | None = RegionOption,
        wait_seconds: float = typer.Option(120, "--wait-seconds", help="wait for HPA metric values (0: don't)"),
    ) -> None:
        """Server-side-apply the stack's Kubernetes objects next to the Triton release."""
        number("--wait-seconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        stack, _, bundle = prepare(spec, dashboards)
        objects = bundle.objects
        engine.check_labels(stack, objects)
        kube = connect_to(stack, spec, Target.of(stack, context=context, kubeconfig=kubeconfig, cluster=cluster, region=region))
        _preflight(kube, stack, spec, objects)
        if stack.spec.autoscaling.engine == "keda":
            _check_keda(kube, spec)
        plan = _adapter_plan(kube, stack, spec, bundle)
        verb = "would be " if dry_run else ""
        results = []
        if isinstance(plan, adapter.ConfigMapPlan):  # the rules before the HPA that reads them
            results.append(_apply_adapter_configmap(kube, plan, dry_run, force_conflicts))
        results += engine.apply_all(kube, stack, objects, dry_run=dry_run, force=force_conflicts)
        for r in results:
            out.print(f"[{_STYLE[r.outcome]}]{verb}{r.outcome:<10}[/] {r.ref}")
            if r.diff:
                out.print(r.diff, markup=False, end="")
        pruned = engine.prune(kube, stack, objects, dry_run=dry_run) if prune else None
        for ref in pruned.deleted if pruned else []:
            out.print(f"[red]{verb}pruned[/]     {ref}")
        for ref, why in pruned.kept if pruned else []:
            out.print(f"kept       {ref}: no longer rendered, but {why}; delete it by hand if it should go", markup=False)
        counts = engine.summary(results, pruned)
        out.print(
            f"{'dry run: ' if dry_run else ''}{counts['objects']} objects on {kube.endpoint}: {counts['created']} created, "
            f"{counts['configured']} configured, {counts['unchanged']} unchanged"
            + (f", {counts['pruned']} pruned" if prune else "")
            + (f", {counts['kept']} kept" if counts["kept"] else ""),
            markup=False,
        )
        if isinstance(plan, adapter.ConfigMapPlan):
            out.print(f"{plan.ref} (shared prometheus-adapter config): {plan.summary()}", markup=False)
        if isinstance(plan, adapter.HelmPlan):
            _helm(kube, plan, spec, dry_run)
        mon = stack.spec.monitoring
        adapter_cm = f"ConfigMap {mon.namespace}/{mon.adapter_release}"
        if not dry_run and any(r.ref == adapter_cm and r.outcome != "unchanged" for r in results):
            out.print(
                f"prometheus-adapter reads its config at start: kubectl -n {mon.namespace} rollout restart "
                f"deployment/{mon.adapter_release}",
                markup=False,
            )
        if not dry_run and wait_seconds > 0:
            _wait(kube, stack, wait_seconds)
