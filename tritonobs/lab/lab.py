"""The local lab: N real Triton replicas (simulated vLLM engine, or the real vLLM), scraped by a real Prometheus.

    with Lab(stack, replicas=2) as lab:
        lab.prometheus_url, lab.grpc_urls            # where to look, where to send load
        pod = lab.add_replica()                      # what the lab autoscaler calls
        lab.remove_replica(pod.pod, drain=True)

Everything is loopback-only, on free ports, under one run directory. `down()` (also on exceptions, SIGINT and
SIGTERM) stops every process group it started, checks through /proc that none of their processes survive,
deletes the python-backend shared-memory files its replicas used, and removes the run directory it created.
A second Ctrl-C during that teardown is ignored: an interrupted cleanup is what leaves orphans.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from tritonobs import backfill
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.core.model import Stack
from tritonobs.core.render.alerts import rule_groups
from tritonobs.lab import procs
from tritonobs.lab.engine import LabEngine
from tritonobs.lab.lab_stack import LAB_SCRAPE_INTERVAL, lab_pod_name, lab_variant
from tritonobs.lab.prometheus_process import PrometheusProcess, ScrapeTarget
from tritonobs.lab.replica import Replica, start_replica

# Synthetic GPU/cluster series cover this long before the lab starts (check-queries looks back 15 min).
DEFAULT_BACKFILL_SECONDS = 1800.0


class LabInterrupted(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C so every `finally` and `down()` runs."""


