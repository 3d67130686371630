"""Generate the lab's model repository from the real one: same model code and config, CPU instances.

For each model, config.pbtxt gets CPU instances (no GPU on a lab machine) and either
- `engine: simulated` and the simulation's `sim_*` parameters (the default: fast, no weights), or
- `engine: vllm` serving a local Hugging Face model folder (`vllm_model`) with the real vLLM: model_name is
  that folder, max_model_len is capped at what the model supports, max_num_seqs may be overridden.
The model code written beside config.pbtxt is the package's (tritonobs/models/serving/): the code under test
is the production code, from its one source.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonobs.core.errors import UsageError
from tritonobs.models.config_check import model_dirs, parse_config
from tritonobs.models.model_code import LAB_FILES, serving_source
from tritonobs.models.serving import sim_engine

# Lab defaults on top of SimParams' A10G defaults: 10x faster than real time, so a 512-token answer
# streams in ~1.3 s instead of ~13 s and a scaling run fits in minutes.
LAB_SIM_DEFAULTS: dict[str, str] = {"time_scale": "0.1"}


def sim_parameters(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `sim_*` parameters a lab config gets: SimParams defaults, lab defaults, then `overrides`
    (keys with or without the `sim_` prefix). Raises UsageError for an unknown key or a bad value."""
    prefix = sim_engine.PARAMETER_PREFIX
    values = sim_engine.SimParams().as_parameters()
    for key, value in {**LAB_SIM_DEFAULTS, **(overrides or {})}.items():
        values[key if key.startswith(prefix) else prefix + key] = str(value)
    try:
        sim_engine.SimParams.from_parameters(values)
    except ValueError as e:
        raise UsageError(f"lab simulation: {e}") from None
    return dict(sorted(values.items()))


def lab_config(config: mc.ModelConfig, parameters: Mapping[str, str]) -> mc.ModelConfig:
    """A copy of `config` on CPU instances with `parameters` set (engine, sim_* or the local model)."""
    lab = mc.ModelConfig()
    lab.CopyFrom(config)
    for key, value in parameters.items():
        lab.parameters[key].string_value = value
    for group in lab.instance_group:
        group.kind = mc.ModelInstanceGroup.KIND_CPU
        del group.gpus[:]
    return lab


def model_max_len(model_dir: Path) -> int:
    """The longest sequence a Hugging Face model folder supports (config.json), for max_model_len."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        return int(config["max_position_embeddings"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"not a Hugging Face model folder (config.json with max_position_embeddings): {e}",
                         file=str(model_dir)) from None


def vllm_parameters(config: mc.ModelConfig, model_dir: Path, max_num_seqs: int | None) -> dict[str, str]:
    """The real engine on a local model: its folder, a max_model_len it supports, one CPU engine."""
    limit = model_max_len(model_dir)
    current = config.parameters["max_model_len"].string_value if "max_model_len" in config.parameters else ""
    length = min(limit, int(current)) if current.isdigit() else limit
    out = {"engine": "vllm", "model_name": str(model_dir.resolve()), "max_model_len": str(length),
           "tensor_parallel_size": "1"}
    if max_num_seqs is not None:
        out["max_num_seqs"] = str(max_num_seqs)
    return out


def build_lab_repository(
    src: Path,
    dst: Path,
    *,
    sim: dict[str, str] | None = None,
    models: Sequence[str] | None = None,
    vllm_model: Path | None = None,
    max_num_seqs: int | None = None,
) -> Path:
    """Write a lab model repository for `models` (default: all of `src`) into `dst` and return `dst`.

    Model folders already in `dst` are replaced; other content of `dst` is left alone. Without `vllm_model`
    every model runs the simulation, `sim` overriding its parameters (e.g. {"time_scale": "0.05",
    "max_num_seqs": "8"}); with it, every model runs the real vLLM on that local model folder."""
    available = {d.name: d for d in model_dirs(src)}
    wanted = list(models) if models is not None else sorted(available)
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise UsageError(
            f"no such model(s) {unknown} (the repository has {sorted(available)})", file=str(src)
        )
    simulated = {"engine": "simulated", **sim_parameters(sim)} if vllm_model is None else None
    dst.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        source_dir = available[name]
        original = parse_config(source_dir / "config.pbtxt")
        assert vllm_model is not None or simulated is not None
        parameters = simulated or vllm_parameters(original, vllm_model, max_num_seqs)  # type: ignore[arg-type]
        config = lab_config(original, parameters)
        target = dst / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        engine = parameters["engine"]
        header = f"# generated by tritonobs from {name}/config.pbtxt for the lab (engine: {engine}, CPU); do not edit\n"
        (target / "config.pbtxt").write_text(header + text_format.MessageToString(config), encoding="utf-8")
        versions = sorted(p for p in target.iterdir() if p.is_dir() and p.name.isdigit()) or [target / "1"]
        for version in versions:
            version.mkdir(exist_ok=True)
            for file in LAB_FILES:
                (version / file).unlink(missing_ok=True)  # a copied link must not be written through
                (version / file).write_text(serving_source(file), encoding="utf-8")
    return dst
