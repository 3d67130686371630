"""`tritonobs grafana password` (Secrets Manager in moto) and `tritonobs grafana push` (Grafana API double)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.aws.conftest import SECRET_KEY
from tests.aws.grafana_double import GrafanaState, grafana
from tritonobs.aws.secrets import Secret, password_from
from tritonobs.core.errors import UsageError
from tritonobs.grafana_push import folder_uid
from tritonobs.lab.procs import free_port

PASSWORD = "Gr4fana-admin-pw-s3cr3t"


def secret_line(stack_dir) -> int:  # type: ignore[no-untyped-def]
    return next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if "admin_secret_name" in t)


@pytest.mark.parametrize(
    "stored", [json.dumps({"admin-user": "admin", "admin-password": PASSWORD}), json.dumps({"password": PASSWORD}), PASSWORD]
)
def test_password_is_shown_only_when_asked(aws, cli, stack_dir, stored: str) -> None:
    aws.client("secretsmanager").create_secret(Name="grafana-admin", SecretString=stored)
    hidden = cli("grafana", "password", "-f", stack_dir.spec)
    assert hidden.code == 0, hidden.text
    assert hidden.out.strip() == (
        f"Grafana admin password: Secrets Manager secret 'grafana-admin' (us-west-2), {len(PASSWORD)} characters. "
        "Pass --show to print it."
    )
    assert PASSWORD not in hidden.text
    shown = cli("grafana", "password", "-f", stack_dir.spec, "--show")
    assert shown.code == 0 and shown.out == PASSWORD + "\n"


def test_missing_secret_is_located_and_json_without_a_password_key_lists_keys_only(aws, cli, stack_dir) -> None:
    missing = cli("grafana", "password", "-f", stack_dir.spec)
    assert missing.code == 2
    assert missing.err.startswith(f"error: {stack_dir.spec}:{secret_line(stack_dir)}: no secret 'grafana-admin'")
    aws.client("secretsmanager").create_secret(Name="grafana-admin", SecretString=json.dumps({"user": "admin", "pw": PASSWORD}))
    odd = cli("grafana", "password", "-f", stack_dir.spec, "--show")
    assert odd.code == 2 and "keys: pw, user" in odd.err and PASSWORD not in odd.text


def test_secret_hides_its_value() -> None:
    s = Secret(PASSWORD)
    assert PASSWORD not in f"{s} {s!r} {[s]}" and len(s) == len(PASSWORD) and s.reveal() == PASSWORD
    with pytest.raises(UsageError):
        password_from("{}", "x")


def test_push_creates_the_folder_and_overwrites_dashboards(aws, cli, stack_dir) -> None:
    aws.client("secretsmanager").create_secret(Name="grafana-admin", SecretString=json.dumps({"admin-password": PASSWORD}))
    state = GrafanaState(password=PASSWORD)
    with grafana(state) as url:
        stack_dir.edit(lambda d: d["monitoring"]["grafana"].update(url=url))
        first = cli("grafana", "push", "-f", stack_dir.spec)
        second = cli("grafana", "push", "-f", stack_dir.spec)
    assert first.code == 0, first.text
    assert second.code == 0, second.text
    from tritonobs.cli.options import load_stack

    stack = load_stack(stack_dir.spec)
    uid = stack.dashboard_uid("tiny")
    assert state.folders == [{"id": 1, "uid": folder_uid(stack, "Triton"), "title": "Triton"}]
    saved = state.dashboards[uid]
    assert saved["folderUid"] == folder_uid(stack, "Triton") and saved["version"] == 2
    assert saved["dashboard"]["uid"] == uid and saved["dashboard"]["id"] is None and saved["dashboard"]["title"] == "tiny"
    posts = [r for r in state.requests if r["path"] == "/api/dashboards/db"]
    assert len(posts) == 2 and all(p["body"]["overwrite"] is True for p in posts)
    assert {r["auth"] for r in state.requests} == {"Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
    assert f"pushed  tiny -> {url}/d/{uid}/tiny (uid {uid}, version 1)" in first.out
    assert f"(uid {uid}, version 2)" in second.out
    assert [r["method"] + " " + r["path"] for r in state.requests].count("POST /api/folders") == 1
    for secret in (PASSWORD, SECRET_KEY):
        assert secret not in first.text + second.text


def test_push_with_a_token_and_failures(aws, cli, stack_dir, monkeypatch) -> None:
    state = GrafanaState(password="unused", token="glsa_token_s3cr3t")
    with grafana(state) as url:
        monkeypatch.setenv("GRAFANA_TOKEN", "glsa_token_s3cr3t")
        ok = cli("grafana", "push", "-f", stack_dir.spec, "--url", url)
        assert ok.code == 0, ok.text
        assert {r["auth"] for r in state.requests} == {"Bearer glsa_token_s3cr3t"}
        monkeypatch.setenv("GRAFANA_TOKEN", "wrong-token")
        denied = cli("grafana", "push", "-f", stack_dir.spec, "--url", url)
    assert denied.code == 3 and denied.err.strip() == f"error: {url}: unauthorized: the Grafana credentials were rejected"
    dead = f"http://127.0.0.1:{free_port()}"
    down = cli("grafana", "push", "-f", stack_dir.spec, "--url", dead)
    assert down.code == 3 and down.err.startswith(f"error: {dead}: unreachable")
    assert "glsa_token_s3cr3t" not in ok.text + denied.text + down.text and "wrong-token" not in denied.text


def test_push_without_a_url_is_located(cli, stack_dir) -> None:
    result = cli("grafana", "push", "-f", stack_dir.spec)
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if t.strip() == "grafana:")
    assert result.code == 2
    assert result.err.strip() == f"error: {stack_dir.spec}:{line}: no Grafana URL: set monitoring.grafana.url or pass --url"


def test_push_renders_once_and_sends_the_rendered_dashboard(aws, cli, stack_dir, monkeypatch) -> None:
    """Issue 12 "render once": push sends the bundle's dashboard models, not a second build of the sources."""
    from tests.render_calls import count_renders
    from tritonobs.core.render.dashboards import JSON_DIR

    assert cli("render", "-f", stack_dir.spec).code == 0
    written = json.loads((stack_dir.root / JSON_DIR / "tiny.json").read_text())
    calls = count_renders(monkeypatch)
    state = GrafanaState(password="unused", token="glsa_token_s3cr3t")
    with grafana(state) as url:
        monkeypatch.setenv("GRAFANA_TOKEN", "glsa_token_s3cr3t")
        pushed = cli("grafana", "push", "-f", stack_dir.spec, "--url", url)
    assert pushed.code == 0, pushed.text
    assert calls["render"] == 1 and calls["dashboards.build_json"] == 1
    assert calls["alerts.rule_groups"] == 1 and calls["adapter_rules.rules"] == 1
    saved = state.dashboards[written["uid"]]["dashboard"]
    assert saved == {**written, "id": None}  # byte for byte what `render` wrote, matched by uid
