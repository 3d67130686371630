"""`tritonobs apply` against the emulated API server over HTTP, through the official kubernetes client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kube.conftest import (
    DEPLOYMENT,
    MON,
    NS,
    TOKEN,
    StackDir,
    declare,
    deployment,
    hpa_controller,
    install_keda,
    keda,
    write_kubeconfig,
)
from tests.kube.fake_apiserver import ApiServer
from tritonobs.core.kinds import MANAGED_BY, PART_OF
from tritonobs.lab.procs import free_port

HPA = "autoscaling/v2/horizontalpodautoscalers"
SM = "monitoring.coreos.com/v1/servicemonitors"
SO = "keda.sh/v1alpha1/scaledobjects"
CM = "v1/configmaps"
SM_NAME = "triton-vllm-triton"
OURS = {MANAGED_BY: "tritonobs", PART_OF: "triton-vllm"}


def apply(cli, stack_dir: StackDir, kubeconfig: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "5", *extra)


def rendered(stack_dir: StackDir) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object apply sends for the stack folder's current spec."""
    from tritonobs.cli.render_cmd import prepare
    from tritonobs.core.render import kube_objects

    stack, sources, _ = prepare(stack_dir.spec, None)
    return sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in kube_objects(stack, sources))


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if line.split()[:1] == [word]]


def versions(fake: ApiServer, resource: str, ns: str, name: str) -> int:
    return len(fake.objects[resource, ns, name].history)


def test_apply_creates_then_reapply_changes_nothing(cli, fake, stack_dir, kubeconfig) -> None:
    objects = rendered(stack_dir)
    assert ("HorizontalPodAutoscaler", NS, DEPLOYMENT) in objects and ("ServiceMonitor", NS, SM_NAME) in objects
    first = apply(cli, stack_dir, kubeconfig)
    assert first.code == 0, first.text
    assert sorted(lines_with(first.out, "created")) == sorted(f"created    {k} {ns}/{n}" for k, ns, n in objects)
    # Dependency order: the ServiceMonitor first, the HPA (which reads what it scrapes) last.
    refs = [line.split(None, 1)[1] for line in lines_with(first.out, "created")]
    assert refs[0] == f"ServiceMonitor {NS}/{SM_NAME}" and refs[-1] == f"HorizontalPodAutoscaler {NS}/{DEPLOYMENT}"
    hpa = fake.stored(HPA, NS, DEPLOYMENT)
    assert hpa is not None
    assert hpa["metadata"]["labels"] == OURS
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 5)
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "tritonobs_waiting_requests"
    assert [(m["manager"], m["operation"]) for m in hpa["metadata"]["managedFields"]] == [("tritonobs", "Apply")]
    sm = fake.stored(SM, NS, SM_NAME)
    assert sm is not None and sm["metadata"]["labels"] == {**OURS, "release": "kube-prometheus-stack"}
    # Helm owns the adapter: apply prints the exact upgrade command instead of touching its ConfigMap
    # (what the values file holds: tests/kube/test_shared_adapter.py).
    values = stack_dir.root.resolve() / ".tritonobs" / "prometheus-adapter-values.yaml"
    assert (
        f"helm upgrade prometheus-adapter prometheus-community/prometheus-adapter -n {MON} --version 4.10.0 "
        f"--reuse-values -f {values}" in first.out
    )
    assert fake.stored(CM, MON, "prometheus-adapter") is None
    assert "reads its metrics: tritonobs_waiting_requests 1500m/2" in first.out

    rv = {k: fake.stored(*k)["metadata"]["resourceVersion"] for k in [(HPA, NS, DEPLOYMENT), (SM, NS, SM_NAME)]}  # type: ignore[index]
    history = versions(fake, HPA, NS, DEPLOYMENT), versions(fake, SM, NS, SM_NAME)
    second = apply(cli, stack_dir, kubeconfig)
    assert second.code == 0, second.text
    assert lines_with(second.out, "created") == [] and lines_with(second.out, "configured") == []
    n = len(objects)
    assert len(lines_with(second.out, "unchanged")) == n
    assert f"{n} objects on http://127.0.0.1:" in second.out and f"0 created, 0 configured, {n} unchanged" in second.out
    assert {k: fake.stored(*k)["metadata"]["resourceVersion"] for k in rv} == rv  # type: ignore[index]
    assert (versions(fake, HPA, NS, DEPLOYMENT), versions(fake, SM, NS, SM_NAME)) == history
    assert TOKEN not in first.text + second.text


