"""`tritonobs iam`: the AMP query policy and the IRSA trust policy per role, the account from STS and the OIDC
issuer from EKS DescribeCluster (moto_server), `--create` in IAM (moto) without touching a role it does not
own. Expected documents are written out here (AWS's IRSA and AMP documentation), not built with tritonobs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AMP_WORKSPACE, variant_text

ACCOUNT = "123456789012"  # moto's account
ARN = f"arn:aws:aps:us-west-2:{ACCOUNT}:workspace/{AMP_WORKSPACE}"
ACTIONS = ["aps:GetLabels", "aps:GetMetricMetadata", "aps:GetSeries", "aps:QueryMetrics"]


@pytest.fixture
def amp_dir(stack_dir, variant: str = "amp-adapter"):  # type: ignore[no-untyped-def]
    stack_dir.spec.write_text(variant_text(variant))
    return stack_dir


@pytest.fixture
def iam_env(aws, moto_url, monkeypatch):  # type: ignore[no-untyped-def]
    for service in ("IAM", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)
    aws.client("eks").create_cluster(name="nvidia-triton-server", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                                     resourcesVpcConfig={})
    return aws


def _expected_trust(provider: str, subject: str) -> dict:  # type: ignore[type-arg]
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{provider}:sub": subject, f"{provider}:aud": "sts.amazonaws.com"}},
        }],
    }


POLICY = {"Version": "2012-10-17", "Statement": [{"Sid": "QueryAmpWorkspace", "Effect": "Allow", "Action": ACTIONS,
                                                  "Resource": ARN}]}


def test_iam_reads_account_and_issuer_and_prints_each_role(iam_env, cli, amp_dir) -> None:
    issuer = iam_env.client("eks").describe_cluster(name="nvidia-triton-server")["cluster"]["identity"]["oidc"]["issuer"]
    provider = issuer.removeprefix("https://")
    result = cli("iam", "-f", amp_dir.spec, "-o", "json")
    assert result.code == 0, result.text
    roles = {r["name"]: r for r in json.loads(result.out)["roles"]}
    assert sorted(roles) == ["triton-vllm-amp-adapter", "triton-vllm-amp-verify"]
    adapter = roles["triton-vllm-amp-adapter"]
    assert adapter["service_account"] == "monitoring/prometheus-adapter"
    assert adapter["policy"] == POLICY
    assert adapter["trust_policy"] == _expected_trust(provider, "system:serviceaccount:monitoring:prometheus-adapter")
    verify = roles["triton-vllm-amp-verify"]
    assert verify["trust_policy"] == _expected_trust(provider, "system:serviceaccount:triton-vllm:tritonobs-verify")
    # status also lists the workspace's firing alerts (AMP's ListAlerts).
    assert verify["policy"]["Statement"][0]["Action"] == [
        "aps:GetLabels", "aps:GetMetricMetadata", "aps:GetSeries", "aps:ListAlerts", "aps:QueryMetrics"]


def test_keda_with_a_role_arn_chains_operator_and_trigger_role(stack_dir, cli) -> None:
    """TriggerAuthentication roleArn: KEDA's operator (IRSA) assumes that role, and that role queries."""
    stack_dir.spec.write_text(variant_text("amp-keda"))  # keda_role_arn: arn:aws:iam::123456789012:role/keda-amp-query
    issuer = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B7"
    result = cli("iam", "-f", stack_dir.spec, "--account", "111122223333", "--oidc-issuer", issuer, "-o", "json")
    assert result.code == 0, result.text  # no AWS call at all: both given
    (operator, trigger, verify) = json.loads(result.out)["roles"]
    provider = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B7"
    assert operator["name"] == "triton-vllm-amp-keda" and operator["service_account"] == "keda/keda-operator"
    assert operator["policy"] == {"Version": "2012-10-17", "Statement": [{
        "Sid": "AssumeTriggerRole", "Effect": "Allow", "Action": "sts:AssumeRole",
        "Resource": "arn:aws:iam::123456789012:role/keda-amp-query"}]}
    assert operator["trust_policy"]["Statement"][0]["Principal"] == {
        "Federated": f"arn:aws:iam::111122223333:oidc-provider/{provider}"}
    assert operator["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][f"{provider}:sub"] == \
        "system:serviceaccount:keda:keda-operator"
    assert trigger["name"] == "keda-amp-query" and trigger["service_account"] is None
    assert trigger["trust_policy"] == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/triton-vllm-amp-keda"},
        "Action": "sts:AssumeRole"}]}
    assert trigger["policy"]["Statement"][0]["Action"] == ACTIONS
    assert trigger["policy"]["Statement"][0]["Resource"] == f"arn:aws:aps:us-west-2:111122223333:workspace/{AMP_WORKSPACE}"
    assert verify["name"] == "triton-vllm-amp-verify"
    text = cli("iam", "-f", stack_dir.spec, "--account", "111122223333", "--oidc-issuer", issuer)
    assert text.out.splitlines()[0] == (
        "# role triton-vllm-amp-keda: KEDA's operator assumes the TriggerAuthentication's roleArn (ServiceAccount "
        "keda/keda-operator; annotate it eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/triton-vllm-amp-keda)")


