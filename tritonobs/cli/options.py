"""Options shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import input_dir
from tritonobs.core.model import Stack, resolve
from tritonobs.core.spec_loader import load_spec
from tritonobs.lab.engine import LAB_MAX_NUM_SEQS, LabEngine

SpecOption = typer.Option(Path("tritonobs.yaml"), "--spec", "-f", help="the stack spec", show_default=True)


def load_stack(spec_path: Path) -> Stack:
    return resolve(load_spec(spec_path))


# --- the lab's engine (lab up/run, verify --lab) ---
EngineOpt = typer.Option("simulated", "--engine", help="simulated (fast, no weights) or vllm (the real engine, CPU build)")
HfModelOpt = typer.Option(None, "--model", help="vllm: a local Hugging Face model folder every spec model serves "
                          "(`tritonobs lab tiny-model DIR` builds one)")
VllmPythonOpt = typer.Option(None, "--vllm-python", help="vllm: the vLLM venv's python (default: $TRITONOBS_VLLM_PYTHON, "
                             "else .venv-vllm/bin/python)")
MaxSeqsOpt = typer.Option(None, "--max-num-seqs", min=1, max=4096, help=f"vllm: batch limit per engine (default {LAB_MAX_NUM_SEQS}: "
                          "a short load makes requests wait)")


def lab_engine(engine: str, model: Path | None, vllm_python: Path | None, max_num_seqs: int | None) -> LabEngine:
    """The engine options of `lab up/run`, `verify --lab` and the benches, checked before anything starts."""
    if engine == "simulated":
        if model is not None or max_num_seqs is not None or vllm_python is not None:
            raise UsageError("--model, --max-num-seqs and --vllm-python need --engine vllm")
        return LabEngine()
    if engine != "vllm":
        raise UsageError(f"--engine must be simulated or vllm (got {engine!r})")
    if model is None:
        raise UsageError("--engine vllm needs --model DIR (a Hugging Face model folder; "
                         "`tritonobs lab tiny-model DIR` builds a tiny one)")
    input_dir(model, "model folder", " (check --model)")
    if vllm_python is not None and not (vllm_python.is_file() and os.access(vllm_python, os.X_OK)):
        raise UsageError(f"--vllm-python {vllm_python}: not an executable file (the vLLM venv's bin/python; "
                         "`tritonobs lab install-vllm` makes one)")
    return LabEngine.vllm(model, python=vllm_python, max_num_seqs=max_num_seqs or LAB_MAX_NUM_SEQS)




# --- a running lab as the target of client, load and check-queries ---
LabOpt = typer.Option(False, "--lab", help="use the lab running here (`tritonobs lab up`): its replicas / Prometheus")
LabDirOpt = typer.Option(Path(".tritonobs-lab"), "--lab-dir", help="the run directory of that lab")


# --- a Prometheus that wants SigV4 (Amazon Managed Prometheus) without an amp spec: a test's signing proxy ---
SigV4RegionOpt = typer.Option(None, "--sigv4-region", help="sign queries with SigV4 (service aps) for this region, "
                              "credentials from the standard AWS chain (a spec with monitoring.backend: amp does "
                              "this by itself)")
