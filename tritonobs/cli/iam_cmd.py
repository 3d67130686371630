"""`tritonobs iam`: the IAM roles that read the AMP workspace (monitoring.backend: amp), printed or created.

For each reader (prometheus-adapter's sigv4 sidecar or KEDA's operator, and an in-cluster verify) the
permissions policy (AMP's four read actions on this workspace) and the IRSA trust policy (the cluster's
OIDC provider, that one service account). The account and the OIDC issuer come from STS and EKS
DescribeCluster, or from --account / --oidc-issuer (then nothing calls AWS). `--create` creates the roles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tritonobs.cli.options import SpecOption, load_stack
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import http_url
from tritonobs.core.render import iam as plan

out = Console(highlight=False, soft_wrap=True)
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_ISSUER = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._/-]*)?$")


def register(app: typer.Typer) -> None:
    @app.command()
    def iam(
        spec: Path = SpecOption,
        account: str | None = typer.Option(None, "--account", help="AWS account id (default: STS GetCallerIdentity)"),
        oidc_issuer: str | None = typer.Option(None, "--oidc-issuer", help="the cluster's OIDC issuer URL "
                                               "(default: EKS DescribeCluster of cluster.name)"),
        create: bool = typer.Option(False, "--create", help="create (or update) the roles in IAM"),
        output: str = typer.Option("text", "--output", "-o", help="text or json"),
    ) -> None:
        """IAM policy and IRSA trust policy per role that queries the AMP workspace."""
        if output not in ("text", "json"):
            raise UsageError(f"--output must be text or json (got {output!r})")
        if account is not None and not _ACCOUNT.match(account):
            raise UsageError(f"--account {account!r}: an AWS account id is 12 digits")
        if oidc_issuer is not None:
            http_url("--oidc-issuer", oidc_issuer, "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B7")
            if not _ISSUER.match(oidc_issuer):
                raise UsageError(f"--oidc-issuer {oidc_issuer!r}: expected https://HOST/PATH, "
                                 "e.g. https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B7")
        stack = load_stack(spec)
        a = stack.spec.monitoring.amp
        if stack.spec.monitoring.backend != "amp" or a is None:
            raise UsageError("monitoring.backend is prometheus: reading an in-cluster Prometheus needs no AWS "
                             "permissions (set monitoring.backend: amp and monitoring.amp)", file=str(spec))
        sess = None
        if account is None or oidc_issuer is None or create:
            from tritonobs.aws.session import session

            sess = session(a.region)
        if account is None:
            from tritonobs.aws.iam import account_id

            account = account_id(sess, a.region)
        if oidc_issuer is None:
            from tritonobs.aws.iam import oidc_issuer as issuer_of

            oidc_issuer = issuer_of(sess, stack.spec.cluster.name, stack.spec.cluster.region)
        roles: list[dict[str, Any]] = [
            {"name": r.name, "purpose": r.purpose,
             "service_account": f"{r.namespace}/{r.service_account}" if r.service_account else None,
             "policy": plan.policy(stack, r, account), "trust_policy": plan.trust(r, account, oidc_issuer)}
            for r in plan.roles(stack)
        ]
        if create:
            from tritonobs.aws.iam import ensure_role

            for role in roles:
                role["outcome"] = ensure_role(sess, role["name"], role["trust_policy"], role["policy"], stack.name,
                                              role["purpose"])
        if output == "json":
            out.print(json.dumps({"roles": roles}, indent=2, sort_keys=True), markup=False)
            return
        for role in roles:
            done = f" [{role['outcome']}]" if "outcome" in role else ""
            sa = role["service_account"]
            where = (f" (ServiceAccount {sa}; annotate it eks.amazonaws.com/role-arn: "
                     f"arn:aws:iam::{account}:role/{role['name']})") if sa else ""
            out.print(f"# role {role['name']}{done}: {role['purpose']}{where}", markup=False)
            out.print("## permissions policy (inline)", markup=False)
            out.print(json.dumps(role["policy"], indent=2, sort_keys=True), markup=False)
            out.print("## trust policy", markup=False)
            out.print(json.dumps(role["trust_policy"], indent=2, sort_keys=True), markup=False)