def test_changed_spec_updates_only_what_changed(cli, fake, stack_dir, kubeconfig) -> None:
    assert apply(cli, stack_dir, kubeconfig).code == 0
    sm_rv = fake.stored(SM, NS, SM_NAME)["metadata"]["resourceVersion"]  # type: ignore[index]
    stack_dir.edit(lambda d: d["autoscaling"].update(max_replicas=7))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert lines_with(result.out, "configured") == [f"configured HorizontalPodAutoscaler {NS}/{DEPLOYMENT}"]
    assert f"unchanged  ServiceMonitor {NS}/{SM_NAME}" in lines_with(result.out, "unchanged")
    assert len(lines_with(result.out, "unchanged")) == len(rendered(stack_dir)) - 1
    hpa = fake.stored(HPA, NS, DEPLOYMENT)
    assert hpa["spec"]["maxReplicas"] == 7 and hpa["metadata"]["generation"] == 2  # type: ignore[index]
    assert fake.stored(SM, NS, SM_NAME)["metadata"]["resourceVersion"] == sm_rv  # type: ignore[index]


def test_dry_run_shows_a_diff_and_changes_nothing(cli, fake, stack_dir, kubeconfig) -> None:
    empty = apply(cli, stack_dir, kubeconfig, "--dry-run")
    assert empty.code == 0, empty.text
    assert len(lines_with(empty.out, "would")) == len(rendered(stack_dir))
    assert all(line.startswith("would be created") for line in lines_with(empty.out, "would"))
    assert fake.stored(HPA, NS, DEPLOYMENT) is None and fake.stored(SM, NS, SM_NAME) is None
    assert "+  maxReplicas: 5" in empty.out  # a creation diffs against /dev/null

    assert apply(cli, stack_dir, kubeconfig).code == 0
    before = fake.stored(HPA, NS, DEPLOYMENT)
    history = versions(fake, HPA, NS, DEPLOYMENT)
    stack_dir.edit(lambda d: d["autoscaling"].update(max_replicas=7))
    dry = apply(cli, stack_dir, kubeconfig, "--dry-run")
    assert dry.code == 0, dry.text
    assert f"would be configured HorizontalPodAutoscaler {NS}/{DEPLOYMENT}" in dry.out
    assert f"would be unchanged  ServiceMonitor {NS}/{SM_NAME}" in dry.out
    assert f"--- HorizontalPodAutoscaler {NS}/{DEPLOYMENT} (live)" in dry.out
    assert "-  maxReplicas: 5\n+  maxReplicas: 7" in dry.out
    assert "managedFields" not in dry.out and "resourceVersion" not in dry.out
    assert fake.stored(HPA, NS, DEPLOYMENT) == before
    assert versions(fake, HPA, NS, DEPLOYMENT) == history


