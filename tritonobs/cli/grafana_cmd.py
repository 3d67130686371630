"""`tritonobs grafana password [--show]` and `tritonobs grafana push`."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from tritonobs.aws.secrets import Secret, SecretNotFound, grafana_password
from tritonobs.aws.session import session
from tritonobs.cli.options import SpecOption, load_stack, spec_location
from tritonobs.cli.render_cmd import DashboardsOption, prepare
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import aws_region, http_url
from tritonobs.core.model import Stack
from tritonobs.core.render.panels import datasource_type

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
grafana_app = typer.Typer(name="grafana", help="Grafana: admin password, dashboard push.", no_args_is_help=True)
TOKEN_ENV = "GRAFANA_TOKEN"
RegionOption = typer.Option(None, "--region", help="AWS region of the secret (default: cluster.region)")


def read_password(stack: Stack, spec: Path, region: str | None) -> Secret:
    name = stack.spec.monitoring.grafana.admin_secret_name
    try:
        return grafana_password(session(region or stack.spec.cluster.region), name, region or stack.spec.cluster.region)
    except SecretNotFound as e:
        file, line = spec_location(spec, ("monitoring", "grafana", "admin_secret_name"))
        raise UsageError(f"{e.detail} (monitoring.grafana.admin_secret_name)", file=file, line=line) from None


def read_token(stack: Stack, spec: Path, region: str | None, name: str) -> Secret:
    from tritonobs.aws.amg import service_account_token

    where = region or stack.spec.cluster.region
    try:
        return service_account_token(session(where), name, where)
    except SecretNotFound as e:
        file, line = spec_location(spec, ("monitoring", "grafana", "token_secret_name"))
        raise UsageError(f"{e.detail} (monitoring.grafana.token_secret_name)", file=file, line=line) from None


@grafana_app.command("password")
def password(
    spec: Path = SpecOption,
    show: bool = typer.Option(False, "--show", help="print the password itself (to stdout, nothing else)"),
    region: str | None = RegionOption,
) -> None:
    """Read the Grafana admin password from AWS Secrets Manager; print it only with --show."""
    if region is not None:
        aws_region("--region", region)
    stack = load_stack(spec)
    secret = read_password(stack, spec, region)
    if show:
        out.print(secret.reveal(), markup=False)
        return
    name = stack.spec.monitoring.grafana.admin_secret_name
    out.print(
        f"Grafana admin password: Secrets Manager secret {name!r} ({region or stack.spec.cluster.region}), "
        f"{len(secret)} characters. Pass --show to print it.",
        markup=False,
    )


@grafana_app.command("push")
def push(
    spec: Path = SpecOption,
    dashboards: Path | None = DashboardsOption,
    url: str | None = typer.Option(None, "--url", help="Grafana base URL (default: monitoring.grafana.url)"),
    user: str = typer.Option("admin", "--user", help="basic-auth user when no $GRAFANA_TOKEN is set"),
    region: str | None = RegionOption,
) -> None:
    """Push the rendered dashboards through the Grafana HTTP API (folder from the spec, overwrite)."""
    from tritonobs import grafana_push  # lazily: grafana-client and boto3 only for a push (start-up speed)

    if url is not None:
        http_url("--url", url, "http://grafana.monitoring.svc")
    if region is not None:
        aws_region("--region", region)
    stack, _, bundle = prepare(spec, dashboards)
    target = url or stack.spec.monitoring.grafana.url
    if not target:
        file, line = spec_location(spec, ("monitoring", "grafana"))
        raise UsageError("no Grafana URL: set monitoring.grafana.url or pass --url", file=file, line=line)
    token = os.environ.get(TOKEN_ENV)
    token_secret = stack.spec.monitoring.grafana.token_secret_name
    if token:
        api = grafana_push.connect(target, token=Secret(token))
    elif token_secret:  # Amazon Managed Grafana: a service-account token, no admin password
        api = grafana_push.connect(target, token=read_token(stack, spec, region, token_secret))
    else:
        api = grafana_push.connect(target, user=user, password=read_password(stack, spec, region))
    warning = grafana_push.datasource_warning(api, target, datasource_type(stack))
    if warning:
        err.print(f"warning: {warning}", markup=False)
    for p in grafana_push.push(api, target, stack, bundle.dashboards):
        out.print(f"pushed  {p.title} -> {target.rstrip('/')}{p.url} (uid {p.uid}, version {p.version})", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(grafana_app, name="grafana")
