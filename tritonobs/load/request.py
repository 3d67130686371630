"""What one LLM request to the seed's Triton models looks like: prompt template, sampling, input tensors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import read_text

# The seed client's Llama-2 chat wrapper, byte for byte.
SYSTEM_PROMPT = "<<SYS>>\nKeep short answers of no more than 100 sentences.\n<</SYS>>\n\n"
PROMPT_TEMPLATE = "<s>[INST]" + SYSTEM_PROMPT + "{prompt}[/INST]"

# The seed's sampling parameters; temperature and top_p are strings there, and stay strings here.
SAMPLING_PARAMETERS: dict[str, Any] = {"temperature": "0.01", "top_p": "1.0", "top_k": 20, "max_tokens": 512}

TEXT_OUTPUT = "TEXT"
# vllm_backend's optional per-response token count (the delta since the previous response).
TOKEN_COUNT_OUTPUT = "num_output_tokens"


def wrap_prompt(prompt: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=prompt)


def sampling_parameters(max_tokens: int | None = None, **extra: Any) -> dict[str, Any]:
    params = dict(SAMPLING_PARAMETERS)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    params.update(extra)
    return params


def load_prompts(path: Path, option: str = "--input-prompts") -> list[str]:
    """One prompt per line; blank lines are skipped, the line break is not part of the prompt."""
    try:
        text = read_text(path, what="prompts file", allow_empty=True, hint=f"; pass {option} FILE")
    except UsageError as e:
        raise UsageError(f"cannot read the prompts file: {e.detail}", file=e.file, line=e.line) from None
    lines = text.splitlines()
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise UsageError("the prompts file has no prompts: write one prompt per line", file=str(path), line=1)
    return prompts


def build_inputs(
    wrapped_prompt: str, sampling: Mapping[str, Any], stream: bool = True
) -> list[grpcclient.InferInput]:
    """PROMPT (BYTES [1]), STREAM (BOOL [1]), SAMPLING_PARAMETERS (BYTES [1], JSON) as in the seed's config.pbtxt.

    The tensors hold serialised bytes and are only read when a request is built, so the same list can be
    reused for many requests of the same prompt (the load generator does, to keep client CPU low).
    """
    prompt = grpcclient.InferInput("PROMPT", [1], "BYTES")
    prompt.set_data_from_numpy(np.array([wrapped_prompt.encode("utf-8")], dtype=np.object_))
    stream_flag = grpcclient.InferInput("STREAM", [1], "BOOL")
    stream_flag.set_data_from_numpy(np.array([stream], dtype=bool))
    params = grpcclient.InferInput("SAMPLING_PARAMETERS", [1], "BYTES")
    params.set_data_from_numpy(np.array([json.dumps(dict(sampling)).encode("utf-8")], dtype=np.object_))
    return [prompt, stream_flag, params]


@dataclass(frozen=True)
class TextStyle:
    """How a model's TEXT responses carry the answer, read from its config's parameters (tritonobs' model.py:
    `stream_text`, `prompt_echo`; the blueprint's style is cumulative with the prompt echoed; the official
    vllm_backend's, and any model that says nothing, is deltas without the prompt when streaming)."""

    cumulative: bool = False
    echo: str = "never"  # always | non_streaming | never

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TextStyle:
        params = {k: str(v.get("string_value", "")) for k, v in (config.get("parameters") or {}).items()}
        return cls(params.get("stream_text", "delta") == "cumulative", params.get("prompt_echo", "never"))

    def answer(self, prompt: str, parts: Sequence[str], stream: bool = True) -> str:
        """The generated text alone, from the TEXT of each response in order."""
        text = (parts[-1] if parts else "") if self.cumulative or not stream else "".join(parts)
        echoed = self.echo == "always" or (self.echo == "non_streaming" and not stream)
        return text.removeprefix(prompt) if echoed else text
