"""SigV4 for Amazon Managed Prometheus: the query client's signatures checked by a verifying proxy
(tests/aws/sigv4_proxy.py, botocore on the service's side) in front of a real Prometheus; refusals are
exit-3 errors naming the workspace URL and never showing a secret; workspace ids and regions are checked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.aws.sigv4_proxy import MISMATCH, SigV4Proxy
from tritonobs.aws.sigv4 import AwsSigV4, from_default_chain
from tritonobs.core import amp
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.lab.prometheus_process import PrometheusProcess
from tritonobs.prom.client import PrometheusClient
from tritonobs.prom.target import client_for

WS = "ws-3f2a9c1e-7b4d-4e8a-9c06-5d1b2e7f8a90"
REGION = "us-west-2"
KEY_ID = "AKIATRITONOBSSIGV4"
SECRET = "sigv4-secret-key-never-printed-0123456789"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    prom = PrometheusProcess(tmp_path_factory.mktemp("prom"), scrape_interval="1s")
    try:
        prom.start()
        client = prom.client()
        deadline = time.monotonic() + 30
        while not client.ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def proxy(prometheus: PrometheusProcess) -> Iterator[SigV4Proxy]:
    with SigV4Proxy(prometheus.url, WS, REGION, {KEY_ID: SECRET}) as p:
        yield p


def signed(url: str, secret: str = SECRET, region: str = REGION, token: str | None = None) -> PrometheusClient:
    return PrometheusClient(url, timeout=5, auth=AwsSigV4(region, Credentials(KEY_ID, secret, token)))


@pytest.mark.integration
def test_signed_queries_round_trip_through_the_verifying_proxy(proxy: SigV4Proxy) -> None:
    client = signed(proxy.url)
    assert [s.value for s in client.query("vector(3) * 2")] == [6.0]  # POST, form body signed
    # GET with a space, '*' and parentheses in the query string: AWS signs it re-encoded strictly.
    assert client._request("/api/v1/query", [("query", "vector(2) * (1 + 1)")])["result"][0]["value"][1] == "4"
    now = time.time()
    (series,) = client.query_range("vector(5)", now - 60, now, 30)
    assert series.values() == [5.0, 5.0, 5.0]
    assert client.alerts() == []
    assert client.ready()  # AMP has no /-/ready: the signed client asks a query
    assert proxy.rejected == [] and proxy.accepted == 5


@pytest.mark.integration
def test_temporary_credentials_send_and_sign_the_session_token(proxy: SigV4Proxy) -> None:
    client = signed(proxy.url, token="session-token-from-irsa")
    assert [s.value for s in client.query("vector(1)")] == [1.0]
    assert proxy.accepted == 1


@pytest.mark.integration
def test_a_wrong_secret_is_exit_3_naming_the_workspace_and_no_secret(proxy: SigV4Proxy) -> None:
    wrong = "wrong-secret-key-also-never-printed-987"
    with pytest.raises(ExternalError) as e:
        signed(proxy.url, secret=wrong).query("vector(1)")
    assert e.value.exit_code == 3 and e.value.endpoint == proxy.url
    assert str(e.value) == f"{proxy.url}: HTTP 403 from /api/v1/query: access denied ({MISMATCH})"
    assert wrong not in str(e.value) and SECRET not in str(e.value)
    assert proxy.rejected == [MISMATCH] and proxy.accepted == 0


@pytest.mark.integration
def test_the_proxy_really_verifies(proxy: SigV4Proxy) -> None:
    """Unsigned, another region's scope, and a query changed after signing are all refused."""
    with pytest.raises(ExternalError, match="Missing Authentication Token"):
        PrometheusClient(proxy.url, timeout=5).query("vector(1)")
    with pytest.raises(ExternalError, match="scoped to a valid region"):
        signed(proxy.url, region="eu-west-1").query("vector(1)")
    # Signed by botocore directly for one query, sent with another: the signature covers the query string.
    aws = AWSRequest(method="GET", url=f"{proxy.url}/api/v1/query", params={"query": "vector(1)"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "aps", REGION).add_auth(aws)
    headers = {k: v for k, v in aws.headers.items() if k in ("Authorization", "X-Amz-Date")}
    good = requests.get(f"{proxy.url}/api/v1/query", params={"query": "vector(1)"}, headers=headers, timeout=5)
    assert good.status_code == 200
    bad = requests.get(f"{proxy.url}/api/v1/query", params={"query": "vector(2)"}, headers=headers, timeout=5)
    assert bad.status_code == 403 and bad.json() == {"message": MISMATCH}
    assert proxy.accepted == 1 and len(proxy.rejected) == 3


def test_auth_repr_shows_no_secret() -> None:
    auth = AwsSigV4(REGION, Credentials(KEY_ID, SECRET))
    assert repr(auth) == "AwsSigV4(service='aps', region='us-west-2', key=...IGV4)"
    assert SECRET not in repr(auth) and SECRET not in str(vars(auth))


def test_no_credentials_is_exit_3_naming_the_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    url = amp.workspace_url(REGION, WS)
    with pytest.raises(ExternalError) as e:
        from_default_chain(REGION, url)
    assert e.value.endpoint == url and "no AWS credentials found" in str(e.value)


def test_credentials_come_from_the_standard_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = client_for(None, amp.workspace_url(REGION, WS), sigv4_region=REGION)
    assert client.url == "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/" + WS
    assert isinstance(client.auth, AwsSigV4) and client.auth.region == REGION


@pytest.mark.parametrize("wid, message", [
    ("ws-3F2A9C1E-7B4D-4E8A-9C06-5D1B2E7F8A90", "not an AMP workspace id: expected ws- and a lowercase UUID"),
    ("3f2a9c1e-7b4d-4e8a-9c06-5d1b2e7f8a90", "not an AMP workspace id"),
    ("ws-3f2a9c1e", "not an AMP workspace id"),
    ("arn:aws:aps:us-west-2:123456789012:workspace/" + WS, "an ARN, not a workspace id"),
])
def test_malformed_workspace_ids(wid: str, message: str) -> None:
    problem = amp.workspace_problem(wid)
    assert problem is not None and problem.startswith(message)
    with pytest.raises(UsageError) as e:
        client_for(None, f"https://aps-workspaces.us-west-2.amazonaws.com/workspaces/{wid}", sigv4_region=REGION)
    assert e.value.exit_code == 2 and message in str(e.value)


def test_regions_come_from_botocore_endpoint_data() -> None:
    regions = amp.aps_regions()
    assert {"us-west-2", "us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"} <= regions
    assert "us-west-2-fips" not in regions
    assert amp.region_problem("us-west-2") is None
    assert amp.region_problem("us-wset-2") == ("AMP (service aps) has no endpoint in region 'us-wset-2': write a "
                                               "region it serves (e.g. us-east-1, us-east-2, us-gov-east-1, us-gov-west-1)")
    with pytest.raises(UsageError, match="--sigv4-region: AMP .* no endpoint in region 'mars-north-1'"):
        client_for(None, "http://127.0.0.1:9", sigv4_region="mars-north-1")
    assert amp.workspace_url("eu-west-1", WS) == f"https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{WS}"


@pytest.mark.integration
def test_irsa_web_identity_credentials_sign_queries(aws, moto_url, prometheus: PrometheusProcess,
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In a pod with IRSA: no keys, a projected token and a role; the chain assumes the role (STS in moto)
    and the temporary keys, session token included, sign the queries."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dHJpdG9uLXZsbG0ifQ.c2ln")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/triton-vllm-amp-verify")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    auth = from_default_chain(REGION, amp.workspace_url(REGION, WS))
    assert auth._credentials.method == "assume-role-with-web-identity"
    frozen = auth._credentials.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.token
    with SigV4Proxy(prometheus.url, WS, REGION, {frozen.access_key: frozen.secret_key}) as proxy:
        client = PrometheusClient(proxy.url, timeout=5, auth=auth)
        assert [s.value for s in client.query("vector(7)")] == [7.0]
        assert proxy.accepted == 1 and proxy.rejected == []


def test_a_spec_with_the_amp_backend_reads_its_workspace_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import AMP_WORKSPACE, variant_stack

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = client_for(variant_stack("amp-keda").spec)
    assert client.url == f"https://aps-workspaces.us-west-2.amazonaws.com/workspaces/{AMP_WORKSPACE}"
    assert isinstance(client.auth, AwsSigV4) and client.auth.region == "us-west-2"
    override = client_for(variant_stack("amp-keda").spec, "http://127.0.0.1:9/workspaces/" + AMP_WORKSPACE)
    assert override.url == "http://127.0.0.1:9/workspaces/" + AMP_WORKSPACE and isinstance(override.auth, AwsSigV4)
    plain = client_for(variant_stack("example").spec, "http://127.0.0.1:9090")
    assert plain.auth is None


@pytest.mark.parametrize("args, message", [
    (["--prometheus", "http://127.0.0.1:9", "--sigv4-region", "mars-north-1"],
     "error: --sigv4-region: AMP (service aps) has no endpoint in region 'mars-north-1': write a region it serves "
     "(e.g. us-west-2)\n"),
    (["--prometheus", "http://127.0.0.1:9/workspaces/ws-1234", "--sigv4-region", "us-west-2"],
     "error: Prometheus URL 'http://127.0.0.1:9/workspaces/ws-1234': workspace 'ws-1234' is not an AMP workspace id: "
     "expected ws- and a lowercase UUID, e.g. ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d\n"),
])
def test_cli_refuses_a_bad_region_or_workspace_before_any_call(args: list[str], message: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import DASHBOARDS, EXAMPLE
    from tritonobs.cli import main

    with pytest.raises(SystemExit) as e:
        main(["check-queries", "--spec", str(EXAMPLE), "--dashboards", str(DASHBOARDS), *args])
    assert e.value.code == 2
    assert capsys.readouterr().err == message
