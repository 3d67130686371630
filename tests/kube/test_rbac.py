"""The RBAC `tritonobs rbac` renders is exactly what apply/prune/preflight/wait/status and verify's cluster
watcher use: every call they make against the emulated API server is recorded the way the RBAC authorizer
sees it, and the recorded set must equal the rendered Roles' grants — nothing missing, nothing extra."""

from __future__ import annotations

import pytest
import yaml

from tests.kube.conftest import (
    KARPENTER_CRDS,
    NS,
    StackDir,
    declare,
    hpa_controller,
    install_keda,
    keda,
    nodeclaim,
)
from tests.kube.fake_apiserver import ApiServer
from tritonobs.cli.render_cmd import prepare
from tritonobs.core import kinds
from tritonobs.core.render import kube_objects
from tritonobs.core.render.rbac import Permission, granted
from tritonobs.core.timeline import Timeline
from tritonobs.kube.connection import from_kubeconfig
from tritonobs.load.profiles import Constant
from tritonobs.verify.cluster import ClusterWatcher
from tritonobs.verify.cluster_run import ClusterVerifyOptions, run_info
from tritonobs.verify.load_logs import read_job_load


def recorded(fake: ApiServer) -> set[Permission]:
    return {Permission(ns if ns else None, group, resource, verb) for ns, group, resource, verb in fake.authz}


def seed_stale_of_every_kind(fake: ApiServer, namespaces: list[str]) -> None:
    """One leftover of each kind we may render, in each namespace: prune must list and delete them all."""
    for kind in kinds.MANAGED:
        for ns in namespaces:
            resource = f"{kind.api_version}/{kind.plural}"
            fake.seed(resource, {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {
                "name": f"retired-{kind.plural}", "namespace": ns,
                "labels": {kinds.MANAGED_BY: "tritonobs", kinds.PART_OF: "triton-vllm"}}})


@pytest.mark.parametrize("variant", ["adapter", "adapter-configmap", "keda"])
def test_rendered_rbac_is_exactly_what_the_code_calls(variant, cli, fake, stack_dir: StackDir, kubeconfig) -> None:
    install_keda(fake)
    declare(fake, KARPENTER_CRDS)
    fake.seed("karpenter.sh/v1/nodeclaims", nodeclaim("g5-gpu-karpenter-abcde"))
    if variant == "keda":
        stack_dir.edit(keda)
    if variant == "adapter-configmap":
        stack_dir.edit(lambda d: d["monitoring"].update(adapter_install="configmap"))
    stack, sources, _ = prepare(stack_dir.spec, None)
    objects = kube_objects(stack, sources)
    seed_stale_of_every_kind(fake, kinds.namespaces(stack, objects))
    base = ("-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake")

    # 1. apply + prune, and a wait that fails so every diagnostic call is made.
    fake.on_write[:] = [hpa_controller(reporting=False)]
    fake.pod_metrics[(NS, "tritonobs_waiting_requests")] = {}
    first = cli("apply", *base, "--prune", "--wait-seconds", "0.1")
    assert first.code == 1, first.text  # applied and pruned, then the wait explained <unknown>
    assert first.out.count("\npruned ") == len(kinds.MANAGED) * 2
    # 2. status.
    assert cli("status", *base, "-o", "json", "--prometheus-url", "http://127.0.0.1:9").code == 0
    # 3. verify on a cluster: one poll of its watcher (prometheus=None: only the API calls matter here).
    opts = ClusterVerifyOptions(profile=Constant(1), duration_s=60, urls=("lb.example:8001",))
    tl = Timeline(run_info(stack, opts, 0.0))
    ClusterWatcher(from_kubeconfig(None, str(kubeconfig)), stack, tl, prometheus=None, load=lambda: 1.0).poll(1.0)
    assert [e.detail for e in tl.events if e.kind == "note"] == ["2 pod(s) (2 Ready), 1 NodeClaim(s) at start"]
    # ... and with the in-cluster load Job, its pods' logs.
    declare(fake, {"batch/v1/jobs": ("Job", True)})
    fake.seed("batch/v1/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "load", "namespace": stack.namespace}})
    fake.seed("v1/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "load-abcde", "namespace": stack.namespace, "labels": {"job-name": "load"}}, "status": {"phase": "Succeeded"}})
    fake.pod_logs[stack.namespace, "load-abcde", "load"] = "no records\n"
    job_load = read_job_load(from_kubeconfig(None, str(kubeconfig)), stack.namespace, "load")
    assert job_load.pods == ["load-abcde"] and job_load.problems[0][1].startswith("no run header")
    # 4. preflight looking the Deployment up by its Helm release label.
    stack_dir.edit(lambda d: d["triton"].update(deployment="renamed"))
    assert cli("apply", *base).code == 1

    rendered = cli("rbac", "-f", stack_dir.spec, "--subject", "Group:platform-admins")
    assert rendered.code == 0, rendered.text
    docs = list(yaml.safe_load_all(rendered.out))
    assert recorded(fake) == granted(docs)
    assert {o["kind"] for o in docs} == {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    assert {o["metadata"].get("namespace") for o in docs if o["kind"] == "Role"} == {"monitoring", NS}
    bindings = [o for o in docs if o["kind"].endswith("Binding")]
    assert all(b["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "platform-admins"}]
               for b in bindings)
