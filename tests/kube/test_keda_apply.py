"""`tritonobs apply` with autoscaling.engine: keda needs a KEDA whose ScaledObject knows fallback.behavior
(2.17+): on an older one the API server would prune `behavior: currentReplicasIfHigher` and the fallback would
be static again, scaling a busy Deployment down during a metrics outage."""

from __future__ import annotations

from pathlib import Path

from tests.kube.conftest import DEPLOYMENT, NS, StackDir, install_keda, keda

SO = "keda.sh/v1alpha1/scaledobjects"


def apply(cli, stack_dir: StackDir, kubeconfig: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "0",
               *extra)


def engine_line(stack_dir: StackDir) -> int:
    return next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if t.strip().startswith("engine:"))


def test_keda_2_17_gets_a_fallback_that_keeps_current_replicas(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake, "2.17.0", behavior=True)
    stack_dir.edit(keda)
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 0, result.text
    assert "KEDA 2.17.0: ScaledObject fallback.behavior currentReplicasIfHigher supported" in result.out
    so = fake.stored(SO, NS, DEPLOYMENT)
    assert so is not None
    assert so["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 2, "behavior": "currentReplicasIfHigher"}
    # Settings that only act between 0 and 1 replica are not rendered (min_replicas is 1).
    assert "cooldownPeriod" not in so["spec"] and so["spec"]["minReplicaCount"] == 1
    assert all("activationThreshold" not in t["metadata"] for t in so["spec"]["triggers"])
    # The adapter is left alone with KEDA: no Helm release is read, no helm line printed.
    assert "helm upgrade" not in result.out


def test_keda_2_16_is_refused_naming_what_was_found_and_what_is_needed(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake, "2.16.1", behavior=False)
    stack_dir.edit(keda)
    for args in ((), ("--dry-run",)):
        result = apply(cli, stack_dir, kubeconfig, *args)
        assert result.code == 2, result.text
        assert result.err.startswith(
            f"error: {stack_dir.spec}:{engine_line(stack_dir)}: KEDA 2.16.1: its CustomResourceDefinition "
            "scaledobjects.keda.sh has no spec.fallback.behavior"
        )
        assert "needs KEDA >= 2.17 (upgrade KEDA and its CRDs), or autoscaling.engine: adapter" in result.err
        assert fake.stored(SO, NS, DEPLOYMENT) is None  # nothing applied


def test_keda_crd_without_a_version_label_is_judged_by_its_schema(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake, "2.18.0", behavior=True)
    crd = fake.stored("apiextensions.k8s.io/v1/customresourcedefinitions", None, "scaledobjects.keda.sh")
    assert crd is not None
    del crd["metadata"]["labels"]["app.kubernetes.io/version"]
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["fallback"][
        "properties"]["behavior"]["enum"] = ["static"]
    fake.seed("apiextensions.k8s.io/v1/customresourcedefinitions", crd, manager="kubectl")
    stack_dir.edit(keda)
    result = apply(cli, stack_dir, kubeconfig)
    assert result.code == 2
    assert "KEDA of unknown version (no app.kubernetes.io/version label): its CustomResourceDefinition " \
           "scaledobjects.keda.sh allows fallback.behavior ['static'] only" in result.err
