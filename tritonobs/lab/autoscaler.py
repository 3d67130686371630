"""The lab's autoscaling loop: the HPA engine reading the rendered adapter rule, actuating through the g5 pool
model onto real Triton replicas.

Every sync period (15 s divided by the time factor) it does what kube-controller-manager and
prometheus-adapter do together: expand the adapter rule's metricsQuery for the current pods exactly as the
adapter would (`queries.expand_adapter`), read one value per pod from the lab Prometheus (pods without a
value are missing, as the HPA treats them), and run one sync of the faithful HPA engine on the HPA we render.
The engine runs on a virtual clock (lab seconds x factor), so the spec's behavior (windows, policy periods)
is time-scaled together with everything else. Its decision sets the pool's replicas; the pool model says
when a pod's container starts (start a real replica) and when a pod must go (drain, then stop it).

New requests only go to Ready, non-draining replicas: `on_targets` is called whenever that set changes.

Faults are what a cluster would make of them. A replica whose server exits, or that fails its readiness probe
`PROBE_FAILURES` times in a row (every `PROBE_PERIOD_S`, time-scaled), fails its pod: not Ready (it leaves the
load's targets), an event in the timeline, and the pool restarts its container after the kubelet's back-off. A
Prometheus that stops answering is an event naming it; reads back off (doubling, at most one sync period) until
it answers again, and the HPA sees the metric missing meanwhile, as it would through the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from tritonobs.core import measures
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack
from tritonobs.core.render.hpa import hpa as render_hpa
from tritonobs.core.render.yamlfmt import to_yaml
from tritonobs.core.timeline import Timeline
from tritonobs.hpa import Decision, ExternalReading, HpaController, PodsReading, Reading, parse_hpa
from tritonobs.hpa.replicas import Pod as HpaPod
from tritonobs.lab.lab import Lab
from tritonobs.lab.pool import DrainReplica, PoolModel, PoolTiming, StartReplica
from tritonobs.lab.warm_pool import WarmPoolModel
from tritonobs.prom.client import PrometheusClient, QueryError

SYNC_PERIOD_S = 15.0  # --horizontal-pod-autoscaler-sync-period
TERMINATION_GRACE_S = 30.0  # a pod's default terminationGracePeriodSeconds: the drain bound
PROBE_PERIOD_S = 10.0  # a probe's default periodSeconds
PROBE_FAILURES = 3  # a probe's default failureThreshold
METRICS_RETRY_S = 0.5  # first retry after Prometheus failed; doubles up to one sync period


@dataclass(frozen=True)
class Snapshot:
    signal: float | None  # what the last sync computed (the HPA's currentMetrics)
    signal_prometheus: float | None  # the average of the values that sync read from Prometheus
    desired: int
    replicas: int
    ready: int
    nodes: int


class LabAutoscaler:
    def __init__(
        self,
        lab: Lab,
        stack: Stack,
        timeline: Timeline,
        *,
        time_factor: float,
        t0: float,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 0.1,
    ) -> None:
        self.lab = lab
        self.stack = stack
        self.tl = timeline
        self.factor = time_factor
        self.t0 = t0
        self.clock = clock
        self.tick_s = tick_s
        self.controller = HpaController(parse_hpa(to_yaml(render_hpa(stack)), file="rendered hpa"))
        pool = stack.spec.gpu_pool
        pods, nodes = f"{stack.spec.triton.deployment}-lab", "g5-lab"
        # gpu_pool.warm_nodes: the pool model with placeholder pods Triton pods preempt (lab/warm_pool.py).
        self.pool: PoolModel = (
            WarmPoolModel.from_spec(pool, time_factor, pod_prefix=pods, node_prefix=nodes) if pool.warm_nodes > 0
            else PoolModel(PoolTiming.from_spec(pool, time_factor), pool.gpus_per_node, pool.gpus_per_pod,
                           pod_prefix=pods, node_prefix=nodes)
        )
        self.prom = PrometheusClient(lab.prometheus_url, timeout=5.0)
        self.decision: Decision | None = None
        self.on_targets: Callable[[list[str]], None] | None = None
        self.inflight: Callable[[str], int] = lambda url: 0
        self.error: BaseException | None = None
        self._urls: dict[str, str] = {}  # pod -> gRPC URL of its replica
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._draining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._targets: list[str] = []
        self._flushed = 0
        self._desired: int | None = None
        self._conditions: dict[str, tuple[bool, str]] = {}
        self._read_average: float | None = None
        self._removing: dict[str, asyncio.Task[None]] = {}  # failed replicas being cleaned up
        self._probe_failures: dict[str, int] = {}
        self._probing: asyncio.Task[None] | None = None
        self._next_probe = 0.0
        self.metrics_down_since: float | None = None
        self._metrics_retry_s = 0.0
        self._next_read = 0.0
        self._floor_from = 0.0  # lab time from which the forecast has a full fit window of history

    @property
    def sync_period(self) -> float:
        return SYNC_PERIOD_S / self.factor

    def now(self) -> float:
        return self.clock() - self.t0

    # --- lifecycle ---
    async def warm(self, replicas: int, timeout: float = 60.0) -> None:
        """Place `replicas` pods on Ready nodes and wait until their replicas are Ready."""
        self._perform(self.pool.warm(self.now(), replicas))
        if isinstance(self.pool, WarmPoolModel):
            self.pool.warm_placeholders(self.now(), self.stack.scale_ahead.warm_pods)
        self._floor_from = self.now() + self.stack.scale_ahead.forecast_window_seconds
        self._desired = replicas  # what the Deployment starts with; decisions are changes from it
        deadline = self.clock() + timeout
        while self.pool.ready_replicas < replicas:
            if self.clock() > deadline:
                raise ExternalError(str(self.lab.workdir), f"lab replicas not ready after {timeout:.0f}s")
            await self.tick()
            await asyncio.sleep(self.tick_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync the HPA every period and advance the pool every tick, until `stop` is set."""
        next_sync = self.now()
        while not stop.is_set():
            if self.now() >= next_sync:
                await self.sync()
                next_sync += self.sync_period
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)

    async def close(self) -> None:
        """Wait for replica starts/drains in flight (the Lab stops whatever is left on exit)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._flush_events()

    # --- one HPA sync ---
    async def sync(self) -> Decision:
        pods = self.pool.pod_names()
        readings: list[Reading | None] = []
        by_name = {use.signal.adapter_metric: use for use in self.stack.signals}
        floors = {f.external_metric: f for f in self.stack.scale_ahead.floors}
        # One reading per metric of the rendered HPA, in its order: Pods metrics through the adapter rule
        # for these pods, External ones (the predictive floor) through the adapter's external rule.
        for i, metric in enumerate(self.controller.spec.metrics):
            if metric.kind == "External" and metric.name in floors:
                # The lab starts with no history where a cluster has hours of it: until one fit window has
                # passed, read the total (what the floor rule gives without a forecast), so a slope through
                # the first two samples does not order the whole pool.
                warmed = self.now() >= self._floor_from
                expr = measures.external_query(self.stack, floors[metric.name], forecast=warmed)
                ext = await self._read_metrics(expr, None)
                readings.append(None if not ext else ExternalReading.of(*ext.values()))
                continue
            use = by_name.get(metric.name)
            values = None if use is None else await self._read_metrics(measures.adapter_query(self.stack, use, pods), pods)
            readings.append(None if values is None else PodsReading.of(values))
            if i == 0:
                self._read_average = sum(values.values()) / len(values) if values else None
        now = self.now()
        decision = self.controller.sync(now * self.factor, self.pool.replicas, readings, pods=self._hpa_pods())
        self.decision = decision
        if decision.replicas != self._desired:
            self.tl.event(now, "scale_decision", self.stack.hpa_name, decision.reason, decision.replicas)
            self._desired = decision.replicas
        if decision.scaled:
            self.tl.event(now, "hpa_scale", self.stack.hpa_name, f"{decision.current} -> {decision.replicas}",
                          decision.replicas)
            self._perform(self.pool.set_replicas(now, decision.replicas))
        for c in decision.conditions:
            if self._conditions.get(c.type) != (c.status, c.reason):
                self._conditions[c.type] = (c.status, c.reason)
                self.tl.event(now, "hpa_condition", c.type, f"{c.status} {c.reason}: {c.message}")
        return decision

    async def _read_metrics(self, expr: str, pods: list[str] | None) -> dict[str, float] | None:
        """`_read`, with Prometheus' outages recorded and retried with back-off (None meanwhile: no metric)."""
        now = self.now()
        if self.metrics_down_since is not None and now < self._next_read:
            return None
        try:
            values = await asyncio.to_thread(self._read, expr, pods)
        except ExternalError as e:
            if self.metrics_down_since is None:
                self.metrics_down_since = now
                self.tl.event(now, "metrics_unreachable", self.prom.url, str(e).removeprefix(self.prom.url + ": "))
            self._metrics_retry_s = min(max(2 * self._metrics_retry_s, METRICS_RETRY_S), self.sync_period)
            self._next_read = now + self._metrics_retry_s
            return None
        if self.metrics_down_since is not None:
            self.tl.event(now, "metrics_recovered", self.prom.url, f"after {now - self.metrics_down_since:.1f}s")
            self.metrics_down_since, self._metrics_retry_s = None, 0.0
        return values

    def _read(self, expr: str, pods: list[str] | None) -> dict[str, float] | None:
        """{pod: value} as prometheus-adapter would serve it (pods None: every series, keyed by its labels, as
        an external metric); None when the query fails (no metric). Raises ExternalError when Prometheus does
        not answer at all."""
        try:
            samples = self.prom.query(expr)
        except QueryError:
            return None
        if pods is None:
            return {str(sorted(s.labels.items())): s.value for s in samples if math.isfinite(s.value)}
        wanted = set(pods)
        # NaN/Inf cannot become a quantity: the adapter drops those pods, the HPA sees them as missing.
        return {
            s.labels["pod"]: s.value
            for s in samples
            if s.labels.get("pod") in wanted and math.isfinite(s.value)
        }

    def _hpa_pods(self) -> list[HpaPod]:
        out = []
        for name in self.pool.pod_names():
            p = self.pool.pods[name]
            # Until its container starts (node launch, image pull) a pod is Pending to the HPA.
            out.append(HpaPod(name, "Running" if p.started_at is not None else "Pending", p.ready_at is not None))
        return out

    # --- the pool and the replicas ---
    async def tick(self) -> None:
        self._perform(self.pool.advance(self.now()))
        if self.now() >= self._next_probe and (self._probing is None or self._probing.done()):
            self._next_probe = self.now() + max(PROBE_PERIOD_S / self.factor, 0.2)
            self._probing = asyncio.create_task(self._probe())
        self._flush_events()
        self._update_targets()
        if self.error is not None:
            raise self.error

    async def _probe(self) -> None:
        """The kubelet's view of every started replica: exited, or failing its readiness probe."""
        pods = [p for p in self._urls if p not in self._draining]
        problems = await asyncio.to_thread(lambda: {p: self.lab.replica_problem(p) for p in pods})
        now = self.now()
        for pod, why in problems.items():
            if why is None:
                self._probe_failures.pop(pod, None)
                continue
            failures = self._probe_failures.get(pod, 0) + 1
            self._probe_failures[pod] = failures
            exited = why.startswith("tritonserver ")
            if exited or failures >= PROBE_FAILURES:
                self._fail(pod, now, why if exited else f"{why} {failures} times")

    def _fail(self, pod: str, now: float, why: str) -> None:
        """Take a failed replica out of service; the pool restarts its container later (StartReplica)."""
        self._probe_failures.pop(pod, None)
        if self._urls.pop(pod, None) is None:
            return
        self.pool.replica_failed(pod, now, why)
        self._update_targets()
        task = asyncio.create_task(self._remove(pod))
        self._removing[pod] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _perform(self, actions: list[StartReplica | DrainReplica]) -> None:
        for action in actions:
            if isinstance(action, StartReplica):
                task = asyncio.create_task(self._start(action.pod))
                self._starting[action.pod] = task
            else:
                task = asyncio.create_task(self._drain(action.pod))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _remove(self, pod: str) -> None:
        try:
            await asyncio.to_thread(self.lab.remove_replica, pod, drain=False)
        except Exception as e:  # noqa: BLE001 (handed to the loop, which re-raises it)
            self.error = e

    async def _start(self, pod: str) -> None:
        removing = self._removing.pop(pod, None)
        if removing is not None:  # a restarted container: the failed replica must be gone first
            await asyncio.gather(removing, return_exceptions=True)
        try:
            replica = await asyncio.to_thread(self.lab.add_replica, pod)
        except ExternalError as e:
            # The container died while starting (the lab already retried once): a crash-looping pod, as on a
            # cluster. It stays not Ready and restarts after the back-off; the run goes on and reports it.
            self.pool.replica_failed(pod, self.now(), f"failed to start: {e}")
            return
        except Exception as e:  # noqa: BLE001 (handed to the loop, which re-raises it)
            self.error = e
            return
        self._urls[pod] = replica.grpc_url
        self.pool.replica_ready(pod, self.now())

    async def _drain(self, pod: str) -> None:
        """Stop routing to the pod, wait (bounded) for its requests, then stop the replica."""
        self._draining.add(pod)
        self._update_targets()
        starting = self._starting.get(pod)
        if starting is not None:
            await asyncio.gather(starting, return_exceptions=True)
        deadline = self.now() + TERMINATION_GRACE_S / self.factor
        url = self._urls.get(pod)
        while url is not None and self.inflight(url) > 0 and self.now() < deadline:
            await asyncio.sleep(self.tick_s)
        if url is not None:
            left = max(0.0, deadline - self.now())
            try:
                await asyncio.to_thread(self.lab.remove_replica, pod, drain=True, drain_timeout=left)
            except Exception as e:  # noqa: BLE001
                self.error = e
                return
        self._urls.pop(pod, None)
        self.pool.replica_stopped(pod, self.now())

    def ready_urls(self) -> list[str]:
        return [self._urls[p] for p in self.pool.ready_pod_names() if p in self._urls and p not in self._draining]

    def _update_targets(self) -> None:
        urls = self.ready_urls()
        if urls and urls != self._targets:
            self._targets = urls
            if self.on_targets is not None:
                self.on_targets(urls)

    def _flush_events(self) -> None:
        new = self.pool.events[self._flushed :]
        self._flushed = len(self.pool.events)
        self.tl.events.extend(new)

    def snapshot(self) -> Snapshot:
        d = self.decision
        signal = d.metrics[0].current_milli / 1000 if d is not None and d.metrics else None
        return Snapshot(
            signal,
            self._read_average,
            d.replicas if d is not None else self.pool.replicas,
            self.pool.replicas,
            self.pool.ready_replicas,
            self.pool.ready_nodes,
        )
