"""`tritonobs apply` of warm GPU capacity against the emulated API server: the PriorityClass goes in before the
placeholder Deployment, and prune removes only our own stale placeholders, never Triton's Deployment."""

from __future__ import annotations

from tests.kube.conftest import DEPLOYMENT, NS, declare
from tritonobs.core.kinds import MANAGED_BY, PART_OF

PC = "scheduling.k8s.io/v1/priorityclasses"
DEP = "apps/v1/deployments"
NAME = "triton-vllm-warm-placeholder"


def test_apply_warm_capacity_in_order_and_prune_only_ours(cli, fake, stack_dir, kubeconfig) -> None:  # type: ignore[no-untyped-def]
    declare(fake, {PC: ("PriorityClass", False)})
    stack_dir.edit(lambda d: d["gpu_pool"].update(warm_nodes=1))
    stale = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "triton-vllm-retired-placeholder", "namespace": NS,
        "labels": {MANAGED_BY: "tritonobs", PART_OF: "triton-vllm"}}, "spec": {"replicas": 1}}
    fake.seed(DEP, stale, manager="tritonobs")
    base = ("-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "5")
    result = cli("apply", *base, "--prune")
    assert result.code == 0, result.text

    pc, dep = fake.stored(PC, None, NAME), fake.stored(DEP, NS, NAME)
    assert pc is not None and pc["value"] == -10 and pc["preemptionPolicy"] == "Never"
    assert dep is not None and dep["spec"]["replicas"] == 1
    writes = [(group, resource) for _, group, resource, verb in fake.authz if verb in ("patch", "create")]
    assert writes.index(("scheduling.k8s.io", "priorityclasses")) < writes.index(("apps", "deployments"))
    assert writes.index(("apps", "deployments")) < writes.index(("autoscaling", "horizontalpodautoscalers"))
    # Our stale placeholder went; Triton's own Deployment (Helm's, without our labels) stayed.
    assert fake.stored(DEP, NS, "triton-vllm-retired-placeholder") is None
    assert fake.stored(DEP, NS, DEPLOYMENT) is not None
    pruned = [line for line in result.out.splitlines() if line.startswith("pruned")]
    assert pruned == [f"pruned     Deployment {NS}/triton-vllm-retired-placeholder"], result.out