def test_create_makes_the_roles_and_leaves_a_foreign_one_alone(iam_env, cli, amp_dir) -> None:
    iam = iam_env.client("iam")
    first = cli("iam", "-f", amp_dir.spec, "--create", "-o", "json")
    assert first.code == 0, first.text
    assert [r["outcome"] for r in json.loads(first.out)["roles"]] == ["created", "created"]
    role = iam.get_role(RoleName="triton-vllm-amp-adapter")["Role"]
    issuer = iam_env.client("eks").describe_cluster(name="nvidia-triton-server")["cluster"]["identity"]["oidc"]["issuer"]
    assert role["AssumeRolePolicyDocument"] == _expected_trust(
        issuer.removeprefix("https://"), "system:serviceaccount:monitoring:prometheus-adapter")
    inline = iam.get_role_policy(RoleName="triton-vllm-amp-adapter", PolicyName="tritonobs-amp-query")
    assert inline["PolicyDocument"] == POLICY
    again = cli("iam", "-f", amp_dir.spec, "--create", "-o", "json")
    assert [r["outcome"] for r in json.loads(again.out)["roles"]] == ["updated", "updated"]

    # Someone else's role with our name: refused, unchanged.
    iam.delete_role_policy(RoleName="triton-vllm-amp-verify", PolicyName="tritonobs-amp-query")
    iam.delete_role(RoleName="triton-vllm-amp-verify")
    theirs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                       "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="triton-vllm-amp-verify", AssumeRolePolicyDocument=json.dumps(theirs))
    refused = cli("iam", "-f", amp_dir.spec, "--create")
    assert refused.code == 2
    assert refused.err == ("error: IAM role triton-vllm-amp-verify exists and is not tritonobs' for stack triton-vllm "
                           "(no tags managed-by=tritonobs, part-of=triton-vllm): left unchanged; delete or rename it\n")
    assert iam.get_role(RoleName="triton-vllm-amp-verify")["Role"]["AssumeRolePolicyDocument"] == theirs
    assert iam.list_role_policies(RoleName="triton-vllm-amp-verify")["PolicyNames"] == []


def test_iam_refuses_an_in_cluster_backend_and_bad_flags(stack_dir, cli) -> None:
    result = cli("iam", "-f", stack_dir.spec, "--account", "111122223333", "--oidc-issuer", "https://x.example/id/1")
    assert result.code == 2
    assert result.err == (f"error: {stack_dir.spec}: monitoring.backend is prometheus: reading an in-cluster "
                          "Prometheus needs no AWS permissions (set monitoring.backend: amp and monitoring.amp)\n")
    bad = cli("iam", "-f", stack_dir.spec, "--account", "12345")
    assert bad.code == 2 and bad.err == "error: --account '12345': an AWS account id is 12 digits\n"


def test_missing_cluster_is_a_located_usage_error(aws, moto_url, monkeypatch, cli, amp_dir) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    result = cli("iam", "-f", amp_dir.spec)
    assert result.code == 2
    assert result.err == ("error: no EKS cluster 'nvidia-triton-server' in us-west-2 (check cluster.name, "
                          "or pass --oidc-issuer)\n")


def test_keda_without_a_role_arn_queries_as_the_operator(stack_dir, cli) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["autoscaling"]["engine"] = "keda"
        d["monitoring"].update(backend="amp", amp={"workspace_id": AMP_WORKSPACE, "region": "us-west-2",
                                                   "keda_identity_owner": "keda"})

    stack_dir.edit(edit)
    result = cli("iam", "-f", stack_dir.spec, "--account", ACCOUNT, "--oidc-issuer",
                 "https://oidc.eks.us-west-2.amazonaws.com/id/ABC", "-o", "json")
    assert result.code == 0, result.text
    (operator, _verify) = json.loads(result.out)["roles"]
    assert operator["name"] == "triton-vllm-amp-keda" and operator["policy"] == POLICY
    assert operator["trust_policy"] == _expected_trust("oidc.eks.us-west-2.amazonaws.com/id/ABC",
                                                       "system:serviceaccount:keda:keda-operator")
