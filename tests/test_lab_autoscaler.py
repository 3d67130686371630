"""The lab autoscaler's handling of replicas that die, against a stand-in lab (no processes): a container that
fails to start crash-loops (not Ready, restarted after the kubelet's back-off) instead of ending the run."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from tests.conftest import EXAMPLE
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import resolve
from tritonobs.core.spec_loader import load_spec
from tritonobs.core.timeline import RunInfo, Timeline
from tritonobs.lab.autoscaler import LabAutoscaler


class FakeLab:
    """Starts replicas instantly; the first start of each pod fails as a crashing container would."""

    prometheus_url = "http://127.0.0.1:9"  # never queried here
    workdir = "/nonexistent"

    def __init__(self) -> None:
        self.starts: list[str] = []

    def add_replica(self, pod: str) -> SimpleNamespace:
        self.starts.append(pod)
        if self.starts.count(pod) == 1:
            raise ExternalError("tritonserver http://127.0.0.1:1", "exited with code -6 before ready")
        return SimpleNamespace(grpc_url=f"127.0.0.1:{1000 + len(self.starts)}")

    def replica_problem(self, pod: str) -> None:
        return None


def test_a_replica_that_fails_to_start_crash_loops_then_serves() -> None:
    stack = resolve(load_spec(EXAMPLE))
    tl = Timeline(RunInfo("lab", "s", "ns", "hpa", "waiting_requests", 2, 1, 5, 2, 4, 4, 8.0, time_factor=100))
    clock = [0.0]
    lab = FakeLab()
    scaler = LabAutoscaler(lab, stack, tl, time_factor=100, t0=0.0, clock=lambda: clock[0], tick_s=0.0)  # type: ignore[arg-type]

    async def run() -> None:
        scaler._perform(scaler.pool.warm(0.0, 1))
        for _ in range(200):  # 0.01 s steps of lab time: back-off 10 s / 100 = 0.1 s
            clock[0] += 0.01
            await scaler.tick()
            await asyncio.sleep(0)

    asyncio.run(run())
    pod = scaler.pool.pod_names()[0]
    assert lab.starts == [pod, pod]  # failed, then restarted after the back-off
    failed = tl.of_kind("pod_failed")
    assert len(failed) == 1 and "failed to start: tritonserver http://127.0.0.1:1: exited with code -6" in failed[0].detail
    assert scaler.pool.ready_replicas == 1 and scaler.ready_urls() == ["127.0.0.1:1002"]
