"""SigV4 signing of HTTP requests for Amazon Managed Prometheus (service `aps`), as a `requests` auth.

Credentials come from boto3's standard chain (AWS_PROFILE, environment keys, IRSA web identity, instance
role); refreshable credentials (IRSA) are frozen per request so a long `verify` run keeps signing after the
token rotates. The signature is botocore's own (`SigV4Auth` on an `AWSRequest`): tritonobs computes nothing of
SigV4 itself. The secret key never leaves this module: `repr()` shows only the access key id's last 4.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from tritonobs.core.amp import SERVICE
from tritonobs.core.errors import ExternalError


class AwsSigV4(requests.auth.AuthBase):
    """Sign each request with SigV4 for `service` in `region` (headers: Authorization, X-Amz-Date, and
    X-Amz-Security-Token for temporary credentials)."""

    def __init__(self, region: str, credentials: Credentials, service: str = SERVICE) -> None:
        self.region = region
        self.service = service
        self._credentials = credentials

    def __repr__(self) -> str:
        key = self._credentials.access_key or ""
        return f"AwsSigV4(service={self.service!r}, region={self.region!r}, key=...{key[-4:]})"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body if isinstance(r.body, (str, bytes)) or r.body is None else b""  # no streamed bodies here
        content_type = r.headers.get("Content-Type")
        if isinstance(content_type, bytes):
            content_type = content_type.decode("latin-1")
        aws = signable(r.method or "GET", r.url or "", body, content_type)
        SigV4Auth(self._credentials.get_frozen_credentials(), self.service, self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                r.headers[name] = aws.headers[name]
        return r


def signable(method: str, url: str, body: str | bytes | None, content_type: str | None) -> AWSRequest:
    """The AWSRequest whose signature AWS checks for this HTTP request: host, content type and body signed;
    the query string given as parameters, because AWS canonicalises it decoded and re-encoded strictly
    (a space sent as '+' is signed as %20)."""
    parts = urlsplit(url)
    data = body.encode() if isinstance(body, str) else (body or b"")
    headers = {"Content-Type": content_type} if content_type else {}
    return AWSRequest(method=method, url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), data=data,
                      headers=headers, params=parse_qsl(parts.query, keep_blank_values=True))


def from_default_chain(region: str, endpoint: str, profile: str | None = None) -> AwsSigV4:
    """An AwsSigV4 with boto3's default credential chain; ExternalError naming `endpoint` when it finds none."""
    try:
        sess = boto3.Session(profile_name=profile, region_name=region) if profile else boto3.Session(region_name=region)
        creds: Any = sess.get_credentials()
    except BotoCoreError as e:
        raise ExternalError(endpoint, f"AWS credentials unusable: {str(e).splitlines()[0]}") from None
    if creds is None:
        raise ExternalError(endpoint, "no AWS credentials found to sign queries (set AWS_PROFILE or "
                            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an IAM role applies: IRSA)")
    return AwsSigV4(region, creds)