def test_prune_deletes_only_this_stacks_leftovers(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake)
    assert apply(cli, stack_dir, kubeconfig).code == 0
    other = {MANAGED_BY: "tritonobs", PART_OF: "other-stack"}
    foreign = [
        # Same kind and name as ours, other stack, other namespace.
        (SM, MON, SM_NAME, other),
        # Same kind in our namespace: one with only one of our labels, one from another stack.
        (HPA, NS, "someone-elses-hpa", {MANAGED_BY: "tritonobs"}),
        (HPA, NS, "other-stack-hpa", other),
        (CM, NS, "helm-owned", {PART_OF: "triton-vllm", MANAGED_BY: "Helm"}),
        (CM, MON, "no-labels", {}),
    ]
    for resource, ns, name, labels in foreign:
        kind = resource.rsplit("/", 1)[1]
        fake.seed(resource, {"apiVersion": resource.rsplit("/", 1)[0], "kind": kind,
                             "metadata": {"name": name, "namespace": ns, "labels": labels}})
    stale = (CM, MON, "triton-vllm-dashboard-retired")
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": stale[2], "namespace": MON, "labels": OURS}, "data": {"x": "1"}},
              manager="tritonobs")
    # Ours by label but not ours alone: someone edited its data since, or a Helm release owns it.
    edited = (CM, MON, "triton-vllm-dashboard-edited")
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": edited[2], "namespace": MON,
                   "labels": OURS, "managedFields": [
                       {"manager": "tritonobs", "operation": "Apply", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:data": {"f:x": {}}}},
                       {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {"f:y": {}}}}]}, "data": {"x": "1", "y": "2"}})
    helm = (CM, MON, "triton-vllm-dashboard-helm")
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": helm[2], "namespace": MON, "labels": OURS,
        "annotations": {"meta.helm.sh/release-name": "dashboards"}}, "data": {"x": "1"}}, manager="tritonobs")
    # Controllers writing status (the HPA controller) or finalizers/labels (KEDA) do not make it shared.
    hpa_key = (HPA, NS, DEPLOYMENT)
    hpa = fake.stored(*hpa_key)
    assert hpa is not None
    hpa["metadata"]["managedFields"] += [
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:currentReplicas": {}}}},
        {"manager": "keda", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:finalizers": {}}}},
    ]
    fake.objects[HPA, NS, DEPLOYMENT].create(hpa)

    stack_dir.edit(keda)  # adapter -> KEDA: the HPA we created is no longer rendered
    dry = apply(cli, stack_dir, kubeconfig, "--prune", "--dry-run")
    assert dry.code == 0, dry.text
    assert fake.stored(HPA, NS, DEPLOYMENT) is not None and fake.stored(*stale) is not None

    result = apply(cli, stack_dir, kubeconfig, "--prune", "--wait-seconds", "0")
    assert result.code == 0, result.text
    pruned = sorted(line.split(None, 1)[1] for line in lines_with(result.out, "pruned"))
    assert pruned == [f"ConfigMap {MON}/triton-vllm-dashboard-retired", f"HorizontalPodAutoscaler {NS}/{DEPLOYMENT}"]
    dry_pruned = sorted(line.split(None, 3)[3] for line in dry.out.splitlines() if line.startswith("would be pruned"))
    assert dry_pruned == pruned
    kept = sorted(line for line in result.out.splitlines() if line.startswith("kept"))
    assert kept == [
        f"kept       ConfigMap {MON}/triton-vllm-dashboard-edited: no longer rendered, but also managed by "
        "kubectl-edit; delete it by hand if it should go",
        f"kept       ConfigMap {MON}/triton-vllm-dashboard-helm: no longer rendered, but Helm release "
        "'dashboards' owns it; delete it by hand if it should go",
    ]
    assert ", 2 pruned, 2 kept" in result.out
    assert fake.stored(*edited) is not None and fake.stored(*helm) is not None
    assert fake.stored(HPA, NS, DEPLOYMENT) is None and fake.stored(*stale) is None
    assert fake.stored(SO, NS, DEPLOYMENT) is not None
    for resource, ns, name, labels in foreign:
        survivor = fake.stored(resource, ns, name)
        assert survivor is not None, (resource, ns, name)
        assert survivor["metadata"]["labels"] == labels


def keda_operator(fake: ApiServer, key: Any, obj: dict[str, Any]) -> None:
    """Stands in for KEDA: from a ScaledObject it makes `keda-hpa-<name>`, the ScaledObject's labels copied
    over its own (upstream getHPALabels), owned by the ScaledObject through a controller ownerReference."""
    if obj.get("kind") != "ScaledObject" or fake.stored(HPA, NS, f"keda-hpa-{obj['metadata']['name']}"):
        return
    meta = obj["metadata"]
    labels = {"app.kubernetes.io/managed-by": "keda-operator", "app.kubernetes.io/part-of": meta["name"],
              **meta.get("labels", {})}
    fake.seed(HPA, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {
        "name": f"keda-hpa-{meta['name']}", "namespace": NS, "labels": labels,
        "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": meta["name"],
                             "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"scaleTargetRef": obj["spec"]["scaleTargetRef"], "maxReplicas": obj["spec"]["maxReplicaCount"]}},
        manager="keda")


def test_prune_leaves_the_hpa_keda_makes_from_our_scaled_object(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake)
    fake.on_write.append(keda_operator)
    stack_dir.edit(keda)
    assert apply(cli, stack_dir, kubeconfig, "--wait-seconds", "0").code == 0
    made = fake.stored(HPA, NS, f"keda-hpa-{DEPLOYMENT}")
    assert made is not None and made["metadata"]["labels"][PART_OF] == "triton-vllm"  # matches our selector
    result = apply(cli, stack_dir, kubeconfig, "--prune", "--wait-seconds", "0")
    assert result.code == 0, result.text
    assert lines_with(result.out, "pruned") == [] and lines_with(result.out, "kept") == []
    assert fake.stored(HPA, NS, f"keda-hpa-{DEPLOYMENT}") == made


def test_dry_run_prune_lists_but_deletes_nothing(cli, fake, stack_dir, kubeconfig) -> None:
    fake.seed(CM, {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "triton-vllm-dashboard-retired", "namespace": MON, "labels": OURS}})
    result = apply(cli, stack_dir, kubeconfig, "--prune", "--dry-run")
    assert result.code == 0, result.text
    assert f"would be pruned     ConfigMap {MON}/triton-vllm-dashboard-retired" in result.out
    assert fake.stored(CM, MON, "triton-vllm-dashboard-retired") is not None


def test_conflict_with_another_manager_needs_force(cli, fake, stack_dir, kubeconfig) -> None:
    fake.seed(SM, {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                   "metadata": {"name": SM_NAME, "namespace": NS, "labels": OURS},
                   "spec": {"namespaceSelector": {"matchNames": ["elsewhere"]}}}, manager="kubectl-edit")
    refused = apply(cli, stack_dir, kubeconfig)
    assert refused.code == 1
    # The API server's own words, after the object they concern; then what to do.
    assert (f"ServiceMonitor {NS}/{SM_NAME}: Apply failed with 1 conflict: conflict with \"kubectl-edit\" using "
            "monitoring.coreos.com/v1: .spec.namespaceSelector.matchNames") in refused.err
    assert "--force-conflicts" in refused.err
    forced = apply(cli, stack_dir, kubeconfig, "--force-conflicts")
    assert forced.code == 0, forced.text
    sm = fake.stored(SM, NS, SM_NAME)
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NS]  # type: ignore[index]
    owners = {m["manager"]: m["fieldsV1"] for m in sm["metadata"]["managedFields"]}  # type: ignore[index]
    assert "f:namespaceSelector" in owners["tritonobs"]["f:spec"]
    # The editor lost the field it conflicted on; it still co-owns the labels it set to the same values.
    assert "f:spec" not in owners["kubectl-edit"] and "f:labels" in owners["kubectl-edit"]["f:metadata"]


