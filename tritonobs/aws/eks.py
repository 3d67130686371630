"""EKS access without the aws CLI or a kubeconfig: endpoint + CA from DescribeCluster, bearer token from STS.

The token is what `aws eks get-token` produces: a presigned STS GetCallerIdentity URL whose signature
covers the header `x-k8s-aws-id: <cluster>`, prefixed `k8s-aws-v1.` and base64url-encoded without
padding. EKS accepts it for 15 minutes; we mint a new one after 14 so a long `apply --wait` or `status`
never sends an expired one. The token is never printed or logged: it only lives in the client's
Configuration.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tritonobs.aws.session import client, error_code, raise_external
from tritonobs.core.errors import ExternalError, UsageError

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_SECONDS = 60
REFRESH_AFTER_SECONDS = 14 * 60  # the token lives 15 min (aws-iam-authenticator); renew a minute early


@dataclass(frozen=True)
class ClusterAccess:
    name: str
    endpoint: str
    ca: str | bytes  # PEM text (what EKS returns) or DER bytes, as ssl's cadata takes them


def describe_cluster(sess: boto3.Session, name: str, region: str) -> ClusterAccess:
    return describe_cluster_with(client(sess, "eks", region), name, region)


def describe_cluster_with(eks: Any, name: str, region: str) -> ClusterAccess:
    endpoint = eks.meta.endpoint_url
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            raise UsageError(f"no EKS cluster {name!r} in {region} (check cluster.name/--cluster and --region)") from None
        raise_external(e, endpoint, "eks:DescribeCluster")
    except BotoCoreError as e:
        raise_external(e, endpoint, "eks:DescribeCluster")
    api = cluster.get("endpoint")
    if not api:
        raise ExternalError(endpoint, f"cluster {name!r} has no API endpoint yet (status {cluster.get('status')})")
    try:
        ca = base64.b64decode(cluster["certificateAuthority"]["data"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        ca = b""
    if not ca:
        raise ExternalError(endpoint, f"cluster {name!r}: DescribeCluster returned no usable certificate authority")
    pem = ca.startswith(b"-----BEGIN")
    return ClusterAccess(name, str(api).rstrip("/"), ca.decode("ascii") if pem else ca)


def presigned_token(sess: boto3.Session, cluster: str, region: str) -> str:
    """A fresh EKS bearer token. Offline: presigning needs credentials, not a network call."""
    sts = client(sess, "sts", region)

    def _take_cluster_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # The cluster id rides in the request context so STS param validation never sees it.
        if CLUSTER_ID_HEADER in params:
            context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)

    def _sign_cluster_id(request: Any, **_: Any) -> None:
        if CLUSTER_ID_HEADER in request.context:
            request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", _take_cluster_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", _sign_cluster_id)
    try:
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={CLUSTER_ID_HEADER: cluster}, ExpiresIn=PRESIGN_SECONDS, HttpMethod="GET"
        )
    except (BotoCoreError, ClientError) as e:
        raise_external(e, sts.meta.endpoint_url, "sts:GetCallerIdentity")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


class TokenSource:
    """Caches one token and mints a new one once it is REFRESH_AFTER_SECONDS old.

    `hook` is installed as the kubernetes Configuration's `refresh_api_key_hook`, which the client calls
    before every request.
    """

    def __init__(
        self,
        mint: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._mint = mint
        self._clock = clock
        self._token: str | None = None
        self._minted_at = 0.0

    def token(self) -> str:
        now = self._clock()
        if self._token is None or now - self._minted_at >= REFRESH_AFTER_SECONDS:
            self._token = self._mint()
            self._minted_at = now
        return self._token

    def hook(self, configuration: Any) -> None:
        configuration.api_key["authorization"] = self.token()
        configuration.api_key_prefix["authorization"] = "Bearer"

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log line
        return "TokenSource(<hidden>)"


def token_source(sess: boto3.Session, cluster: str, region: str) -> TokenSource:
    return TokenSource(lambda: presigned_token(sess, cluster, region))
