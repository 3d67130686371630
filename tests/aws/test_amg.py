"""Dashboards on Amazon Managed Grafana: the datasource variable lists the plugin AMG uses for AMP
(`grafana-amazonprometheus-datasource`, one type per variable), `grafana push` authenticates with a
service-account token from Secrets Manager (moto_server) or $GRAFANA_TOKEN, and warns when the Grafana has
no data source of the dashboards' type."""

from __future__ import annotations

import json

from tests.aws.conftest import SECRET_KEY
from tests.aws.grafana_double import GrafanaState, grafana
from tests.conftest import DASHBOARDS, variant_stack
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import render_all

TOKEN = "glsa_amg_service_account_token_s3cr3t"
AMP_TYPE = "grafana-amazonprometheus-datasource"


def _datasource_variables(variant: str) -> set[str]:
    found = set()
    for a in render_all(variant_stack(variant), load_dashboards(DASHBOARDS)):
        if a.path.startswith("dashboards/") and a.path.endswith(".json"):
            doc = json.loads(a.content)
            found |= {v["query"] for v in doc["templating"]["list"] if v["type"] == "datasource"}
    return found


def test_datasource_variable_lists_the_plugin_of_the_backend() -> None:
    assert _datasource_variables("example") == {"prometheus"}
    assert _datasource_variables("amp-keda") == {AMP_TYPE}
    assert _datasource_variables("amp-adapter") == {AMP_TYPE}


def _amg(stack_dir, url: str, **grafana: str) -> None:  # type: ignore[no-untyped-def]
    def edit(d):  # type: ignore[no-untyped-def]
        d["monitoring"]["backend"] = "amp"
        d["monitoring"]["amp"] = {"workspace_id": "ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d", "region": "us-west-2"}
        d["monitoring"]["grafana"].update(url=url, **grafana)

    stack_dir.edit(edit)


def test_push_to_amg_with_a_token_from_secrets_manager(aws, cli, stack_dir) -> None:
    aws.client("secretsmanager").create_secret(Name="amg/tritonobs", SecretString=json.dumps({"token": TOKEN}))
    state = GrafanaState(password="no-admin-password-on-amg", token=TOKEN,
                         datasources=[{"uid": "amp", "name": "AMP", "type": AMP_TYPE}])
    with grafana(state) as url:
        _amg(stack_dir, url, token_secret_name="amg/tritonobs")
        result = cli("grafana", "push", "-f", stack_dir.spec)
    assert result.code == 0, result.text
    assert result.err == ""  # the Grafana has the dashboards' data source type: no warning
    assert {r["auth"] for r in state.requests} == {f"Bearer {TOKEN}"}
    (saved,) = state.dashboards.values()
    assert saved["dashboard"]["title"] == "tiny"
    assert TOKEN not in result.text and SECRET_KEY not in result.text


def test_push_warns_when_only_the_other_prometheus_flavour_exists(aws, cli, stack_dir, monkeypatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)  # the environment first: no Secrets Manager call
    state = GrafanaState(password="unused", token=TOKEN,
                         datasources=[{"uid": "amp", "name": "AMP (SigV4)", "type": "prometheus"},
                                      {"uid": "cw", "name": "CloudWatch", "type": "cloudwatch"}])
    with grafana(state) as url:
        _amg(stack_dir, url, token_secret_name="no-such-secret")
        result = cli("grafana", "push", "-f", stack_dir.spec)
    assert result.code == 0, result.text
    assert result.err == (f"warning: {url}: no data source of type {AMP_TYPE} (found: cloudwatch, prometheus): the "
                          "dashboards' Data source menu would be empty; set monitoring.grafana.datasource_type: "
                          "prometheus\n")
    assert TOKEN not in result.text


def test_missing_token_secret_is_located(aws, cli, stack_dir) -> None:
    with grafana(GrafanaState(password="x", token=TOKEN)) as url:
        _amg(stack_dir, url, token_secret_name="amg/missing")
        result = cli("grafana", "push", "-f", stack_dir.spec)
    assert result.code == 2
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if "token_secret_name" in t)
    assert result.err == (f"error: {stack_dir.spec}:{line}: no secret 'amg/missing' in Secrets Manager (us-west-2) "
                          "(monitoring.grafana.token_secret_name)\n")
