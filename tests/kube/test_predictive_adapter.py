"""`tritonobs apply` with the predictive floor on a shared prometheus-adapter: our external rule is merged into
`rules.external` (Helm) / `externalRules` (ConfigMap) beside other teams' external rules, and the HPA carries
the External metric second."""

from __future__ import annotations

from typing import Any

import yaml

from tests.kube.conftest import DEPLOYMENT, NS, StackDir
from tests.kube.shared_cluster import FOREIGN_RULE, OUR_RULE, helm_release, release_config
from tests.kube.test_shared_adapter import (
    EXTERNAL,
    adapter_config,
    apply,
    configmap_install,
    reseed_release,
    seed_adapter_configmap,
    values_path,
)

HPA = "autoscaling/v2/horizontalpodautoscalers"
OUR_EXTERNAL = {
    "seriesQuery": f'namespace:tritonobs_waiting_requests:floor{{namespace!="", deployment="{DEPLOYMENT}"}}',
    "seriesFilters": [{"isNot": "^tritonobs/part-of=triton-vllm$"}],
    "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
    "name": {"matches": "^namespace:tritonobs_waiting_requests:floor$", "as": "tritonobs_waiting_requests_floor"},
    "metricsQuery": f'max by (namespace, deployment) (<<.Series>>{{<<.LabelMatchers>>,deployment="{DEPLOYMENT}"}})',
}


def predictive(d: dict[str, Any]) -> None:
    d["autoscaling"]["predictive"] = True


def test_helm_values_carry_foreign_and_our_external_rules(cli, fake, stack_dir: StackDir, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    config = release_config([FOREIGN_RULE])
    config["rules"]["external"] = EXTERNAL
    reseed_release(fake, helm_release(config))
    stack_dir.edit(predictive)
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert ("1 added (tritonobs_waiting_requests); 1 rule(s) of others kept; external rules: 1 added "
            "(tritonobs_waiting_requests_floor); 1 rule(s) of others kept") in result.out
    values = yaml.safe_load(values_path(stack_dir).read_text())
    assert values == {"rules": {"custom": [FOREIGN_RULE, OUR_RULE], "external": [*EXTERNAL, OUR_EXTERNAL]}}
    hpa = fake.stored(HPA, NS, DEPLOYMENT)
    assert hpa is not None
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Pods", "External"]


def test_helm_values_without_predictive_leave_rules_external_alone(cli, fake, stack_dir: StackDir, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    config = release_config([FOREIGN_RULE])
    config["rules"]["external"] = EXTERNAL
    reseed_release(fake, helm_release(config))
    assert apply(cli, stack_dir, kubeconfig).code == 0
    assert yaml.safe_load(values_path(stack_dir).read_text()) == {"rules": {"custom": [FOREIGN_RULE, OUR_RULE]}}


def test_configmap_external_rules_merged_and_removed_when_predictive_goes(cli, fake, stack_dir: StackDir, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    stack_dir.edit(configmap_install)
    stack_dir.edit(predictive)
    seed_adapter_configmap(fake, [FOREIGN_RULE], manager="tritonobs")
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert adapter_config(fake)["externalRules"] == [*EXTERNAL, OUR_EXTERNAL]
    stack_dir.edit(lambda d: d["autoscaling"].update(predictive=False))
    again = apply(cli, stack_dir, kubeconfig)
    assert again.code == 0, again.text
    assert "external rules: 1 removed (tritonobs_waiting_requests_floor); 1 rule(s) of others kept" in again.out
    assert adapter_config(fake)["externalRules"] == EXTERNAL


def test_wait_explains_a_floor_without_value(cli, fake, stack_dir: StackDir, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    from tests.kube.conftest import hpa_controller

    stack_dir.edit(predictive)
    fake.on_write[:] = [hpa_controller(reporting=False, reason="FailedGetExternalMetric")]
    result = apply(cli, stack_dir, kubeconfig, "--wait-seconds", "0.2")
    assert result.code == 1
    assert ("no value for the External metric tritonobs_waiting_requests_floor: are the recording rules of group "
            "tritonobs.forecast loaded (PrometheusRule monitoring/triton-vllm-tritonobs)") in result.out
    assert "no adapter rule serves pods/tritonobs_waiting_requests_floor" not in result.out
