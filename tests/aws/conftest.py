"""A real `moto_server` on 127.0.0.1 (S3, STS, EKS, Secrets Manager), reset between tests, and an AWS
environment pointing boto3 at it the standard way (AWS_ENDPOINT_URL_<SERVICE>); STS keeps its real
endpoint so presigned EKS tokens carry the real host."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.kube.conftest import cli, stack_dir  # noqa: F401  (shared fixtures)
from tritonobs.lab.procs import spawn, stop_group

REGION = "us-west-2"
ACCESS_KEY = "AKIATRITONOBSTESTKEY"
SECRET_KEY = "aws-secret-key-s3cr3t-do-not-print"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextlib.contextmanager
def moto_server(log: Path, **env: str) -> Iterator[str]:
    """Run `moto_server -H 127.0.0.1 -p 0` (the kernel picks a free port, moto prints it); stopped on exit."""
    binary = Path(sys.executable).parent / "moto_server"
    proc = spawn([str(binary), "-H", "127.0.0.1", "-p", "0"], log, {**os.environ, "PYTHONUNBUFFERED": "1", **env})
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
            if found:
                url = found.group(1)
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start: {log.read_text(errors='replace')[-500:]}")
            else:
                time.sleep(0.1)
        yield url
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    """A clean moto state and an environment where boto3 (ours and the test's) talks to it."""
    _DIRECT.open(urllib.request.Request(f"{moto_url}/moto-api/reset", data=b"", method="POST"), timeout=10).close()
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_STS", "GRAFANA_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for service in ("S3", "EKS", "SECRETS_MANAGER"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)
    return boto3.Session(region_name=REGION)


def secret_json(**values: str) -> str:
    return json.dumps(values)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that talk to a moto_server process are integration tests."""
    for item in items:
        if {"aws", "moto_url", "iam_moto"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
