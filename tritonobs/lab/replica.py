"""One lab replica: a real tritonserver (TritonProcess) plus the pod-like identity the lab gives it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonobs import http
from tritonobs.core import catalogue as c
from tritonobs.lab import procs
from tritonobs.lab.engine import LabEngine
from tritonobs.lab.triton_process import TritonProcess

_GAUGE_LINE = re.compile(r"^(?P<name>[^\s{]+)(\{[^}]*\})?\s+(?P<value>\S+)")


@dataclass
class Replica:
    pod: str
    index: int
    node: str
    process: TritonProcess

    @property
    def grpc_url(self) -> str:
        return self.process.grpc_target

    @property
    def http_url(self) -> str:
        return self.process.http_url

    @property
    def metrics_address(self) -> str:
        return f"{procs.LOOPBACK}:{self.process.ports.metrics}"

    @property
    def pgid(self) -> int | None:
        return self.process.pid

    def describe(self) -> dict[str, Any]:
        return {"pod": self.pod, "node": self.node, "grpc": self.grpc_url, "http": self.http_url,
                "metrics": f"http://{self.metrics_address}/metrics", "pid": self.process.pid}

    def engine_requests(self) -> float:
        """Requests the engine holds (running + waiting over all models), read from the replica's own
        /metrics; 0 when the replica no longer answers (nothing left to drain)."""
        try:
            status, body = http.probe(self.process.metrics_url, timeout=2)
        except http.Unreachable:
            return 0.0
        if status != 200:
            return 0.0
        text = body.decode(errors="replace")
        wanted = {c.VLLM_RUNNING.name, c.VLLM_WAITING.name}
        total = 0.0
        for line in text.splitlines():
            m = _GAUGE_LINE.match(line)
            if m and m["name"] in wanted:
                total += float(m["value"])
        return total

    def shm_regions(self) -> set[str]:
        """Shared-memory files of this replica: its own prefix, plus anything its processes map."""
        names = {p.name for p in self.process.leftover_shm()}
        return names | procs.shm_regions(self.process.processes())

    def stop(self) -> None:
        # A server that already died has nothing to finish: its stubs (which ignore SIGTERM) are killed at
        # once instead of after the grace period, so a crashed container restarts promptly.
        self.process.stop(timeout=0.5 if self.process.exit_code() is not None else 15.0)


def start_replica(repository: Path, workdir: Path, *, pod: str, index: int, node: str,
                  models: Sequence[str], engine: LabEngine | None = None) -> Replica:
    engine = engine or LabEngine()
    process = TritonProcess(repository, list(models), workdir=workdir, env=engine.env(), python=engine.python,
                            ready_timeout=engine.ready_timeout)
    process.start()
    return Replica(pod, index, node, process)
