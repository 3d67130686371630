"""Amazon Managed Grafana: the service-account token `grafana push` sends, from Secrets Manager.

AMG has no admin password to read: API calls carry a workspace service-account token (Bearer). The token is
kept as a `Secret` (never printed) and read from a secret holding it plain or as JSON with `token` or `key`.
"""

from __future__ import annotations

import json

import boto3

from tritonobs.aws.secrets import Secret, secret_text
from tritonobs.core.errors import UsageError

TOKEN_KEYS = ("token", "key")


def token_from(text: str, name: str) -> Secret:
    try:
        data = json.loads(text)
    except ValueError:
        return Secret(text.strip())
    if isinstance(data, dict):
        for key in TOKEN_KEYS:
            if isinstance(data.get(key), str) and data[key]:
                return Secret(data[key])
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise UsageError(f"secret {name!r} is JSON without a token or key entry (keys: {keys})")
    return Secret(text.strip())


def service_account_token(sess: boto3.Session, name: str, region: str) -> Secret:
    return token_from(secret_text(sess, name, region, binary_ok=False), name)
