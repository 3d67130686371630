"""IAM for Amazon Managed Prometheus (monitoring.backend: amp): who queries the workspace, with what.

Three identities read metrics: prometheus-adapter's sigv4 sidecar (engine adapter), KEDA's operator (engine
keda; TriggerAuthentication podIdentity aws) and whoever runs `tritonobs verify/status/check-queries` in the
cluster (a CI Job's service account). Each gets a role with the four read actions AMP's query API checks, on
this workspace only, and an IRSA trust policy: the EKS cluster's OIDC provider may issue web-identity tokens
for exactly that service account (`sub`) and audience `sts.amazonaws.com` (`aud`).

Not part of the spec's `Bundle` (core/render/__init__.py), on purpose: a policy names the AWS account id and the
cluster's OIDC issuer, which the spec does not hold; `tritonobs iam` reads them at the edge (STS, EKS) or takes
them as options, then calls these functions with them as plain parameters. Rendering them into the bundle would
make `render`/`render --check` depend on AWS credentials and commit account ids to the repository. They stay
pure (no I/O, the same parameters give the same documents) and use nothing of the bundle: no other artifact is
rendered here, and no bundle artifact reads these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritonobs.core import amp
from tritonobs.core.model import Stack

# The read side of AMP's Prometheus-compatible API (query, query_range, series, labels, metadata).
QUERY_ACTIONS = ("aps:GetLabels", "aps:GetMetricMetadata", "aps:GetSeries", "aps:QueryMetrics")
# `tritonobs status` also lists firing alerts (/api/v1/alerts): only the verify role reads them.
ALERT_ACTIONS = ("aps:ListAlerts",)
KEDA_NAMESPACE, KEDA_SERVICE_ACCOUNT = "keda", "keda-operator"  # KEDA's Helm chart defaults
VERIFY_SERVICE_ACCOUNT = "tritonobs-verify"


@dataclass(frozen=True)
class RolePlan:
    name: str
    purpose: str
    namespace: str
    service_account: str
    actions: tuple[str, ...] = QUERY_ACTIONS
    assumes: str | None = None  # may only assume this role (KEDA's operator with a TriggerAuthentication roleArn)
    trusted_role: str | None = None  # assumed by this role of the account, not through IRSA

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def roles(stack: Stack) -> list[RolePlan]:
    mon = stack.monitoring
    out: list[RolePlan] = []
    if stack.autoscaling.engine == "adapter":
        # The chart names its service account after the release (fullname) unless told otherwise.
        out.append(RolePlan(f"{stack.name}-amp-adapter", "prometheus-adapter's sigv4 sidecar signs the adapter's queries",
                            mon.namespace, mon.adapter_release))
    elif mon.amp is not None and mon.amp.keda_role_arn:
        # roleArn: the operator (its own IRSA role) assumes the TriggerAuthentication's role, which queries.
        operator = f"{stack.name}-amp-keda"
        out.append(RolePlan(operator, "KEDA's operator assumes the TriggerAuthentication's roleArn",
                            KEDA_NAMESPACE, KEDA_SERVICE_ACCOUNT, assumes=mon.amp.keda_role_arn))
        out.append(RolePlan(mon.amp.keda_role_arn.split(":role/", 1)[1].rsplit("/", 1)[-1],
                            "the TriggerAuthentication's roleArn: signs the ScaledObject's Prometheus trigger",
                            "", "", trusted_role=operator))
    else:
        owner = mon.amp.keda_identity_owner if mon.amp is not None else None
        purpose = ("KEDA's operator signs the ScaledObject's Prometheus trigger" if owner != "workload" else
                   "identityOwner workload: give this policy to the Triton Deployment's service account role "
                   "instead; KEDA's operator must be allowed to assume that role")
        out.append(RolePlan(f"{stack.name}-amp-keda", purpose, KEDA_NAMESPACE, KEDA_SERVICE_ACCOUNT))
    out.append(RolePlan(f"{stack.name}-amp-verify", "tritonobs verify/status/check-queries run in the cluster",
                        stack.namespace, VERIFY_SERVICE_ACCOUNT, tuple(sorted(QUERY_ACTIONS + ALERT_ACTIONS))))
    return out


def workspace_arn(stack: Stack, account: str, partition: str = "aws") -> str:
    a = stack.monitoring.amp
    if a is None:
        raise ValueError("monitoring.backend is not amp")
    return amp.workspace_arn(a.region, account, a.workspace_id, partition)


def policy(stack: Stack, role: RolePlan, account: str, partition: str = "aws") -> dict[str, Any]:
    if role.assumes:
        return {"Version": "2012-10-17", "Statement": [{"Sid": "AssumeTriggerRole", "Effect": "Allow",
                                                        "Action": "sts:AssumeRole", "Resource": role.assumes}]}
    return query_policy(stack, account, role.actions, partition)


def trust(role: RolePlan, account: str, issuer: str, partition: str = "aws") -> dict[str, Any]:
    if role.trusted_role:
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:role/{role.trusted_role}"},
            "Action": "sts:AssumeRole"}]}
    return trust_policy(role, account, issuer, partition)


def query_policy(stack: Stack, account: str, actions: tuple[str, ...] = QUERY_ACTIONS,
                 partition: str = "aws") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "QueryAmpWorkspace",
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": workspace_arn(stack, account, partition),
        }],
    }


def oidc_provider(issuer: str) -> str:
    """The issuer as IAM names its provider: without https:// (oidc.eks.<region>.amazonaws.com/id/<ID>)."""
    return issuer.removeprefix("https://").rstrip("/")


def trust_policy(role: RolePlan, account: str, issuer: str, partition: str = "aws") -> dict[str, Any]:
    provider = oidc_provider(issuer)
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:{partition}:iam::{account}:oidc-provider/{provider}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{provider}:sub": role.subject, f"{provider}:aud": "sts.amazonaws.com"}},
        }],
    }
