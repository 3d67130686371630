"""boto3 sessions and the one mapping of botocore errors to tritonobs errors (endpoint named)."""

from __future__ import annotations

from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from tritonobs.core.errors import ExternalError

# Bounded retries and timeouts: a dead endpoint must become exit 3 in seconds, not minutes.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
                 "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException"}


def session(region: str | None = None) -> boto3.Session:
    return boto3.Session(region_name=region) if region else boto3.Session()


def client(sess: boto3.Session, service: str, region: str | None = None) -> Any:
    try:
        return sess.client(service, region_name=region or sess.region_name, config=CLIENT_CONFIG)  # type: ignore[call-overload]
    except NoRegionError:
        raise ExternalError(service, "no AWS region: pass --region or set AWS_REGION") from None


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def raise_external(e: BotoCoreError | ClientError, endpoint: str, needs: str = "") -> NoReturn:
    """Turn a botocore failure into ExternalError naming the endpoint; `needs` names the IAM action."""
    if isinstance(e, NoCredentialsError):
        raise ExternalError(endpoint, "no AWS credentials found (set AWS_PROFILE, or run where an IAM role applies)")
    if isinstance(e, ClientError):
        code = error_code(e)
        message = str(e.response.get("Error", {}).get("Message", "")) or code
        if code in ACCESS_DENIED:
            hint = f" (the identity needs {needs})" if needs else ""
            raise ExternalError(endpoint, f"access denied: {message}{hint}")
        raise ExternalError(endpoint, f"{code}: {message}")
    raise ExternalError(endpoint, f"unreachable: {str(e).splitlines()[0]}")
