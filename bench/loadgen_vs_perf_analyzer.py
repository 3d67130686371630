"""Benchmark: requests/s per client CPU core, tritonobs' load generator against perf_analyzer 2.51.

Run: .venv/bin/python bench/loadgen_vs_perf_analyzer.py [--concurrency 8] [--rate 200] [--seconds 6]
     [--plot out/loadgen_vs_perf_analyzer.png] [--json out/loadgen_vs_perf_analyzer.json]

Both tools drive the same real tritonserver (nvidia-pytriton 2.51) and the same cheap decoupled Python
model (one response, flagged final, straight from execute()), so the client is what costs: once in closed
loop (fixed concurrency, as fast as it goes) and once in open loop (Poisson arrivals at a fixed rate).
Client CPU is the load-generating process's own user+system time: perf_analyzer's from wait4() over its
whole life, ours from getrusage() around the run inside a child process (imports excluded). rps per core =
completed requests/s ÷ (client CPU seconds / wall seconds). Server cores are tritonserver + stub CPU over
the same interval, to show when the server rather than the client is the limit (2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.metadata
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
MODEL = "echo"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

ECHO_CONFIG = """\
backend: "python"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input [
  { name: "PROMPT" data_type: TYPE_STRING dims: [ 1 ] },
  { name: "STREAM" data_type: TYPE_BOOL dims: [ 1 ] },
  { name: "SAMPLING_PARAMETERS" data_type: TYPE_STRING dims: [ 1 ] optional: true }
]
output [ { name: "TEXT" data_type: TYPE_STRING dims: [ -1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""

# One response with the final flag, sent from execute() itself: one thread, so no pb_utils lock needed.
ECHO_MODEL = """\
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        for request in requests:
            text = pb_utils.Tensor("TEXT", np.array([b"ok"], dtype=np.object_))
            request.get_response_sender().send(pb_utils.InferenceResponse(output_tensors=[text]), flags=final)
        return None
"""


@dataclass(frozen=True)
class Measurement:
    tool: str
    scenario: str
    rps: float  # completed requests per second
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float
    p50_latency_ms: float
    failed: int

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def rps_per_core(self) -> float:
        return self.rps / self.client_cores if self.client_cores > 0 else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def write_echo_repository(root: Path) -> Path:
    (root / MODEL / "1").mkdir(parents=True)
    (root / MODEL / "config.pbtxt").write_text(ECHO_CONFIG)
    (root / MODEL / "1" / "model.py").write_text(ECHO_MODEL)
    return root


def find_perf_analyzer() -> Path:
    """The binary the tritonclient 2.51 wheel installs (its data/bin lands in the environment's bin)."""
    beside = Path(sys.executable).parent / "perf_analyzer"
    if beside.is_file():
        return beside
    for f in importlib.metadata.files("tritonclient") or []:
        if f.name == "perf_analyzer":
            return Path(str(f.locate())).resolve()
    found = shutil.which("perf_analyzer")
    if found:
        return Path(found)
    raise SystemExit("perf_analyzer not found: pip install 'tritonclient[grpc,http]==2.51.0'")


def perf_analyzer_libs(into: Path) -> Path:
    """Symlinks with the sonames perf_analyzer asks for, to the hashed copies in nvidia_pytriton.libs."""
    import pytriton

    libs = Path(pytriton.__file__).resolve().parent.parent / "nvidia_pytriton.libs"
    into.mkdir(parents=True, exist_ok=True)
    for soname, pattern in (("libb64.so.0d", "libb64-*.so.0d"), ("libcudart.so.12", "libcudart-*.so.12*")):
        matches = sorted(libs.glob(pattern))
        if not matches:
            raise SystemExit(f"{libs}: no {pattern} (is nvidia-pytriton 0.7.0 installed?)")
        (into / soname).symlink_to(matches[0])
    return into


def process_cpu_s(pids: list[int]) -> float:
    """utime + stime of these processes (seconds), read from /proc."""
    from tritonobs.lab.procs import stat_fields

    total = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
    return total / CLOCK_TICKS


def run_perf_analyzer(
    binary: Path,
    libs: Path,
    url: str,
    scenario: list[str],
    window_ms: int,
    workdir: Path,
    server_pids: list[int],
    max_tokens: int = 1,
    model: str = MODEL,
) -> tuple[float, float, float, float, float]:
    """(throughput, p50 latency ms, wall s, client cpu s, server cpu s) of one perf_analyzer run."""
    data = workdir / "input.json"
    data.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "PROMPT": ["hello"],
                        "STREAM": [True],
                        "SAMPLING_PARAMETERS": [json.dumps({"max_tokens": max_tokens})],
                    }
                ]
            }
        )
    )
    report = workdir / "perf_analyzer.csv"
    cmd = [
        str(binary),
        "-m", model, "-u", url, "-i", "grpc", "--streaming",
        "--input-data", str(data), "--measurement-interval", str(window_ms),
        "-s", "100",  # accept the first windows: on 2 shared cores throughput never "stabilises" to 10%
        "-f", str(report), *scenario,
    ]  # fmt: skip
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": os.pathsep.join(p for p in (str(libs), os.environ.get("LD_LIBRARY_PATH")) if p),
    }
    server_before = process_cpu_s(server_pids)
    log = workdir / "perf_analyzer.log"
    start = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(300, proc.kill)  # a hung run must not hang the benchmark
        watchdog.start()
        try:
            # wait4: this child's own CPU account, nothing else this script reaped
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    client_cpu = usage.ru_utime + usage.ru_stime
    server_cpu = process_cpu_s(server_pids) - server_before
    if proc.returncode != 0 or not report.exists():
        raise SystemExit(
            f"perf_analyzer failed ({proc.returncode}):\n{log.read_text(errors='replace')[-2000:]}"
        )
    with report.open() as fh:
        row = next(csv.DictReader(fh))
    return float(row["Inferences/Second"]), float(row["p50 latency"]) / 1000, wall, client_cpu, server_cpu


