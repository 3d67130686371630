"""Amazon Managed Grafana: the service-account token `grafana push` sends, from Secrets Manager.

AMG has no admin password to read: API calls carry a workspace service-account token (Bearer). The token is
kept as a `Secret` (never printed) and read from a secret holding it plain or as JSON with `token` or `key`.
"""

from __future__ import annotations

import json

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tritonobs.aws.secrets import Secret, SecretNotFound
from tritonobs.aws.session import client, error_code, raise_external
from tritonobs.core.errors import ExternalError, UsageError

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
    sm = client(sess, "secretsmanager", region)
    endpoint = f"{sm.meta.endpoint_url} secret {name}"
    try:
        answer = sm.get_secret_value(SecretId=name)
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            raise SecretNotFound(f"no secret {name!r} in Secrets Manager ({region})") from None
        raise_external(e, endpoint, "secretsmanager:GetSecretValue (and kms:Decrypt for its key)")
    except BotoCoreError as e:
        raise_external(e, endpoint)
    text = answer.get("SecretString")
    if text is None:
        raise ExternalError(endpoint, "the secret has no string value (store the token as text)")
    return token_from(text, name)
