"""`tritonobs rbac [--subject KIND:NAME]`: the Role/ClusterRole (and bindings) apply, status and verify need."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.options import SpecOption
from tritonobs.cli.render_cmd import DashboardsOption, prepare
from tritonobs.core.errors import UsageError
from tritonobs.core.render import rbac as render_rbac
from tritonobs.core.render.yamlfmt import to_yaml_docs

out = Console(highlight=False, soft_wrap=True)
_SUBJECT = re.compile(r"^(User|Group):(.+)$|^ServiceAccount:([a-z0-9-]+)/([a-z0-9.-]+)$")


def parse_subject(text: str) -> render_rbac.Subject:
    m = _SUBJECT.match(text)
    if not m:
        raise UsageError(
            f"--subject {text!r}: use User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME "
            "(e.g. Group:platform-admins, or the IAM identity's EKS access-entry username)"
        )
    if m.group(1):
        return render_rbac.Subject(m.group(1), m.group(2))
    return render_rbac.Subject("ServiceAccount", m.group(4), m.group(3))


def register(app: typer.Typer) -> None:
    @app.command()
    def rbac(
        spec: Path = SpecOption,
        dashboards: Path | None = DashboardsOption,
        subject: str | None = typer.Option(None, "--subject", help="bind to User:NAME, Group:NAME or ServiceAccount:NS/NAME"),
    ) -> None:
        """Print the minimal RBAC for `apply` (incl. --prune, --wait), `status` and `verify`, as YAML to kubectl apply."""
        who = parse_subject(subject) if subject else None
        stack, _, bundle = prepare(spec, dashboards)
        docs = to_yaml_docs(render_rbac.objects(stack, bundle.objects, who), header=False)
        header = f"# RBAC for `tritonobs apply` (--prune, --wait), `status` and `verify` of stack {stack.name}\n"
        out.print(header + docs, markup=False, end="")
