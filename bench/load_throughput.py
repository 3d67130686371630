"""Benchmark: streamed tokens/s per client CPU core, `tritonobs load` against perf_analyzer 2.51 --streaming,
at concurrency 8, 32 and 128 (issue 13, item 6; target: >= 0.5x perf_analyzer at 32, reported as measured).

Run: .venv/bin/python bench/load_throughput.py [--levels 8,32,128] [--seconds 6] [--tokens 32]
     [--json out/load_throughput.json]

Both tools drive the same real tritonserver 2.51 and the same decoupled Python model, which streams `--tokens`
one-token responses per request straight from execute() (the server's cost per token is as small as a
Python backend makes it). Every request streams exactly that many responses, so perf_analyzer's completed
requests/s x tokens = its streamed tokens/s; ours counts the responses that carried text. Client CPU is the
client process's own user+system time (perf_analyzer: wait4(); ours: getrusage() around the measured run in a
child process). tokens/s per core = streamed tokens/s / (client CPU s / wall s). Server cores beside it show
when the 2-core machine's server, not the client, is the limit.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen_vs_perf_analyzer import (  # noqa: E402  (the bench folder is not a package)
    ECHO_CONFIG,
    find_perf_analyzer,
    perf_analyzer_libs,
    process_cpu_s,
    run_perf_analyzer,
)

MODEL = "stream"
STREAM_MODEL = """\
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        for request in requests:
            params = pb_utils.get_input_tensor_by_name(request, "SAMPLING_PARAMETERS")
            n = json.loads(params.as_numpy()[0].decode()).get("max_tokens", 32) if params is not None else 32
            sender = request.get_response_sender()
            text = pb_utils.Tensor("TEXT", np.array([b"tok"], dtype=np.object_))
            for _ in range(int(n)):
                sender.send(pb_utils.InferenceResponse(output_tensors=[text]))
            sender.send(flags=final)
        return None
"""


@dataclass(frozen=True)
class Row:
    tool: str
    concurrency: int
    tokens_per_s: float
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def per_core(self) -> float:
        return self.tokens_per_s / self.client_cores if self.client_cores else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.wall_s if self.wall_s else 0.0


def write_repository(root: Path) -> Path:
    (root / MODEL / "1").mkdir(parents=True)
    (root / MODEL / "config.pbtxt").write_text(ECHO_CONFIG)
    (root / MODEL / "1" / "model.py").write_text(STREAM_MODEL)
    return root


def worker(spec: str) -> None:
    """Child process: a warm-up, then one measured closed-loop run; prints JSON."""
    from tritonobs.load.generator import LoadGenerator, LoadPlan
    from tritonobs.load.profiles import Constant
    from tritonobs.load.request import sampling_parameters

    a = json.loads(spec)
    sampling = sampling_parameters(max_tokens=a["tokens"])

    def gen(seconds: float) -> LoadGenerator:
        plan = LoadPlan("closed", Constant(a["concurrency"]), duration_s=seconds, drain_s=10.0)
        return LoadGenerator([a["url"]], MODEL, plan, sampling=sampling, connections_per_target=2)

    import asyncio

    asyncio.run(gen(1.0).run())
    g = gen(a["seconds"])
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = asyncio.run(g.run())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"tokens": sum(r.tokens for r in result.records), "wall_s": wall,
                      "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}))


def run_ours(url: str, concurrency: int, seconds: float, tokens: int, pids: list[int]) -> Row:
    spec = json.dumps({"url": url, "concurrency": concurrency, "seconds": seconds, "tokens": tokens})
    server_before = process_cpu_s(pids)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True,
                          timeout=600, check=False)
    total_wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"load worker failed:\n{proc.stderr[-2000:]}")
    r = json.loads(proc.stdout)
    server = (process_cpu_s(pids) - server_before) * r["wall_s"] / total_wall  # the measured part's share
    return Row("tritonobs load", concurrency, r["tokens"] / r["wall_s"], r["wall_s"], r["cpu_s"], server)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="8,32,128")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--tokens", type=int, default=32, help="tokens streamed per request")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    from tritonobs.lab.triton_process import TritonProcess

    console = Console(stderr=True)
    levels = [int(x) for x in args.levels.split(",")]
    rows: list[Row] = []
    window_ms = max(500, int(args.seconds * 1000 / 3))
    with tempfile.TemporaryDirectory(prefix="tritonobs-bench-") as tmp:
        work = Path(tmp)
        binary, libs = find_perf_analyzer(), perf_analyzer_libs(work / "libs")
        with console.status("starting tritonserver"):
            triton = TritonProcess(write_repository(work / "repository"), [MODEL]).start()
        try:
            pids = triton.processes()
            for c in levels:
                with console.status(f"concurrency {c}: perf_analyzer --streaming"):
                    rps, _, wall, cpu, server = run_perf_analyzer(
                        binary, libs, triton.grpc_target, ["--concurrency-range", str(c)], window_ms, work, pids,
                        max_tokens=args.tokens, model=MODEL)
                    rows.append(Row("perf_analyzer 2.51 --streaming", c, rps * args.tokens, wall, cpu, server))
                with console.status(f"concurrency {c}: tritonobs load"):
                    rows.append(run_ours(triton.grpc_target, c, args.seconds, args.tokens, pids))
                console.log(f"concurrency {c}: done")
        finally:
            triton.stop()
    t = Table(title=f"streamed tokens/s per client core ({args.tokens} tokens per request)")
    for col in ("concurrency", "tool", "tokens/s", "client cores", "tokens/s per core", "server cores", "ours / PA per core"):
        t.add_column(col, justify="left" if col == "tool" else "right")
    for c in levels:
        pa, ours = (next(r for r in rows if r.concurrency == c and r.tool.startswith(k)) for k in ("perf", "tritonobs"))
        for r in (pa, ours):
            ratio = f"{ours.per_core / pa.per_core:.2f}" if r is ours and pa.per_core else ""
            t.add_row(str(c), r.tool, f"{r.tokens_per_s:.0f}", f"{r.client_cores:.2f}", f"{r.per_core:.0f}",
                      f"{r.server_cores:.2f}", ratio)
    Console(width=140).print(t)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = [{**asdict(r), "client_cores": r.client_cores, "per_core": r.per_core} for r in rows]
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
