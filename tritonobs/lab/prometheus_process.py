"""The lab's Prometheus: the Debian binary, loopback only, file_sd targets, the stack's rendered rules.

Targets are labelled the way a kube-prometheus ServiceMonitor scrape of the Triton metrics Service labels
them (job = the metrics Service, namespace, pod, service, endpoint), so every rendered query runs unchanged.
The target file is replaced atomically (write + rename) and re-read every second, so replica changes show up
within a few seconds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tritonobs.core.errors import ExternalError
from tritonobs.lab import procs
from tritonobs.prom.client import PrometheusClient

PROMETHEUS_BIN = "/usr/bin/prometheus"
INSTALL_HINT = "Prometheus is not installed: run `apt-get install -y prometheus` (or `make prometheus`)"
JOB_NAME = "triton-lab"


@dataclass(frozen=True)
class ScrapeTarget:
    address: str  # host:port of a replica's /metrics
    labels: dict[str, str]


def file_sd(targets: Sequence[ScrapeTarget]) -> list[dict[str, Any]]:
    """The file_sd document: one group per target (each has its own pod label)."""
    return [{"targets": [t.address], "labels": dict(sorted(t.labels.items()))} for t in targets]


def config(scrape_interval: str, rules_file: Path, targets_file: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "metrics_path": "/metrics",
                # file_sd labels carry job/namespace/pod as a ServiceMonitor scrape would: keep them as given.
                "honor_labels": False,
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
            }
        ],
    }


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class PrometheusProcess:
    """One Prometheus server owned by a lab run directory. `start()` returns once /-/ready answers."""

    def __init__(self, run_dir: Path, *, scrape_interval: str, port: int | None = None,
                 binary: str = PROMETHEUS_BIN) -> None:
        self.run_dir = run_dir
        self.scrape_interval = scrape_interval
        self.port = port or procs.free_port()
        self.binary = binary
        self.tsdb_dir = run_dir / "prometheus-data"
        self.config_file = run_dir / "prometheus.yml"
        self.rules_file = run_dir / "rules.yaml"
        self.targets_file = run_dir / "targets.json"
        self.log_file = run_dir / "prometheus.log"
        self._proc: Any = None

    @property
    def url(self) -> str:
        return f"http://{procs.LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def client(self, timeout: float = 10.0) -> PrometheusClient:
        return PrometheusClient(self.url, timeout=timeout)

    def write_rules(self, groups: dict[str, Any]) -> None:
        write_atomic(self.rules_file, yaml.safe_dump(groups, sort_keys=True))

    def write_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        write_atomic(self.targets_file, json.dumps(file_sd(targets), indent=2, sort_keys=True) + "\n")

    def start(self, timeout: float = 30.0) -> str:
        if not Path(self.binary).exists():
            raise ExternalError(self.binary, INSTALL_HINT)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.tsdb_dir.mkdir(parents=True, exist_ok=True)
        if not self.rules_file.exists():
            self.write_rules({"groups": []})
        if not self.targets_file.exists():
            self.write_targets([])
        write_atomic(self.config_file, yaml.safe_dump(
            config(self.scrape_interval, self.rules_file, self.targets_file), sort_keys=True))
        cmd = [
            self.binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.tsdb_dir}",
            f"--web.listen-address={procs.LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]
        self._proc = procs.spawn(cmd, self.log_file)
        client = self.client(timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ExternalError(self.url, f"Prometheus exited at start: {self._last_log_line()}")
            if client.ready():
                return self.url
            time.sleep(0.1)
        self.stop()
        raise ExternalError(self.url, f"Prometheus not ready after {timeout:.0f}s: {self._last_log_line()}")

    def reload(self) -> None:
        self.client().reload()

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop_group(self._proc, timeout=10.0)
            self._proc = None

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"
