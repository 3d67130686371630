"""The in-cluster load Job with --parallelism: an Indexed Job whose pods each run one share."""

from __future__ import annotations

import dataclasses

import kubernetes_validate
import pytest

from tests.conftest import variant_stack
from tritonobs.core.render.load_job import LoadJobSpec, load_job

SPEC = LoadJobSpec(profile_kind="constant", mode="closed", value="64", duration="15m", duration_seconds=900,
                   model="llama2")


@pytest.mark.parametrize("version", ["1.29", "1.33"])
def test_parallel_job_is_indexed_and_valid(version: str) -> None:
    job = load_job(variant_stack("example"), dataclasses.replace(SPEC, parallelism=4))
    kubernetes_validate.validate(job, version, strict=True)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"][-2:] == ["--shard", "$(SHARD_INDEX)/4"]
    assert container["env"] == [{"name": "SHARD_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]


def test_single_pod_job_unchanged() -> None:
    job = load_job(variant_stack("example"), SPEC)
    assert "completionMode" not in job["spec"] and "--shard" not in job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "env" not in job["spec"]["template"]["spec"]["containers"][0]
