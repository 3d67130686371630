"""EKS access without aws CLI or kubeconfig: DescribeCluster (moto) + STS-presigned bearer token."""

from __future__ import annotations

import base64
import logging
import urllib.parse

import boto3
import pytest

from tests.aws.conftest import ACCESS_KEY, REGION, SECRET_KEY
from tests.kube.conftest import BUILTIN, declare
from tests.kube.fake_apiserver import ApiServer, serving
from tritonobs.aws import eks
from tritonobs.kube.connection import from_eks

CLUSTER = "nvidia-triton-server"


def decode(token: str) -> urllib.parse.SplitResult:
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    return urllib.parse.urlsplit(url)


def create_cluster(sess: boto3.Session, name: str = CLUSTER) -> dict:  # type: ignore[type-arg]
    client = sess.client("eks")
    client.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={})
    return client.describe_cluster(name=name)["cluster"]  # type: ignore[no-any-return]


def test_token_is_a_presigned_get_caller_identity_signing_the_cluster_id(aws, monkeypatch) -> None:
    token = eks.presigned_token(aws, CLUSTER, REGION)
    url = decode(token)
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.us-west-2.amazonaws.com", "/")
    q = dict(urllib.parse.parse_qsl(url.query))
    assert q["Action"] == "GetCallerIdentity" and q["Version"] == "2011-06-15"
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Expires"] == "60"
    assert q["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"  # the cluster id is covered by the signature
    key, date, region, service, terminator = q["X-Amz-Credential"].split("/")
    assert (key, region, service, terminator) == (ACCESS_KEY, REGION, "sts", "aws4_request") and len(date) == 8
    assert len(q["X-Amz-Signature"]) == 64 and int(q["X-Amz-Signature"], 16) >= 0
    assert CLUSTER not in url.query  # the id travels as a header, not a parameter
    assert SECRET_KEY not in token

    # Re-sign independently (botocore's SigV4 query signer, same time and key): the signature must match,
    # and must differ for another cluster id, so the x-k8s-aws-id header really is signed.
    assert resign(q, CLUSTER, monkeypatch) == q["X-Amz-Signature"]
    assert resign(q, "another-cluster", monkeypatch) != q["X-Amz-Signature"]


def resign(q: dict[str, str], cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    request = AWSRequest(
        "GET",
        "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        headers={"x-k8s-aws-id": cluster},
    )
    botocore.auth.SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "sts", REGION, expires=60).add_auth(request)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))["X-Amz-Signature"]


def test_token_source_refreshes_after_14_minutes() -> None:
    minted: list[str] = []
    now = [1000.0]

    def mint() -> str:
        minted.append(f"k8s-aws-v1.token{len(minted)}")
        return minted[-1]

    source = eks.TokenSource(mint, clock=lambda: now[0])

    class Conf:
        api_key: dict[str, str] = {}
        api_key_prefix: dict[str, str] = {}

    conf = Conf()
    source.hook(conf)
    assert conf.api_key["authorization"] == "k8s-aws-v1.token0" and conf.api_key_prefix["authorization"] == "Bearer"
    now[0] += 13 * 60 + 59
    source.hook(conf)
    assert minted == ["k8s-aws-v1.token0"]  # still valid: no new presign
    now[0] += 1
    source.hook(conf)
    assert conf.api_key["authorization"] == "k8s-aws-v1.token1" and len(minted) == 2
    assert "token" not in repr(source).lower().replace("tokensource", "")


def test_eks_connection_uses_describe_cluster_and_sends_the_token(aws, caplog) -> None:
    described = create_cluster(aws)
    caplog.set_level(logging.DEBUG)
    kube = from_eks(CLUSTER, REGION)
    assert kube.endpoint == described["endpoint"].rstrip("/")
    conf = kube.api.configuration
    assert conf.host == kube.endpoint and conf.verify_ssl
    assert conf.ca_cert_data == base64.b64decode(described["certificateAuthority"]["data"])

    # moto's endpoint is fictional: send the same client to the emulated API server to see the header.
    fake = ApiServer()
    declare(fake, BUILTIN)
    with serving(fake) as url:
        conf.host = url
        assert kube.version()["major"] == "1"
    auth = [r.headers.get("Authorization", "") for r in fake]
    assert auth and all(a.startswith("Bearer k8s-aws-v1.") for a in auth)
    token = auth[0].removeprefix("Bearer ")
    assert decode(token).netloc == "sts.us-west-2.amazonaws.com"
    assert token not in caplog.text and SECRET_KEY not in caplog.text


def test_unknown_cluster_is_located_in_the_spec(aws, cli, stack_dir) -> None:
    stack_dir.edit(lambda d: d["cluster"].update(name="no-such-cluster"))
    result = cli("status", "-f", stack_dir.spec)
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if "no-such-cluster" in t)
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {stack_dir.spec}:{line}: no EKS cluster 'no-such-cluster' in us-west-2 "
        "(check cluster.name/--cluster and --region)"
    )


def test_eks_token_never_reaches_the_output(aws, cli, stack_dir, monkeypatch) -> None:
    create_cluster(aws)
    # The EKS endpoint does not resolve here: the command fails as "unreachable", naming it, token unseen.
    monkeypatch.setattr("tritonobs.kube.client.TIMEOUT", (2.0, 2.0))
    result = cli("status", "-f", stack_dir.spec, "-o", "json")
    assert result.code == 3
    assert "eks.amazonaws.com" in result.err
    for secret in ("k8s-aws-v1.", SECRET_KEY, "X-Amz-Signature"):
        assert secret not in result.text


@pytest.mark.parametrize("bad", ["", "not base64!"])
def test_describe_cluster_without_a_usable_ca_is_external(bad: str) -> None:
    class Eks:
        meta = type("M", (), {"endpoint_url": "https://eks.us-west-2.amazonaws.com"})()

        def describe_cluster(self, name: str) -> dict:  # type: ignore[type-arg]
            return {"cluster": {"endpoint": "https://x.eks.amazonaws.com", "certificateAuthority": {"data": bad}}}

    from tritonobs.core.errors import ExternalError

    with pytest.raises(ExternalError, match="no usable certificate authority"):
        eks.describe_cluster_with(Eks(), CLUSTER, REGION)
