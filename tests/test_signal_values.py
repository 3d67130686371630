"""Signal expressions evaluated by real Prometheus (promtool's rule engine) on crafted series."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import PROMTOOL
from tritonobs.core import catalogue as c
from tritonobs.core.signals import SIGNALS

POD = {"namespace": "ns", "model": "m", "version": "1"}


def _series(name: str, pod: str, values: str, **extra: str) -> dict[str, str]:
    labels = ", ".join(f'{k}="{v}"' for k, v in {**POD, "pod": pod, **extra}.items())
    return {"series": f"{name}{{{labels}}}", "values": values}


def test_ttft_p90_reads_top_bucket_when_saturated_and_zero_when_idle(tmp_path: Path) -> None:
    expr = SIGNALS["ttft_p90"].per_pod(['namespace="ns"'], "1m", ["pod"])
    rules = {"groups": [{"name": "g", "rules": [{"record": "ttft_p90", "expr": expr}]}]}
    buckets = [*c.VLLM_TTFT.buckets, "+Inf"]
    series = [
        # busy: 10 first tokens per 15 s, all in the 0.5 s bucket -> p90 interpolates inside (0.25, 0.5]
        *[_series(c.VLLM_TTFT.bucket, "busy", "0+0x8" if (b != "+Inf" and b < 0.5) else "0+10x8", le=f"{b:g}" if b != "+Inf" else b) for b in buckets],
        _series(c.VLLM_WAITING.name, "busy", "1x8"),
        # saturated: requests wait, no first token in the window (buckets flat)
        *[_series(c.VLLM_TTFT.bucket, "saturated", "5x8", le=f"{b:g}" if b != "+Inf" else b) for b in buckets],
        _series(c.VLLM_WAITING.name, "saturated", "40x8"),
        # idle: nothing waits, nothing arrives
        *[_series(c.VLLM_TTFT.bucket, "idle", "5x8", le=f"{b:g}" if b != "+Inf" else b) for b in buckets],
        _series(c.VLLM_WAITING.name, "idle", "0x8"),
    ]
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": "ttft_p90",
                        "eval_time": "90s",
                        "exp_samples": [
                            {"labels": 'ttft_p90{pod="busy"}', "value": 0.475},
                            {"labels": 'ttft_p90{pod="idle"}', "value": 0},
                            {"labels": 'ttft_p90{pod="saturated"}', "value": c.VLLM_TTFT.buckets[-1]},
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