def test_preflight_locates_a_wrong_deployment_name(cli, fake, stack_dir, kubeconfig) -> None:
    stack_dir.edit(lambda d: d["triton"].update(deployment="triton-typo"))
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 1
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if t.strip().startswith("deployment:"))
    assert f"{stack_dir.spec}:{line}: Deployment {NS}/triton-typo not found, but Helm release" in result.out
    assert f"has {DEPLOYMENT}: set triton.deployment to it" in result.out
    assert "nothing applied" in result.err
    assert fake.stored(HPA, NS, "triton-typo") is None


def test_preflight_missing_crd_and_metrics_api(cli, stack_dir, tmp_path) -> None:
    from tests.kube.conftest import BUILTIN
    from tests.kube.fake_apiserver import serving

    bare = ApiServer()
    declare(bare, BUILTIN)
    bare.seed("apps/v1/deployments", deployment())
    with serving(bare) as url:
        result = apply(cli, stack_dir, write_kubeconfig(tmp_path / "kc", url))
    assert result.code == 1
    assert "the cluster does not serve ServiceMonitor (monitoring.coreos.com/v1): install the prometheus-operator CRDs" in result.out
    assert "APIService v1beta1.custom.metrics.k8s.io is not registered: install prometheus-adapter in monitoring" in result.out
    assert not bare.authz or all(verb in ("get", "list") for *_, verb in bare.authz)


def test_preflight_warns_about_other_replica_managers(cli, fake, stack_dir, kubeconfig) -> None:
    fake.seed("apps/v1/deployments", deployment(replicas=2), manager="helm")  # helm pins replicaCount
    fake.seed(HPA, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": "legacy-hpa", "namespace": NS},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT},
                             "maxReplicas": 3}})
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert f"warning: HorizontalPodAutoscaler {NS}/legacy-hpa also scales Deployment {DEPLOYMENT}" in result.out
    assert f"warning: field manager 'helm' owns spec.replicas of Deployment {DEPLOYMENT}" in result.out


