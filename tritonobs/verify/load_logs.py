"""The client records of the in-cluster load Job, read back from its pods' logs and merged into one run.

Each load pod (`verify --load-only`, one share of an Indexed Job) frames its records on stdout
(load/framing.py); this reads every pod's log with the official client's `read_namespaced_pod_log`, merges
the shares with the same `merge_runs` as `load --processes`, and puts the result on the timeline the way a
run with its own load does (request counts on the samples, (sent at, TTFT) per request). A share whose log
is missing or unreadable is named in the report and the failed-request budget cannot pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import urllib3
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from tritonobs.core.kinds import JOB, POD
from tritonobs.core.timeline import Timeline
from tritonobs.kube.client import TIMEOUT, Kube
from tritonobs.load.framing import parse_log
from tritonobs.load.results import RunResult
from tritonobs.load.shards import merge_runs

CONTAINER = "load"  # the container of the load Job (core/render/load_job.py)
INDEX = "batch.kubernetes.io/job-completion-index"
WAIT_S = 120.0  # at most this long for the load pods to finish before their logs are read


@dataclass
class JobLoad:
    job: str
    run: RunResult | None = None  # the merged shares that could be read
    pods: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (pod or share, what is wrong)
    note: str = ""


def _index(pod: dict[str, object]) -> int:
    meta = pod.get("metadata") or {}
    annotations = (meta.get("annotations") if isinstance(meta, dict) else None) or {}
    try:
        return int(annotations.get(INDEX, "0"))  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0


def _phase(pod: dict[str, object]) -> str:
    status = pod.get("status") or {}
    return str(status.get("phase", "")) if isinstance(status, dict) else ""


def read_job_load(kube: Kube, namespace: str, job: str, *, required: bool = True, wait_s: float = WAIT_S,
                  poll_s: float = 5.0, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> JobLoad:
    """Read and merge the logs of the Job's pods, waiting (at most `wait_s`) for running ones to finish.
    A Job that is not there is a problem when it was named (`required`), else the load came from elsewhere."""
    out = JobLoad(job)
    obj = kube.get(JOB, job, namespace)
    if obj is None:
        if required:
            out.problems.append((job, f"no Job {namespace}/{job}: no client records"))
        else:
            out.note = f"no Job {namespace}/{job}: the load is taken from Prometheus only"
        return out
    completions = int((obj.get("spec") or {}).get("completions") or 1)
    deadline = clock() + wait_s
    while True:
        pods = kube.list(POD, namespace, label_selector=f"job-name={job}")
        if not any(_phase(p) in ("Pending", "Running", "") for p in pods) or clock() >= deadline:
            break
        sleep(poll_s)
    by_index: dict[int, dict[str, object]] = {}
    for p in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        i = _index(p)
        if i not in by_index or _phase(p) == "Succeeded":  # a retried share: the run that finished
            by_index[i] = p
    core = CoreV1Api(kube.api)
    runs: list[RunResult] = []
    for i in range(completions):
        pod = by_index.get(i)
        if pod is None:
            out.problems.append((f"share {i}", "no pod found for this share of the load"))
            continue
        name = str(pod["metadata"]["name"])  # type: ignore[index]
        out.pods.append(name)
        if _phase(pod) in ("Pending", "Running"):
            out.problems.append((name, f"still {_phase(pod)} after waiting {wait_s:g}s"))
        try:
            text = core.read_namespaced_pod_log(name, namespace, container=CONTAINER, _request_timeout=TIMEOUT)
        except ApiException as e:
            out.problems.append((name, f"log not readable: HTTP {e.status} {e.reason}"))
            continue
        except (urllib3.exceptions.HTTPError, OSError) as e:
            out.problems.append((name, f"log not readable: {kube.endpoint} unreachable ({str(e)[:120]})"))
            continue
        parsed = parse_log(text if isinstance(text, str) else "")
        out.problems += [(name, p) for p in parsed.problems]
        if parsed.run is not None:
            runs.append(parsed.run)
    if runs:
        out.run = merge_runs(runs)
    return out


def attach(tl: Timeline, load: JobLoad) -> None:
    """The merged client records on the timeline, as a run that drives its own load records them."""
    for who, what in load.problems:
        tl.event(tl.end, "note", who, f"load Job {load.job}: {what}")
        tl.load_problems.append(f"{who}: {what}")
    if load.note:
        tl.event(tl.end, "note", load.job, load.note)
    run = load.run
    if run is None:
        return
    shift = run.started_unix - tl.info.started_at
    records = run.records
    tl.requests = [(shift + r.start_s, r.ttft_s if r.ok else None) for r in records]
    ends = sorted((shift + r.end_s, r.ok) for r in records)
    samples = sorted(tl.samples, key=lambda s: s.t)
    counted = []
    for k, s in enumerate(samples):
        done = ends if k == len(samples) - 1 else [e for e in ends if e[0] <= s.t]  # the last one: every request
        ok = sum(1 for _, good in done if good)
        counted.append(replace(s, requests_ok=ok, requests_failed=len(done) - ok))
    tl.samples = counted
    summary = run.summary()
    rate = summary.tokens / summary.duration_s if summary.duration_s > 0 else 0.0
    tl.event(tl.end, "note", load.job, f"client records of {len(load.pods)} load pod(s) merged: {summary.ok} ok, "
             f"{summary.failed} failed, {summary.tokens} tokens, {rate:.1f} tokens/s")
