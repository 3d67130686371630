"""`tritonobs apply` on a shared prometheus-adapter: other teams' rules and the chart's settings survive, ours
are added/updated/removed, a foreign rule under one of our names is refused, a re-apply is a no-op.

Helm-installed adapter: the release lives in the fake cluster as Helm 3 stores it; `helm_upgrade` below
stands in for the `helm upgrade --reuse-values -f FILE` the user runs (Helm's CoalesceTables: the file's
values over the release's, maps merged, lists replaced)."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import yaml

from tests.kube.conftest import DEPLOYMENT, MON, NS, StackDir
from tests.kube.fake_apiserver import ApiServer
from tests.kube.shared_cluster import (
    FOREIGN_RULE,
    OUR_RULE,
    SECOND_FOREIGN_RULE,
    helm_release,
    release_config,
)

SECRETS = "v1/secrets"
CM = "v1/configmaps"
HPA = "autoscaling/v2/horizontalpodautoscalers"
RELEASE = "prometheus-adapter"
UNMARKED_CLASH = {
    "seriesQuery": 'vllm:num_requests_waiting{namespace="team-b", pod!=""}',
    "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
    "name": {"matches": "^vllm:num_requests_waiting$", "as": "tritonobs_waiting_requests"},
    "metricsQuery": "sum by (<<.GroupBy>>) (vllm:num_requests_waiting{<<.LabelMatchers>>})",
}


def apply(cli, stack_dir: StackDir, kubeconfig: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "0",
               *extra)


def values_path(stack_dir: StackDir) -> Path:
    return stack_dir.root.resolve() / ".tritonobs" / "prometheus-adapter-values.yaml"


def releases(fake: ApiServer) -> list[dict[str, Any]]:
    """Every stored revision, decoded by hand (base64 of base64(gzip(JSON)))."""
    out = []
    revision = 1
    while (secret := fake.stored(SECRETS, MON, f"sh.helm.release.v1.{RELEASE}.v{revision}")) is not None:
        text = base64.b64decode(secret["data"]["release"])
        out.append(json.loads(gzip.decompress(base64.b64decode(text))))
        revision += 1
    return out


def overlay(top: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = overlay(value, base[key]) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def helm_upgrade(fake: ApiServer, values_file: Path) -> None:
    current = releases(fake)[-1]
    config = overlay(yaml.safe_load(values_file.read_text()), current["config"])
    fake.seed(SECRETS, helm_release(current["config"], revision=current["version"], status="superseded"), manager="helm")
    fake.seed(SECRETS, helm_release(config, revision=current["version"] + 1), manager="helm")


def reseed_release(fake: ApiServer, *revisions: dict[str, Any]) -> None:
    del fake.objects[next(k for k in fake.objects if k[2] == f"sh.helm.release.v1.{RELEASE}.v1")]
    for obj in revisions:
        fake.seed(SECRETS, obj, manager="helm")


def test_helm_values_carry_every_rule_and_a_reapply_after_helm_is_a_noop(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake, helm_release(release_config([FOREIGN_RULE, SECOND_FOREIGN_RULE], metricsRelistInterval="1m")))
    first = apply(cli, stack_dir, kubeconfig)
    assert first.code == 0, first.text
    path = values_path(stack_dir)
    assert (
        f"helm upgrade {RELEASE} prometheus-community/prometheus-adapter -n {MON} --version 4.10.0 --reuse-values "
        f"-f {path}" in first.out
    )
    assert "revision 1 (chart 4.10.0): 1 added (tritonobs_waiting_requests); 2 rule(s) of others kept" in first.out
    # Only rules.custom: every other value (rules.default, the Prometheus URL, relist) is the release's own.
    assert yaml.safe_load(path.read_text()) == {"rules": {"custom": [FOREIGN_RULE, SECOND_FOREIGN_RULE, OUR_RULE]}}
    assert "only with --reuse-values" in path.read_text()

    helm_upgrade(fake, path)
    upgraded = releases(fake)[-1]["config"]
    assert upgraded["rules"] == {"default": False, "custom": [FOREIGN_RULE, SECOND_FOREIGN_RULE, OUR_RULE]}
    assert upgraded["prometheus"]["url"] == "http://kube-prometheus-stack-prometheus.monitoring.svc"

    path.unlink()
    second = apply(cli, stack_dir, kubeconfig)
    assert second.code == 0, second.text
    assert "revision 2 (chart 4.10.0) already serves this stack's rules (2 rule(s) of others kept): nothing to run" in second.out
    assert "helm upgrade" not in second.out and not path.exists()


def test_helm_spec_changes_update_ours_in_place_and_drop_a_retired_signal(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake, helm_release(release_config([OUR_RULE, FOREIGN_RULE])))

    def inflight(d: dict[str, Any]) -> None:
        for m in d["models"]:
            m["scaling_signal"] = "inflight_requests"
        d["autoscaling"]["targets"] = {"inflight_requests": 6}

    stack_dir.edit(inflight)
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert "1 added (tritonobs_inflight_requests); 1 removed (tritonobs_waiting_requests); 1 rule(s) of others kept" in result.out
    custom = yaml.safe_load(values_path(stack_dir).read_text())["rules"]["custom"]
    assert custom[0] == FOREIGN_RULE and len(custom) == 2
    assert custom[1]["name"]["as"] == "tritonobs_inflight_requests"
    assert custom[1]["seriesFilters"] == [{"isNot": "^tritonobs/part-of=triton-vllm$"}]

    stack_dir.edit(lambda d: d["models"].pop())  # one model left: the rule's model filter changes in place
    helm_upgrade(fake, values_path(stack_dir))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert "1 updated (tritonobs_inflight_requests); 1 rule(s) of others kept" in result.out
    custom = yaml.safe_load(values_path(stack_dir).read_text())["rules"]["custom"]
    assert custom[0] == FOREIGN_RULE and 'model="llama2"' in custom[1]["metricsQuery"]


def test_helm_foreign_rule_with_our_name_is_refused_and_nothing_applied(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake, helm_release(release_config([FOREIGN_RULE, UNMARKED_CLASH])))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 2, result.text
    assert (
        f"Helm release {MON}/{RELEASE} rules.custom[1] serves tritonobs_waiting_requests too (not marked as "
        "tritonobs')" in result.err
    )
    assert "Nothing applied" in result.err
    assert fake.stored(HPA, NS, DEPLOYMENT) is None and not values_path(stack_dir).exists()
    assert "helm upgrade" not in result.out


def test_helm_builds_on_the_last_deployed_revision(cli, fake, stack_dir, kubeconfig) -> None:
    """Like `helm upgrade`: the last revision when deployed, else the last deployed one (a failed upgrade
    after it does not count)."""
    reseed_release(
        fake,
        helm_release(release_config([]), revision=1, status="superseded"),
        helm_release(release_config([FOREIGN_RULE]), revision=2, status="deployed"),
        helm_release(release_config([SECOND_FOREIGN_RULE]), revision=3, status="failed"),
    )
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert "revision 2 (chart 4.10.0): 1 added" in result.out
    assert yaml.safe_load(values_path(stack_dir).read_text())["rules"]["custom"] == [FOREIGN_RULE, OUR_RULE]


def test_helm_release_in_progress_is_refused(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake, helm_release(release_config([FOREIGN_RULE]), status="pending-upgrade"))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 2
    assert f"Helm release {MON}/{RELEASE} has an operation in progress (pending-upgrade" in result.err


def test_helm_configmap_storage_driver_is_read_too(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake)
    fake.seed(CM, helm_release(release_config([FOREIGN_RULE]), driver="ConfigMap"), manager="helm")
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert yaml.safe_load(values_path(stack_dir).read_text())["rules"]["custom"] == [FOREIGN_RULE, OUR_RULE]


def test_helm_release_not_found_is_exit_2_at_the_spec_line(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake)
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 2
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if "adapter_release:" in t)
    assert f"{stack_dir.spec}:{line}: no Helm release 'prometheus-adapter' in namespace {MON}" in result.err
    assert fake.stored(HPA, NS, DEPLOYMENT) is None


def test_helm_rules_existing_is_refused(cli, fake, stack_dir, kubeconfig) -> None:
    reseed_release(fake, helm_release({"rules": {"existing": "team-adapter-config"}}))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 2
    assert "sets rules.existing='team-adapter-config'" in result.err


def test_helm_shared_settings_are_left_alone_with_a_warning(cli, fake, stack_dir, kubeconfig) -> None:
    config = release_config([FOREIGN_RULE], metricsRelistInterval="10m")
    config["prometheus"] = {"url": "http://thanos-query.monitoring.svc", "port": 9090}
    reseed_release(fake, helm_release(config))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert (
        f"warning: Helm release {MON}/{RELEASE} queries Prometheus at http://thanos-query.monitoring.svc:9090, the "
        "spec's monitoring.prometheus_url is http://kube-prometheus-stack-prometheus.monitoring.svc:9090" in result.out
    )
    assert f"warning: Helm release {MON}/{RELEASE} relists every 10m" in result.out
    assert set(yaml.safe_load(values_path(stack_dir).read_text())) == {"rules"}


def test_helm_dry_run_writes_no_values_file(cli, fake, stack_dir, kubeconfig) -> None:
    result = apply(cli, stack_dir, kubeconfig, "--dry-run")
    assert result.code == 0, result.text
    assert "1 added (tritonobs_waiting_requests); 1 rule(s) of others kept" in result.out
    assert "not written" in result.out and not values_path(stack_dir).exists()


# --- adapter_install: configmap (the adapter reads a ConfigMap others edit too) ---
EXTERNAL = [{"seriesQuery": 'sqs_messages_visible{queue!=""}', "resources": {"namespaced": False},
             "metricsQuery": "max(<<.Series>>{<<.LabelMatchers>>})"}]
RESOURCE_RULES = {"cpu": {"containerQuery": "sum(rate(container_cpu_usage_seconds_total[3m])) by (<<.GroupBy>>)",
                          "nodeQuery": "x", "resources": {"template": "<<.Resource>>"}, "containerLabel": "container"},
                  "window": "3m"}


def configmap_install(d: dict[str, Any]) -> None:
    d["monitoring"]["adapter_install"] = "configmap"


def seed_adapter_configmap(fake: ApiServer, rules: list[dict[str, Any]], manager: str = "kubectl-client-side-apply") -> None:
    text = yaml.safe_dump({"rules": rules, "externalRules": EXTERNAL, "resourceRules": RESOURCE_RULES}, sort_keys=False)
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": RELEASE, "namespace": MON},
                   "data": {"config.yaml": text}}, manager=manager)


def adapter_config(fake: ApiServer) -> dict[str, Any]:
    cm = fake.stored(CM, MON, RELEASE)
    assert cm is not None
    return dict(yaml.safe_load(cm["data"]["config.yaml"]))


def test_configmap_merge_keeps_every_other_rule_and_section(cli, fake, stack_dir, kubeconfig) -> None:
    stack_dir.edit(configmap_install)
    seed_adapter_configmap(fake, [FOREIGN_RULE, SECOND_FOREIGN_RULE])
    # kubectl owns config.yaml: taking the field over is explicit, as for any other object.
    refused = apply(cli, stack_dir, kubeconfig)
    assert refused.code == 1 and 'conflict with "kubectl-client-side-apply" using v1: .data.config.yaml' in refused.err
    assert adapter_config(fake)["rules"] == [FOREIGN_RULE, SECOND_FOREIGN_RULE]

    result = apply(cli, stack_dir, kubeconfig, "--force-conflicts")
    assert result.code == 0, result.text
    assert f"configured ConfigMap {MON}/{RELEASE}" in result.out
    assert f"ConfigMap {MON}/{RELEASE} (shared prometheus-adapter config): 1 added (tritonobs_waiting_requests); " \
           "2 rule(s) of others kept" in result.out
    assert f"kubectl -n {MON} rollout restart deployment/{RELEASE}" in result.out
    assert adapter_config(fake) == {"rules": [FOREIGN_RULE, SECOND_FOREIGN_RULE, OUR_RULE], "externalRules": EXTERNAL,
                                    "resourceRules": RESOURCE_RULES}
    cm = fake.stored(CM, MON, RELEASE)
    assert cm is not None and "labels" not in cm["metadata"]  # the adapter's object, not ours

    rv = cm["metadata"]["resourceVersion"]
    again = apply(cli, stack_dir, kubeconfig)
    assert again.code == 0, again.text
    assert f"unchanged  ConfigMap {MON}/{RELEASE}" in again.out and "rollout restart" not in again.out
    assert fake.stored(CM, MON, RELEASE)["metadata"]["resourceVersion"] == rv  # type: ignore[index]


def test_configmap_retired_signal_removed_and_clash_refused(cli, fake, stack_dir, kubeconfig) -> None:
    stack_dir.edit(configmap_install)
    retired = {**OUR_RULE, "name": {"matches": "^x$", "as": "tritonobs_ttft_p90"}}
    seed_adapter_configmap(fake, [retired, FOREIGN_RULE, OUR_RULE], manager="tritonobs")
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert "1 removed (tritonobs_ttft_p90); 1 rule(s) of others kept" in result.out
    assert adapter_config(fake)["rules"] == [FOREIGN_RULE, OUR_RULE]

    seed_adapter_configmap(fake, [FOREIGN_RULE, UNMARKED_CLASH], manager="tritonobs")
    before = fake.stored(CM, MON, RELEASE)
    clash = apply(cli, stack_dir, kubeconfig)
    assert clash.code == 2
    assert f"ConfigMap {MON}/{RELEASE} config.yaml rules[1] serves tritonobs_waiting_requests too" in clash.err
    assert fake.stored(CM, MON, RELEASE) == before


def test_configmap_changed_between_read_and_write_is_not_overwritten(fake, stack_dir, kubeconfig) -> None:
    from tritonobs.cli.render_cmd import prepare
    from tritonobs.kube import adapter
    from tritonobs.kube import apply as engine
    from tritonobs.kube.connection import from_kubeconfig
    from tritonobs.kube.errors import Modified

    stack_dir.edit(configmap_install)
    seed_adapter_configmap(fake, [FOREIGN_RULE], manager="tritonobs")
    stack, _, bundle = prepare(stack_dir.spec, None)
    kube = from_kubeconfig("fake", str(kubeconfig))
    plan = adapter.configmap_plan(kube, stack, bundle)
    seed_adapter_configmap(fake, [FOREIGN_RULE, SECOND_FOREIGN_RULE], manager="tritonobs")  # another writer
    try:
        engine.apply_one(kube, plan.obj, dry_run=False, force=True)
        raise AssertionError("a stale write went through")
    except Modified as e:
        assert "changed on the server after tritonobs read it" in str(e)
    assert adapter_config(fake)["rules"] == [FOREIGN_RULE, SECOND_FOREIGN_RULE]


def test_prune_never_deletes_the_adapter_configmap(cli, fake, stack_dir, kubeconfig) -> None:
    """An older tritonobs applied the adapter ConfigMap with our labels; switching to KEDA must not delete it."""
    from tests.kube.conftest import install_keda, keda
    from tests.kube.test_apply import OURS

    install_keda(fake)
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": RELEASE, "namespace": MON, "labels": OURS},
                   "data": {"config.yaml": yaml.safe_dump({"rules": [FOREIGN_RULE, OUR_RULE]})}}, manager="tritonobs")
    stack_dir.edit(keda)
    result = apply(cli, stack_dir, kubeconfig, "--prune")
    assert result.code == 0, result.text
    assert RELEASE not in "".join(line for line in result.out.splitlines() if line.startswith(("pruned", "kept")))
    assert fake.stored(CM, MON, RELEASE) is not None
