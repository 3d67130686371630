"""`tritonobs load --processes N`: one `tritonobs load --shard I/N` child process per share (one Python client
tops out near one core), each writing its run as JSON; the parent merges them into one result.

Ctrl-C stops every child this command started (by pid) before it returns.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from tritonobs.core.errors import ExternalError
from tritonobs.load.results import RunResult
from tritonobs.load.shards import merge_runs, read_run_json


@dataclass(frozen=True)
class ShardArgs:
    urls: list[str]
    model: str
    profile: str
    rate: str | None
    concurrency: str | None
    duration: str
    max_requests: int | None
    connections: int
    seed: int
    prompts: Path | None
    max_tokens: int | None
    drain: str

    def argv(self, index: int, total: int, out: Path) -> list[str]:
        args = [sys.executable, "-m", "tritonobs", "load", "--model", self.model, "--profile", self.profile,
                "--duration", self.duration, "--connections", str(self.connections), "--seed", str(self.seed),
                "--drain", self.drain, "--shard", f"{index}/{total}", "--out", str(out)]
        for u in self.urls:
            args += ["--url", u]
        args += ["--rate", self.rate] if self.rate is not None else ["--concurrency", str(self.concurrency)]
        if self.max_requests is not None:
            args += ["--max-requests", str(self.max_requests)]
        if self.prompts is not None:
            args += ["--prompts", str(self.prompts)]
        if self.max_tokens is not None:
            args += ["--max-tokens", str(self.max_tokens)]
        return args


def run_processes(spec: ShardArgs, total: int, console: Console) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="tritonobs-load-") as tmp:
        outs = [Path(tmp) / f"share-{i}.json" for i in range(total)]
        logs = [Path(tmp) / f"share-{i}.log" for i in range(total)]
        children: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(total):
                with logs[i].open("wb") as log:
                    children.append(subprocess.Popen(spec.argv(i, total, outs[i]), stdout=log, stderr=subprocess.STDOUT))
            with console.status(f"{total} load processes running"):
                codes = [c.wait() for c in children]
        finally:
            for c in children:
                if c.poll() is None:
                    c.terminate()
                    try:
                        c.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        c.kill()
                        c.wait()
        missing = [i for i in range(total) if not outs[i].exists()]
        if missing:
            tail = logs[missing[0]].read_text(errors="replace").strip().splitlines()[-3:]
            raise ExternalError(", ".join(spec.urls), f"load process {missing[0]} of {total} failed (exit "
                                f"{codes[missing[0]]}): {' / '.join(tail)}")
        return merge_runs([read_run_json(p) for p in outs])