def run_loadgen(url: str, mode: str, value: float, seconds: float, server_pids: list[int]) -> Measurement:
    """Our generator in a child process (so nothing else of this script shares its CPU account)."""
    args = json.dumps({"url": url, "mode": mode, "value": value, "seconds": seconds})
    server_before = process_cpu_s(server_pids)
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", args], capture_output=True, text=True, timeout=300, check=False
    )
    server_cpu = process_cpu_s(server_pids) - server_before
    if proc.returncode != 0:
        raise SystemExit(f"load generator worker failed:\n{proc.stderr[-2000:]}")
    r = json.loads(proc.stdout)
    scenario = f"concurrency {value:g}" if mode == "closed" else f"poisson {value:g}/s"
    # the worker also ran a warm-up; scale the server's CPU to the measured part
    server_share = server_cpu * r["wall_s"] / r["worker_wall_s"] if r["worker_wall_s"] else server_cpu
    return Measurement("tritonobs load", scenario, r["ok"] / r["wall_s"], r["wall_s"], r["cpu_s"], server_share,
                       r["p50_ms"], r["failed"])  # fmt: skip


def worker(spec: str) -> None:
    """Child process: warm up, then one measured run; print JSON."""
    from tritonobs.load.generator import LoadGenerator, LoadPlan
    from tritonobs.load.profiles import Constant
    from tritonobs.load.request import sampling_parameters

    args = json.loads(spec)
    worker_start = time.perf_counter()

    def plan(seconds: float) -> LoadPlan:
        return LoadPlan(args["mode"], Constant(args["value"]), duration_s=seconds, seed=0, drain_s=10.0)

    sampling = sampling_parameters(max_tokens=1)
    asyncio.run(
        LoadGenerator([args["url"]], MODEL, plan(1.0), sampling=sampling).run()
    )  # warm-up: connect, JIT paths
    gen = LoadGenerator([args["url"]], MODEL, plan(args["seconds"]), sampling=sampling)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = asyncio.run(gen.run())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    s = result.summary()
    print(json.dumps({
        "ok": s.ok, "failed": s.failed, "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "p50_ms": s.latency_s.p50 * 1000, "worker_wall_s": time.perf_counter() - worker_start,
    }))  # fmt: skip


