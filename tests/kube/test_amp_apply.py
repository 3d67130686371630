"""`tritonobs apply` of the AMP KEDA variant: the TriggerAuthentication goes in before the ScaledObject that
refers to it, and `--prune` removes it once the spec is back on an in-cluster Prometheus."""

from __future__ import annotations

from tests.conftest import AMP_WORKSPACE
from tests.kube.conftest import DEPLOYMENT, NS, install_keda, keda

SO = "keda.sh/v1alpha1/scaledobjects"
TA = "keda.sh/v1alpha1/triggerauthentications"
TA_NAME = f"{DEPLOYMENT}-amp"


def _amp(d) -> None:  # type: ignore[no-untyped-def]
    keda(d)
    d["monitoring"]["backend"] = "amp"
    d["monitoring"]["amp"] = {"workspace_id": AMP_WORKSPACE, "region": "us-west-2", "keda_identity_owner": "keda"}


def test_apply_and_prune_the_trigger_authentication(cli, fake, stack_dir, kubeconfig) -> None:
    install_keda(fake, "2.17.0", behavior=True)
    stack_dir.edit(_amp)
    args = ("apply", "-f", stack_dir.spec, "--kubeconfig", kubeconfig, "--context", "fake", "--wait-seconds", "0")
    result = cli(*args)
    assert result.code == 0, result.text
    auth = fake.stored(TA, NS, TA_NAME)
    assert auth is not None and auth["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "keda"}}
    so = fake.stored(SO, NS, DEPLOYMENT)
    assert so is not None
    (trigger,) = so["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": TA_NAME}
    assert trigger["metadata"]["serverAddress"] == f"https://aps-workspaces.us-west-2.amazonaws.com/workspaces/{AMP_WORKSPACE}"
    out = result.out
    assert out.index(f"TriggerAuthentication {NS}/{TA_NAME}") < out.index(f"ScaledObject {NS}/{DEPLOYMENT}")

    def back(d) -> None:  # type: ignore[no-untyped-def]
        d["monitoring"]["backend"] = "prometheus"
        del d["monitoring"]["amp"]

    stack_dir.edit(back)
    pruned = cli(*args, "--prune")
    assert pruned.code == 0, pruned.text
    assert fake.stored(TA, NS, TA_NAME) is None
    assert "authenticationRef" not in fake.stored(SO, NS, DEPLOYMENT)["spec"]["triggers"][0]
