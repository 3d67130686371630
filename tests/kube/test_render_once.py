"""`tritonobs apply` renders the stack once (issue 12): the objects it applies and the adapter rules it merges
into the shared prometheus-adapter both come from the one bundle `prepare` rendered and checked."""

from __future__ import annotations

import pytest
import yaml

from tests.kube.conftest import MON
from tests.kube.shared_cluster import FOREIGN_RULE, OUR_RULE
from tests.render_calls import count_renders


def test_apply_renders_once_and_merges_the_bundles_adapter_rules(
    cli, fake, stack_dir, kubeconfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("render", "-f", stack_dir.spec).code == 0  # the committed file the merge must match
    calls = count_renders(monkeypatch)
    result = cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "0")
    assert result.code == 0, result.text
    assert dict(calls) == {
        "render": 1,
        "dashboards.build_json": 1,  # the stack folder's one dashboard (tiny)
        "alerts.alerts": 1,
        "alerts.rule_groups": 1,
        "adapter_rules.rules": 1,
        "forecast.external_rules": 1,
        "hpa.hpa": 1,
    }
    # The merged values carry the rule the bundle rendered (what `render` writes), after the other team's.
    values = yaml.safe_load((stack_dir.root.resolve() / ".tritonobs" / "prometheus-adapter-values.yaml").read_text())
    written = yaml.safe_load((stack_dir.root / "adapter_rules" / "prometheus-adapter-config.yaml").read_text())
    assert written["rules"] == [OUR_RULE]
    assert values["rules"]["custom"] == [FOREIGN_RULE, OUR_RULE]
    assert f"prometheus-adapter: Helm release {MON}/prometheus-adapter" in result.out