class Lab:
    def __init__(
        self,
        stack: Stack,
        workdir: Path | None = None,
        *,
        replicas: int = 2,
        model_repository: Path = Path("model_repository"),
        models: Sequence[str] | None = None,
        sim: Mapping[str, str] | None = None,
        scrape_interval: str = LAB_SCRAPE_INTERVAL,
        backfill_seconds: float = DEFAULT_BACKFILL_SECONDS,
        keep_workdir: bool = False,
        on_event: Callable[[str], None] | None = None,
        engine: LabEngine | None = None,
    ) -> None:
        if replicas < 0:
            raise UsageError(f"replicas must be >= 0 (got {replicas})")
        self.stack = lab_variant(stack, scrape_interval)
        self.source_repository = model_repository
        self.models = tuple(models) if models else self.stack.model_names
        unknown = sorted(set(self.models) - set(self.stack.model_names))
        if unknown:
            raise UsageError(f"models {unknown} are not in the spec (spec models: {list(self.stack.model_names)})")
        # Default: the simulation (lab_repository defaults: 10x faster than an A10G), `sim` overriding it.
        self.engine = engine or LabEngine(sim=dict(sim or {}))
        self.initial_replicas = replicas
        self.backfill_seconds = backfill_seconds
        self._given_workdir = workdir
        self._created_workdir = False
        self.keep_workdir = keep_workdir
        self.workdir: Path = workdir or Path()
        self._on_event = on_event or (lambda msg: None)
        self._lock = threading.RLock()
        self._replicas: dict[str, Replica] = {}
        self._draining: set[str] = set()
        self._next_index = 0
        self._shm: set[str] = set()
        self._pgids: set[int] = set()
        self._prometheus: PrometheusProcess | None = None
        self._repository: Path | None = None
        self._up = False
        self._old_sigterm: Any = None

    # --- what callers read ---
    @property
    def prometheus_url(self) -> str:
        if self._prometheus is None:
            raise RuntimeError("the lab is not up")
        return self._prometheus.url

    @property
    def targets(self) -> list[Replica]:
        """Running replicas (draining ones included: Prometheus keeps scraping them until they stop)."""
        with self._lock:
            return sorted(self._replicas.values(), key=lambda r: r.index)

    @property
    def grpc_urls(self) -> list[str]:
        """Where new requests may go: running replicas that are not draining."""
        with self._lock:
            return [r.grpc_url for r in self.targets if r.pod not in self._draining]

    def describe(self) -> dict[str, Any]:
        """JSON-ready state (the `lab up` daemon writes it to the run directory)."""
        return {
            "workdir": str(self.workdir),
            "namespace": self.stack.namespace,
            "prometheus_url": self.prometheus_url,
            "prometheus_pid": self._prometheus.pid if self._prometheus else None,
            "replicas": [r.describe() for r in self.targets],
            "models": list(self.models),
        }

    # --- lifecycle ---
    def __enter__(self) -> Lab:
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            return self.up()
        except BaseException:
            self._restore_sigterm()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.down()
        finally:
            self._restore_sigterm()

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    @staticmethod
    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise LabInterrupted()

    def up(self) -> Lab:
        """Start Prometheus and the replicas; on any failure (or Ctrl-C) everything started is stopped."""
        if self._up:
            return self
        self._up = True
        atexit.register(self.down)
        try:
            self._start_all()
        except BaseException:
            self.down()
            raise
        return self

    def _start_all(self) -> None:
        if self._given_workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="tritonobs-lab-"))
            self._created_workdir = True
        else:
            self._created_workdir = not self._given_workdir.exists()
            self.workdir = self._given_workdir.resolve()
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._repository = self._build_repository()
        prom = PrometheusProcess(self.workdir, scrape_interval=self.stack.spec.monitoring.scrape_interval)
        self._prometheus = prom
        planned = [self._plan_replica() for _ in range(self.initial_replicas)]
        self._backfill(prom, planned)
        prom.write_rules(self._rule_groups())
        self._on_event(f"starting Prometheus on {prom.url}")
        try:
            prom.start()
        finally:
            if prom.pid is not None:
                self._pgids.add(prom.pid)
        self._on_event(f"starting {len(planned)} Triton replicas")
        with ThreadPoolExecutor(max_workers=max(1, len(planned))) as pool:
            futures = [pool.submit(self._start, p) for p in planned]
        # Collect every replica that did start before raising the first failure, so down() stops them.
        errors = []
        for f in futures:
            try:
                replica = f.result()
            except BaseException as e:
                errors.append(e)
                continue
            with self._lock:
                self._replicas[replica.pod] = replica
        if errors:
            raise errors[0]
        with self._lock:
            self._write_targets()

    def down(self) -> None:
        """Stop everything this lab started. Safe to call twice, from atexit, or after a failed `up()`."""
        if not self._up:
            return
        self._up = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.down)
        with _signals_ignored():
            self._stop_all()

    def _stop_all(self) -> None:
        with self._lock:
            replicas = list(self._replicas.values())
            self._replicas.clear()
            self._draining.clear()
        for r in replicas:
            self._shm |= r.shm_regions()
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(replicas))) as pool:
                list(pool.map(lambda r: r.stop(), replicas))
            if self._prometheus is not None:
                self._prometheus.stop()
            self._kill_leftovers()
        finally:
            self._pgids.clear()
            procs.remove_shm(self._shm)
            if self._created_workdir and not self.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # --- replicas ---
    def add_replica(self, pod: str | None = None) -> Replica:
        """Start one more replica, wait until it is ready, then add it to Prometheus' targets."""
        if not self._up:
            raise RuntimeError("the lab is not up")
        with self._lock:
            if pod is not None and pod in self._replicas:
                raise UsageError(f"replica {pod!r} already exists")
            planned = self._plan_replica(pod)
        replica = self._start(planned)
        with self._lock:
            self._replicas[replica.pod] = replica
            self._write_targets()
        return replica

    def remove_replica(self, pod: str | None = None, *, drain: bool = True, drain_timeout: float = 60.0) -> str:
        """Stop a replica (the newest by default). With `drain`, new requests stop going to it (`grpc_urls`)
        and it is stopped once its engine holds no request (or after `drain_timeout`). Prometheus scrapes
        it until it has stopped, as it would a terminating pod."""
        with self._lock:
            if pod is None:
                candidates = [r for r in self.targets if r.pod not in self._draining]
                if not candidates:
                    raise UsageError("no replica left to remove")
                pod = candidates[-1].pod
            replica = self._replicas.get(pod)
            if replica is None:
                raise UsageError(f"no replica {pod!r} (replicas: {sorted(self._replicas)})")
            self._draining.add(pod)
        if drain:
            deadline = time.monotonic() + drain_timeout
            while time.monotonic() < deadline and replica.engine_requests() > 0:
                time.sleep(0.2)
        self._shm |= replica.shm_regions()
        replica.stop()
        if replica.pgid is not None and not procs.group_pids(replica.pgid):
            self._pgids.discard(replica.pgid)  # gone: never signal that number again (pids get reused)
        procs.remove_shm(self._shm_unused())
        with self._lock:
            self._replicas.pop(pod, None)
            self._draining.discard(pod)
            self._write_targets()
        return pod

    def replica_problem(self, pod: str) -> str | None:
        """Why the replica of `pod` is not serving, or None: its server exited (with its code), or it does
        not answer Triton's readiness probe. A replica that is not (or no longer) in the lab has none."""
        with self._lock:
            replica = self._replicas.get(pod)
        if replica is None:
            return None
        code = replica.process.exit_code()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            return f"tritonserver {how}"
        return None if replica.process.ready() else "not answering its readiness probe (/v2/health/ready)"

    # --- internals ---
    def _plan_replica(self, pod: str | None = None) -> tuple[str, int, str]:
        with self._lock:
            index = self._next_index
            self._next_index += 1
        name = pod or lab_pod_name(self.stack, index)
        return name, index, f"lab-node-{index}"

    def _start(self, planned: tuple[str, int, str]) -> Replica:
        name, index, node = planned
        assert self._repository is not None
        try:
            replica = start_replica(self._repository, self.workdir / "replicas" / name, pod=name, index=index,
                                    node=node, models=self.models, engine=self.engine)
        except ExternalError as first:
            # A replica can die at start for reasons of the moment (a port another process took between our
            # check and its bind, a shared-memory lock): try once more on new ports, then fail with its log.
            if not self._up:
                raise
            self._on_event(f"replica {name} failed to start ({first}); retrying once")
            replica = start_replica(self._repository, self.workdir / "replicas" / f"{name}-retry", pod=name,
                                    index=index, node=node, models=self.models, engine=self.engine)
        if not self._up:  # the lab went down (Ctrl-C) while this replica was starting
            replica.stop()
            raise RuntimeError(f"the lab stopped while replica {name} was starting")
        self._shm |= replica.shm_regions()
        if replica.pgid is not None:
            self._pgids.add(replica.pgid)
        self._on_event(f"replica {name} ready (gRPC {replica.grpc_url})")
        return replica

    def _build_repository(self) -> Path:
        src = self.source_repository
        if not src.is_dir():
            raise UsageError("model repository not found: pass --model-repository or run from the repo root",
                             file=str(src))
        return self.engine.build_repository(src, self.workdir / "model_repository", self.models)

    def _rule_groups(self) -> dict[str, Any]:
        return rule_groups(self.stack)

    def _backfill(self, prom: PrometheusProcess, planned: Sequence[tuple[str, int, str]]) -> None:
        if self.backfill_seconds <= 0 or not planned:
            return
        # Instances are only labels here; the real ports are not known yet and do not matter to queries.
        pods = [backfill.LabPod(name, self.stack.namespace, f"{procs.LOOPBACK}:0", node) for name, _, node in planned]
        end = time.time() - 1.0  # strictly in the past: a block reaching "now" would block scraping
        text = backfill.openmetrics(self.stack, pods, end - self.backfill_seconds, end, self.stack.scrape_seconds)
        self._on_event(f"backfilling synthetic GPU/cluster series ({self.backfill_seconds / 60:.0f} min)")
        backfill.backfill(text, prom.tsdb_dir)

    def _write_targets(self) -> None:
        if self._prometheus is None:
            return
        t = self.stack.spec.triton
        self._prometheus.write_targets([
            ScrapeTarget(r.metrics_address, {
                "job": t.metrics_service, "namespace": self.stack.namespace, "pod": r.pod,
                "service": t.metrics_service, "endpoint": t.metrics_port_name, "container": "triton",
            })
            for r in self.targets
        ])

    def _shm_unused(self) -> set[str]:
        with self._lock:
            in_use = set().union(*(r.shm_regions() for r in self._replicas.values())) if self._replicas else set()
        return self._shm - in_use

    def _kill_leftovers(self) -> None:
        """SIGKILL whatever survived in the process groups we started (stubs orphaned by a crash keep
        their group), then check /proc that none of those groups has a live process left."""
        for pgid in self._pgids:
            for pid in procs.group_pids(pgid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(procs.group_pids(g) for g in self._pgids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [p for g in self._pgids for p in procs.group_pids(g)]
        if survivors:
            raise ExternalError(str(self.workdir), f"lab processes survived SIGKILL: {survivors}")


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while tearing down (main thread only: signal handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
