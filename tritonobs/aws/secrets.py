"""Secrets Manager: the Grafana admin password, held in a `Secret` that never shows its value by accident."""

from __future__ import annotations

import json

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tritonobs.aws.session import client, error_code, raise_external
from tritonobs.core.errors import ExternalError, UsageError

PASSWORD_KEYS = ("admin-password", "password")


class Secret:
    """A secret value. str()/repr()/f-strings show only its length; `reveal()` is the one way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} characters hidden>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


class SecretNotFound(UsageError):
    """The named secret does not exist: the spec names the wrong one. The CLI locates it."""


def password_from(text: str, name: str) -> Secret:
    """The password in a secret string: JSON with `admin-password`/`password`, or the plain string."""
    try:
        data = json.loads(text)
    except ValueError:
        return Secret(text)
    if isinstance(data, dict):
        for key in PASSWORD_KEYS:
            if isinstance(data.get(key), str) and data[key]:
                return Secret(data[key])
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise UsageError(f"secret {name!r} is JSON without an admin-password or password key (keys: {keys})")
    return Secret(text)


def secret_text(sess: boto3.Session, name: str, region: str, *, binary_ok: bool = True) -> str:
    """The value of a Secrets Manager secret as text (exit 3 naming the endpoint when it cannot be read)."""
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
    if text is not None:
        return str(text)
    binary = answer.get("SecretBinary")
    if binary is None or not binary_ok:
        raise ExternalError(endpoint, "the secret has no string value (store it as text)")
    return bytes(binary).decode("utf-8", errors="strict")


def grafana_password(sess: boto3.Session, name: str, region: str) -> Secret:
    return password_from(secret_text(sess, name, region), name)
