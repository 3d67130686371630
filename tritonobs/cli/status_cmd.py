"""`tritonobs status [-o json]`: Triton pods, models, HPA, GPU nodes and firing alerts on one screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tritonobs.cli.apply_cmd import ClusterOption, ContextOption, KubeconfigOption, RegionOption, connect_to
from tritonobs.cli.options import SigV4RegionOpt, SpecOption, load_stack
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import http_url
from tritonobs.core.inputs import prometheus_url as check_prometheus_url
from tritonobs.kube import status as collect
from tritonobs.kube.connection import Target
from tritonobs.prom.target import client_for

out = Console(highlight=False, soft_wrap=True)


def _pods(s: dict[str, Any]) -> tuple[str, str]:
    if "error" in s:
        return "[red]unreachable[/]", s["error"]
    state = "[green]ok[/]" if s["total"] and s["ready"] == s["total"] else "[yellow]degraded[/]"
    return state, f"{s['ready']}/{s['total']} ready"


def _models(s: dict[str, Any]) -> tuple[str, str]:
    if "error" in s:
        return "[red]unreachable[/]", s["error"]
    parts = [f"{m} {v['ready']}/{v['checked']}" for m, v in s["models"].items()]
    ok = s["endpoints"] and all(v["checked"] and v["ready"] == v["checked"] for v in s["models"].values())
    detail = f"{', '.join(parts)} ready (via {s['source']})"
    if s["unreachable"]:
        detail += "; unreachable: " + "; ".join(s["unreachable"])
    return ("[green]ok[/]" if ok else "[yellow]degraded[/]"), detail


def _hpa(s: dict[str, Any]) -> tuple[str, str]:
    if "error" in s:
        return "[red]unreachable[/]", s["error"]
    if not s["found"]:
        return "[red]missing[/]", f"HPA {s['name']} not found (run `tritonobs apply`)"
    metrics = ", ".join(f"{m['name']} {m['current'] or '<unknown>'}/{m['target']}" for m in s["metrics"])
    ok = all(m["current"] is not None for m in s["metrics"])
    replicas = f"replicas {s['current_replicas']} (desired {s['desired_replicas']}, {s['min_replicas']}-{s['max_replicas']})"
    return ("[green]ok[/]" if ok else "[yellow]<unknown>[/]"), f"{s['name']}: {metrics}; {replicas}"


def _nodes(s: dict[str, Any]) -> tuple[str, str]:
    if "error" in s:
        return "[red]unreachable[/]", s["error"]
    types = ", ".join(f"{n}x {t}" for t, n in sorted(s["instance_types"].items()))
    state = "[green]ok[/]" if s["ready"] == s["total"] else "[yellow]degraded[/]"
    return state, f"{s['ready']}/{s['total']} Ready ({s['selector']}){': ' + types if types else ''}"


def _alerts(s: dict[str, Any]) -> tuple[str, str]:
    if "error" in s:
        return "[red]unreachable[/]", s["error"]
    others = f" ({s['other_firing']} other alerts firing in the cluster)" if s.get("other_firing") else ""
    if not s["firing"]:
        return "[green]ok[/]", "none firing" + others
    names = ", ".join(f"{a['alertname']}({a['severity'] or '-'})" for a in s["firing"])
    return "[red]firing[/]", f"{len(s['firing'])}: {names}{others}"


def render_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['stack']} — {report['namespace']}/{report['deployment']} on {report['cluster']}")
    table.add_column("part")
    table.add_column("state")
    table.add_column("detail", overflow="fold")
    for title, key, fmt in (
        ("Triton pods", "pods", _pods),
        ("models", "models", _models),
        ("HPA", "hpa", _hpa),
        ("GPU nodes", "nodes", _nodes),
        ("alerts", "alerts", _alerts),
    ):
        state, detail = fmt(report[key])
        # Details quote the outside world (error texts, alert names): never read them as rich markup.
        table.add_row(title, state, Text(detail))
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        spec: Path = SpecOption,
        output: str = typer.Option("table", "--output", "-o", help="table or json"),
        triton_url: str | None = typer.Option(None, "--triton-url", help="ask one Triton endpoint instead of pod IPs"),
        prometheus_url: str | None = typer.Option(None, "--prometheus-url", help="default: the spec's (monitoring.prometheus_url, "
                                                  "or the AMP workspace)"),
        sigv4_region: str | None = SigV4RegionOpt,
        context: str | None = ContextOption,
        kubeconfig: str | None = KubeconfigOption,
        cluster: str | None = ClusterOption,
        region: str | None = RegionOption,
    ) -> None:
        """One screen: pods ready, models ready, HPA metric vs target, g5 nodes, firing alerts."""
        if output not in ("table", "json"):
            raise UsageError(f"--output must be table or json (got {output!r})")
        if triton_url is not None:
            http_url("--triton-url", triton_url, "http://127.0.0.1:8000")
        if prometheus_url is not None:
            check_prometheus_url(prometheus_url)
        stack = load_stack(spec)
        prom = client_for(stack.spec, prometheus_url, sigv4_region, timeout=collect.HTTP_TIMEOUT)
        kube = connect_to(stack, spec, Target.of(stack, context=context, kubeconfig=kubeconfig, cluster=cluster, region=region))
        report = collect.collect(
            kube, stack, triton_url=triton_url, prometheus=prom)
        if output == "json":
            out.print(json.dumps(report, indent=2, sort_keys=True), markup=False)
        else:
            out.print(render_table(report))
