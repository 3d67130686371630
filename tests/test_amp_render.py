"""monitoring.backend: amp — the spec's checks (located, exit 2), the KEDA trigger + TriggerAuthentication and
the prometheus-adapter sidecar values, validated against KEDA's real CRD schema and Kubernetes' Container
schema; the expected values are written out here from KEDA's and AWS's documentation, not built with
tritonobs."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests import crd_schema
from tests.conftest import AMP_WORKSPACE, DASHBOARDS, EXAMPLE, variant_stack
from tritonobs.cli import main
from tritonobs.core import kinds
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import kube_objects, render_all
from tritonobs.core.render.amp_keda import adapter_values

WS_URL = f"https://aps-workspaces.us-west-2.amazonaws.com/workspaces/{AMP_WORKSPACE}"
SO_NAME = "nvidia-triton-server-triton-inference-server"


def _objects(variant: str) -> dict[str, dict]:
    return {o["kind"]: o for o in kube_objects(variant_stack(variant), load_dashboards(DASHBOARDS))}


def test_keda_trigger_reads_the_workspace_with_pod_identity() -> None:
    objs = _objects("amp-keda")
    auth, so = objs["TriggerAuthentication"], objs["ScaledObject"]
    assert auth["metadata"]["name"] == f"{SO_NAME}-amp" and auth["metadata"]["namespace"] == "triton-vllm"
    assert auth["spec"] == {"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::123456789012:role/keda-amp-query"}}
    (trigger,) = so["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": f"{SO_NAME}-amp"}
    meta = trigger["metadata"]
    # KEDA appends /api/v1/query itself: the workspace URL without /api/v1.
    assert meta["serverAddress"] == WS_URL and not meta["serverAddress"].endswith("/api/v1")
    assert meta["awsRegion"] == "us-west-2"
    assert meta["query"].startswith("sum(sum by (pod) (vllm:num_requests_waiting{")
    for obj in (auth, so):
        crd_schema.validate(obj)
    # apply sends the TriggerAuthentication before the ScaledObject that refers to it, and prunes both.
    order = [o["kind"] for o in kube_objects(variant_stack("amp-keda"), [])]
    assert order.index("TriggerAuthentication") < order.index("ScaledObject")
    assert kinds.TRIGGER_AUTHENTICATION in kinds.MANAGED


def test_in_cluster_keda_has_no_aws_settings() -> None:
    objs = _objects("keda")
    assert "TriggerAuthentication" not in objs
    (trigger,) = objs["ScaledObject"]["spec"]["triggers"]
    assert "authenticationRef" not in trigger and "awsRegion" not in trigger["metadata"]
    assert trigger["metadata"]["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"


def test_identity_owner_variant_and_the_schema_refuses_what_keda_would() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["autoscaling"]["engine"] = "keda"
    data["monitoring"].update(backend="amp", amp={"workspace_id": AMP_WORKSPACE, "region": "eu-west-1",
                                                  "keda_identity_owner": "workload"})
    from tritonobs.core.model import resolve
    from tritonobs.core.spec_loader import parse_spec

    objs = {o["kind"]: o for o in kube_objects(resolve(parse_spec(yaml.safe_dump(data), "t.yaml")), [])}
    assert objs["TriggerAuthentication"]["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
    assert objs["ScaledObject"]["spec"]["triggers"][0]["metadata"]["awsRegion"] == "eu-west-1"
    bad = copy.deepcopy(objs["TriggerAuthentication"])
    bad["spec"]["podIdentity"]["identityOwner"] = "operator"  # enum keda|workload
    with pytest.raises(jsonschema.ValidationError, match="'operator' is not one of"):
        crd_schema.validate(bad)
    bad = copy.deepcopy(objs["TriggerAuthentication"])
    bad["spec"]["podIdentity"]["provider"] = "amazon"
    with pytest.raises(jsonschema.ValidationError, match="'amazon' is not one of"):
        crd_schema.validate(bad)
    bad = copy.deepcopy(objs["ScaledObject"])
    bad["spec"]["triggers"][0]["authenticationRef"]["nmae"] = "typo"  # unknown field: refused, not pruned
    with pytest.raises(jsonschema.ValidationError, match="Additional properties are not allowed"):
        crd_schema.validate(bad)


def test_adapter_values_put_a_sigv4_sidecar_in_front_of_the_workspace() -> None:
    stack = variant_stack("amp-adapter")
    values = adapter_values(stack)
    prom = values["prometheus"]
    assert prom == {"url": "http://localhost", "port": 8005, "path": f"/workspaces/{AMP_WORKSPACE}"}
    # The chart's flag: --prometheus-url={{url}}:{{port}}{{path}}
    assert f"{prom['url']}:{prom['port']}{prom['path']}" == f"http://localhost:8005/workspaces/{AMP_WORKSPACE}"
    (sidecar,) = values["extraContainers"]
    assert sidecar["image"] == "public.ecr.aws/aws-observability/aws-sigv4-proxy:1.7"
    assert sidecar["args"] == ["--name", "aps", "--region", "us-west-2", "--host",
                               "aps-workspaces.us-west-2.amazonaws.com", "--port", ":8005"]
    assert values["serviceAccount"] == {
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/prometheus-adapter-amp"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "adapter"},
           "spec": {"containers": [{"name": "prometheus-adapter", "image": "adapter"}, sidecar]}}
    kubernetes_validate.validate(pod, "1.33", strict=True)
    paths = {a.path for a in render_all(stack, [])}
    assert "adapter_rules/prometheus-adapter-amp-values.yaml" in paths
    assert "adapter_rules/prometheus-adapter-amp-values.yaml" not in {a.path for a in render_all(variant_stack("example"), [])}


# --- the spec: located, exit 2, nothing written ---
MON_LINE = next(i for i, t in enumerate(EXAMPLE.read_text().splitlines(), 1) if t == "monitoring:")


def _spec_with(tmp_path: Path, amp_lines: list[str]) -> Path:
    lines = EXAMPLE.read_text().splitlines()
    lines[MON_LINE:MON_LINE] = [f"  {t}" for t in amp_lines]
    path = tmp_path / "tritonobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("amp_lines, line, message", [
    (["backend: amp", "amp:", "  workspace_id: ws-NOT-A-UUID", "  region: us-west-2"], 3,
     "monitoring.amp.workspace_id: 'ws-NOT-A-UUID': not an AMP workspace id: expected ws- and a lowercase UUID, "
     "e.g. ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d"),
    (["backend: amp", "amp:", f"  workspace_id: {AMP_WORKSPACE}", "  region: us-wset-2"], 4,
     "monitoring.amp.region: AMP (service aps) has no endpoint in region 'us-wset-2': write a region it serves "
     "(e.g. us-east-1, us-east-2, us-gov-east-1, us-gov-west-1)"),
    (["backend: amp"], 0, "monitoring: backend amp needs an amp: section (workspace_id, region)"),
    (["amp:", f"  workspace_id: {AMP_WORKSPACE}", "  region: us-west-2"], 0,
     "monitoring: an amp: section with backend prometheus: set backend: amp, or remove amp:"),
    (["backend: amp", "amp:", f"  workspace_id: {AMP_WORKSPACE}", "  region: us-west-2",
      "  keda_role_arn: arn:aws:iam::123456789012:role/keda", "  keda_identity_owner: keda"], 2,
     "monitoring.amp: keda_role_arn and keda_identity_owner are mutually exclusive (KEDA refuses both): keep one"),
])
def test_bad_amp_spec_is_located_exit_2_nothing_written(amp_lines: list[str], line: int, message: str,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec_with(tmp_path, amp_lines)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(["render", "--spec", str(spec), "--dashboards", str(DASHBOARDS), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {spec}:{MON_LINE + line}: {message}\n"  # line: of the key, counted from monitoring:
    assert not out.exists()


def test_every_keda_trigger_reads_the_workspace_the_predictive_floor_too() -> None:
    from tritonobs.core.model import resolve
    from tritonobs.core.spec_loader import parse_spec

    data = yaml.safe_load(EXAMPLE.read_text())
    data["autoscaling"].update(engine="keda", predictive=True)
    data["monitoring"].update(backend="amp", amp={"workspace_id": AMP_WORKSPACE, "region": "us-west-2"})
    objs = {o["kind"]: o for o in kube_objects(resolve(parse_spec(yaml.safe_dump(data), "t.yaml")), [])}
    triggers = objs["ScaledObject"]["spec"]["triggers"]
    assert len(triggers) == 2  # the signal and the predictive floor
    for t in triggers:
        assert t["metadata"]["serverAddress"] == WS_URL and t["metadata"]["awsRegion"] == "us-west-2"
        assert t["authenticationRef"] == {"name": f"{SO_NAME}-amp"}
    assert objs["TriggerAuthentication"]["spec"] == {"podIdentity": {"provider": "aws"}}
    crd_schema.validate(objs["ScaledObject"])
