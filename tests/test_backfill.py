"""Generated GPU / cluster series: real names, units and labels from the catalogue, and promtool accepts them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, PROMTOOL, variant_stack
from tritonobs import backfill
from tritonobs.core import catalogue as c
from tritonobs.core.model import Stack
from tritonobs.lab.example import example_spec_path

PODS = [
    backfill.LabPod("triton-lab-0", "triton-vllm", "127.0.0.1:9000", "lab-node-0"),
    backfill.LabPod("triton-lab-1", "triton-vllm", "127.0.0.1:9001", "lab-node-1"),
]
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\} (?P<value>\S+) (?P<ts>\S+)$")


def parse(text: str) -> list[tuple[str, dict[str, str], float, float]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        out.append((m["name"], labels, float(m["value"]), float(m["ts"])))
    return out


def test_packaged_example_spec_equals_the_repository_one() -> None:
    assert example_spec_path().read_bytes() == EXAMPLE.read_bytes()


def test_synthetic_metrics_cover_gpu_and_cluster_sources() -> None:
    names = {m.name for m in backfill.synthetic_metrics()}
    assert {c.DCGM_GPU_UTIL.name, c.DCGM_ENERGY.name, c.NV_GPU_POWER_USAGE.name, c.NV_ENERGY.name,
            c.KSM_HPA_CURRENT.name, c.KSM_NODE_LABELS.name, c.KARPENTER_NODECLAIMS_CREATED.name} <= names
    # What the lab scrapes for real is never generated.
    assert not names & {c.VLLM_WAITING.name, c.NV_QUEUE_DURATION.name, c.NV_CPU_UTILIZATION.name, c.UP.name}
    assert backfill.is_synthetic(c.DCGM_GPU_UTIL.name) and not backfill.is_synthetic(c.VLLM_RUNNING.name)


def test_openmetrics_labels_values_and_eof(example_stack: Stack) -> None:
    text = backfill.openmetrics(example_stack, PODS, 1000.0, 1010.0, 5.0)
    assert text.endswith("# EOF\n")
    samples = parse(text)
    assert all(labels[backfill.SYNTHETIC_LABEL] == "true" for _, labels, _, _ in samples)
    assert sorted({ts for *_, ts in samples}) == [1000.0, 1005.0, 1010.0]
    util = [(lb, v) for n, lb, v, _ in samples if n == c.DCGM_GPU_UTIL.name]
    # 2 pods x 4 GPUs (gpus_per_pod) x 3 timestamps, with every DCGM label of the catalogue.
    assert len(util) == 2 * 4 * 3
    assert all(set(c.DCGM_GPU_UTIL.labels) <= set(lb) for lb, _ in util)
    assert all(0 <= v <= 100 for _, v in util)  # percent
    assert {lb["pod"] for lb, _ in util} == {"triton-lab-0", "triton-lab-1"}
    assert {lb["namespace"] for lb, _ in util} == {"triton-vllm"}
    nv_util = [v for n, _, v, _ in samples if n == c.NV_GPU_UTILIZATION.name]
    assert nv_util and all(0 <= v <= 1 for v in nv_util)  # ratio
    # HPA series name the HPA the stack really uses, with the spec's bounds.
    hpa = {n: v for n, lb, v, _ in samples if lb.get("horizontalpodautoscaler") == example_stack.effective_hpa_name}
    assert hpa[c.KSM_HPA_MIN.name] == 1 and hpa[c.KSM_HPA_MAX.name] == 5 and hpa[c.KSM_HPA_CURRENT.name] == 2
    nodes = [lb for n, lb, _, _ in samples if n == c.KSM_NODE_LABELS.name]
    assert {lb["label_NodeGroupType"] for lb in nodes} == {"g5-gpu-karpenter"}


def test_energy_counters_integrate_power(example_stack: Stack) -> None:
    samples = parse(backfill.openmetrics(example_stack, PODS[:1], 0.0, 60.0, 1.0))
    energy = [v for n, lb, v, _ in samples if n == c.DCGM_ENERGY.name and lb["gpu"] == "0"]
    power = [v for n, lb, v, _ in samples if n == c.DCGM_POWER.name and lb["gpu"] == "0"]
    assert energy == sorted(energy)  # monotonic counter
    # mJ = W x 1000 x seconds: the increase over the minute matches the power curve's integral.
    assert energy[-1] - energy[0] == pytest.approx(sum(power[1:]) * 1000, rel=1e-4)


def test_deterministic_and_follows_the_spec() -> None:
    a = backfill.openmetrics(variant_stack("example"), PODS, 0, 30, 10)
    assert a == backfill.openmetrics(variant_stack("example"), PODS, 0, 30, 10)
    keda = backfill.openmetrics(variant_stack("keda"), PODS, 0, 30, 10)
    assert 'horizontalpodautoscaler="keda-hpa-' in keda and 'horizontalpodautoscaler="keda-hpa-' not in a


def test_promtool_creates_blocks(tmp_path: Path, example_stack: Stack) -> None:
    text = backfill.openmetrics(example_stack, PODS, 1_700_000_000.0, 1_700_000_600.0, 1.0)
    tsdb = tmp_path / "data"
    backfill.backfill(text, tsdb)
    blocks = [p for p in tsdb.iterdir() if (p / "meta.json").exists()]
    assert blocks
    dump = subprocess.run([PROMTOOL, "tsdb", "list", str(tsdb)], capture_output=True, text=True, check=True)
    expected = len(parse(text))
    assert sum(int(line.split()[4]) for line in dump.stdout.splitlines()[1:]) == expected


def test_promtool_failure_is_external_error(tmp_path: Path) -> None:
    from tritonobs.core.errors import ExternalError

    with pytest.raises(ExternalError, match="create-blocks-from openmetrics failed"):
        backfill.backfill("not openmetrics {\n# EOF\n", tmp_path / "data")