def test_preflight_warns_when_the_chart_owns_an_hpa_of_our_name(cli, fake, stack_dir, kubeconfig) -> None:
    """The Triton chart's own HPA (autoscaling enabled in its values) has the Deployment's name, like ours."""
    fake.seed(HPA, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": DEPLOYMENT, "namespace": NS,
                                 "annotations": {"meta.helm.sh/release-name": "nvidia-triton-server"}},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT},
                             "minReplicas": 1, "maxReplicas": 5}}, manager="helm")
    result = apply(cli, stack_dir, kubeconfig)
    assert (
        f"warning: HorizontalPodAutoscaler {NS}/{DEPLOYMENT} belongs to Helm release 'nvidia-triton-server': "
        "disable the chart's autoscaling" in result.out
    )
    # Helm owns spec.minReplicas/maxReplicas with the same values, and the metrics it did not set: no
    # conflict, the apply goes through; the warning is what tells the user Helm will undo it.
    assert result.code == 0, result.text
    owners = {m["manager"] for m in fake.stored(HPA, NS, DEPLOYMENT)["metadata"]["managedFields"]}  # type: ignore[index]
    assert owners == {"helm", "tritonobs"}


def test_wait_explains_an_unknown_metric(cli, fake, stack_dir, kubeconfig) -> None:
    fake.on_write[:] = [hpa_controller(reporting=False)]
    fake.pod_metrics.clear()  # the adapter runs but serves no rule for our metric
    result = apply(cli, stack_dir, kubeconfig, "--wait-seconds", "0.2")
    assert result.code == 1
    assert "still reads <unknown> after 0.2s" in result.out
    assert "ScalingActive=False (FailedGetPodsMetric)" in result.out
    assert "no adapter rule serves pods/tritonobs_waiting_requests" in result.out
    assert "reports no metric value" in result.err


def test_wait_explains_missing_series(cli, fake, stack_dir, kubeconfig) -> None:
    fake.on_write[:] = [hpa_controller(reporting=False)]
    fake.pod_metrics[(NS, "tritonobs_waiting_requests")] = {}  # rule loaded, but no series for the pods
    result = apply(cli, stack_dir, kubeconfig, "--wait-seconds", "0.2")
    assert result.code == 1
    assert f"the adapter serves tritonobs_waiting_requests but has no series for the pods of {DEPLOYMENT}" in result.out


def test_unreachable_cluster_is_exit_3_naming_the_endpoint(cli, stack_dir, tmp_path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = apply(cli, stack_dir, write_kubeconfig(tmp_path / "kc", endpoint))
    assert result.code == 3
    assert result.err.startswith(f"error: {endpoint}: unreachable")
    assert "Traceback" not in result.text and TOKEN not in result.text


def test_unknown_context_is_a_usage_error(cli, stack_dir, kubeconfig) -> None:
    result = cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "nope")
    assert result.code == 2
    assert f"error: {kubeconfig}: kubeconfig:" in result.err and "nope" in result.err


@pytest.mark.parametrize("labels", [{MANAGED_BY: "tritonobs"}, {PART_OF: "triton-vllm"}, {}])
def test_unlabelled_objects_are_refused(example_stack, labels) -> None:  # type: ignore[no-untyped-def]
    from tritonobs.kube.apply import check_labels
    from tritonobs.kube.errors import UnlabelledObject

    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NS, "labels": labels}}
    with pytest.raises(UnlabelledObject, match="ConfigMap triton-vllm/x: rendered without the labels"):
        check_labels(example_stack, [obj])


def test_a_non_api_answer_is_exit_3_naming_the_endpoint(cli, stack_dir, tmp_path) -> None:
    """A proxy or login page answering 200 with HTML in front of the API server: one line, exit 3."""
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = b"<html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        result = apply(cli, stack_dir, write_kubeconfig(tmp_path / "kc", endpoint))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert result.code == 3
    assert result.err.strip() == f"error: {endpoint}: GET /version: not a Kubernetes API answer"
    assert "Traceback" not in result.text