def table(rows: list[Measurement]) -> Table:
    t = Table(title="requests/s per client CPU core (same Triton, same model)")
    for col in (
        "scenario",
        "tool",
        "ok req/s",
        "client cores",
        "req/s per core",
        "server cores",
        "p50 ms",
        "failed",
    ):
        t.add_column(col, justify="left" if col in ("scenario", "tool") else "right")
    for m in rows:
        t.add_row(m.scenario, m.tool, f"{m.rps:.0f}", f"{m.client_cores:.2f}", f"{m.rps_per_core:.0f}",
                  f"{m.server_cores:.2f}", f"{m.p50_latency_ms:.2f}", str(m.failed))  # fmt: skip
    return t


def plot(rows: list[Measurement], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(m.scenario for m in rows))
    tools = list(dict.fromkeys(m.tool for m in rows))
    fig, (ax_rps, ax_eff) = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.8 / len(tools)
    for k, tool in enumerate(tools):
        xs = [i + k * width for i in range(len(scenarios))]
        by = {m.scenario: m for m in rows if m.tool == tool}
        ax_rps.bar(xs, [by[s].rps for s in scenarios], width, label=tool)
        ax_eff.bar(xs, [by[s].rps_per_core for s in scenarios], width, label=tool)
    for ax, title in ((ax_rps, "completed requests/s"), (ax_eff, "requests/s per client CPU core")):
        ax.set_xticks([i + width * (len(tools) - 1) / 2 for i in range(len(scenarios))], scenarios)
        ax.set_title(title)
        ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=8, help="closed-loop scenario")
    ap.add_argument("--rate", type=float, default=200.0, help="open-loop scenario, requests/s")
    ap.add_argument(
        "--seconds",
        type=float,
        default=6.0,
        help="measured time per run (ours); perf_analyzer windows = seconds/3",
    )
    ap.add_argument("--plot", type=Path, default=REPO / "out" / "loadgen_vs_perf_analyzer.png")
    ap.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from tritonobs.lab.triton_process import TritonProcess

    console = Console(stderr=True)
    rows: list[Measurement] = []
    window_ms = max(500, int(args.seconds * 1000 / 3))
    scenarios = [
        ("closed", float(args.concurrency), ["--concurrency-range", str(args.concurrency)]),
        ("open", args.rate, ["--request-rate-range", f"{args.rate:g}", "--request-distribution", "poisson"]),
    ]
    with tempfile.TemporaryDirectory(prefix="tritonobs-bench-") as tmp:
        work = Path(tmp)
        binary = find_perf_analyzer()
        libs = perf_analyzer_libs(work / "libs")
        with console.status("starting tritonserver"):
            triton = TritonProcess(write_echo_repository(work / "repository"), [MODEL]).start()
        try:
            pids = triton.processes()
            for mode, value, pa_args in scenarios:
                name = f"concurrency {value:g}" if mode == "closed" else f"poisson {value:g}/s"
                with console.status(f"{name}: perf_analyzer"):
                    rps, p50, wall, cpu, server = run_perf_analyzer(
                        binary, libs, triton.grpc_target, pa_args, window_ms, work, pids
                    )
                    rows.append(Measurement("perf_analyzer 2.51", name, rps, wall, cpu, server, p50, 0))
                with console.status(f"{name}: tritonobs load"):
                    rows.append(run_loadgen(triton.grpc_target, mode, value, args.seconds, pids))
                console.log(f"{name}: done")
        finally:
            triton.stop()
    Console(width=140).print(table(rows))
    plot(rows, args.plot)
    console.print(f"wrote {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = [{**asdict(m), "client_cores": m.client_cores, "rps_per_core": m.rps_per_core} for m in rows]
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
