"""IAM for AMP readers: the account, the cluster's OIDC issuer, and creating the roles `tritonobs iam` prints.

Roles are created tagged `managed-by: tritonobs` and `part-of: <stack>`; a role of that name without our tags
is someone else's and is never changed (a UsageError naming it). Our own roles are brought up to date: trust
policy replaced, inline query policy put.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tritonobs.aws.session import client, error_code, raise_external
from tritonobs.core.errors import ExternalError, UsageError

POLICY_NAME = "tritonobs-amp-query"
TAG_MANAGED_BY, TAG_PART_OF = "managed-by", "part-of"


def account_id(sess: boto3.Session, region: str) -> str:
    sts = client(sess, "sts", region)
    try:
        return str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as e:
        raise_external(e, sts.meta.endpoint_url, "sts:GetCallerIdentity")


def oidc_issuer(sess: boto3.Session, cluster: str, region: str) -> str:
    eks = client(sess, "eks", region)
    try:
        described = eks.describe_cluster(name=cluster)["cluster"]
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            raise UsageError(f"no EKS cluster {cluster!r} in {region} (check cluster.name, or pass --oidc-issuer)") from None
        raise_external(e, eks.meta.endpoint_url, "eks:DescribeCluster")
    except BotoCoreError as e:
        raise_external(e, eks.meta.endpoint_url, "eks:DescribeCluster")
    issuer = ((described.get("identity") or {}).get("oidc") or {}).get("issuer")
    if not issuer:
        raise ExternalError(eks.meta.endpoint_url, f"cluster {cluster!r} has no OIDC issuer (IRSA needs one)")
    return str(issuer)


def _tags(role: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in role.get("Tags") or []}


def ensure_role(sess: boto3.Session, name: str, trust: dict[str, Any], policy: dict[str, Any], stack: str,
                description: str) -> str:
    """Create or update role `name`; 'created' or 'updated'. Never touches a role tritonobs does not own."""
    iam = client(sess, "iam", "us-east-1")  # IAM is global; its endpoint lives in us-east-1
    endpoint = f"{iam.meta.endpoint_url} role {name}"
    needs = "iam:GetRole, iam:CreateRole, iam:UpdateAssumeRolePolicy, iam:PutRolePolicy, iam:TagRole"
    try:
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as e:
            if error_code(e) != "NoSuchEntity":
                raise
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description=description[:1000],
                            Tags=[{"Key": TAG_MANAGED_BY, "Value": "tritonobs"}, {"Key": TAG_PART_OF, "Value": stack}])
            outcome = "created"
        else:
            tags = _tags(role)
            if tags.get(TAG_MANAGED_BY) != "tritonobs" or tags.get(TAG_PART_OF) != stack:
                raise UsageError(f"IAM role {name} exists and is not tritonobs' for stack {stack} (no tags "
                                 f"{TAG_MANAGED_BY}=tritonobs, {TAG_PART_OF}={stack}): left unchanged; delete or rename it")
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            outcome = "updated"
        iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    except (BotoCoreError, ClientError) as e:
        raise_external(e, endpoint, needs)
    return outcome
