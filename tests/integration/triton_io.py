"""Talking to a real tritonserver in integration tests: scrape its /metrics, stream requests like the seed client."""

from __future__ import annotations

import json
import queue
import re
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient

from tritonobs.load.request import TextStyle

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r"^(?P<name>[^\s{]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, patience: float = 0.0) -> Series:
    """The exposition at `url`. With `patience`, a scrape that fails (this machine kind stalls every process
    for up to ~40 s at times, docs/model-code.md) is asked again until that many seconds have passed."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with _DIRECT.open(url, timeout=5) as response:
                text = response.read().decode()
            break
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    out: Series = {}
    for line in text.splitlines():
        if m := _SAMPLE.match(line):
            out[(m["name"], frozenset(_LABEL.findall(m["labels"] or "")))] = float(m["value"])
    return out


def value(series: Series, name: str, model: str, **labels: str) -> float:
    return series[(name, frozenset({"model": model, "version": "1", **labels}.items()))]


def has(series: Series, name: str, model: str) -> bool:
    return any(n == name and ("model", model) in k for n, k in series)


def buckets(series: Series, name: str, model: str) -> dict[str, float]:
    return {dict(k)["le"]: v for (n, k), v in series.items() if n == name + "_bucket" and ("model", model) in k}


def inputs(prompt: str, stream: bool, sampling: dict[str, Any] | None) -> list[grpcclient.InferInput]:
    out = [grpcclient.InferInput("PROMPT", [1], "BYTES"), grpcclient.InferInput("STREAM", [1], "BOOL")]
    out[0].set_data_from_numpy(np.array([prompt.encode()], dtype=np.object_))
    out[1].set_data_from_numpy(np.array([stream]))
    if sampling is not None:
        out.append(grpcclient.InferInput("SAMPLING_PARAMETERS", [1], "BYTES"))
        out[2].set_data_from_numpy(np.array([json.dumps(sampling).encode()], dtype=np.object_))
    return out


def model_style(target: str, model: str) -> TextStyle:
    client = grpcclient.InferenceServerClient(target)
    try:
        return TextStyle.from_config(client.get_model_config(model, as_json=True)["config"])
    finally:
        client.close()


def stream_requests(
    target: str, requests: list[tuple[str, str, int, bool]], errors: list[str] | None = None,
    responses_seen: dict[str, list[str]] | None = None, extra_sampling: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Send (model, prompt, max_tokens, stream) on one stream; the answer each request id received (prompt
    echo removed, cumulative or delta responses joined as the model's config says). Error responses (which
    carry no request id) end up in `errors`, or fail the test without it. `responses_seen` gets every TEXT."""
    responses: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = grpcclient.InferenceServerClient(target)
    parts: dict[str, list[str]] = {str(i): [] for i in range(len(requests))}
    styles = {model: model_style(target, model) for model, *_ in requests}
    try:
        client.start_stream(callback=lambda result, error: responses.put((result, error)))
        for i, (model, prompt, max_tokens, stream) in enumerate(requests):
            # The seed client's sampling, numbers as strings included.
            sampling = {"temperature": "0.01", "top_p": "1.0", "top_k": 20, "max_tokens": max_tokens,
                        **(extra_sampling or {})}
            client.async_stream_infer(model, inputs(prompt, stream, sampling), request_id=str(i),
                                      enable_empty_final_response=True)
        finished = 0
        while finished < len(requests):
            result, error = responses.get(timeout=120)
            if error is not None:
                assert errors is not None, error
                errors.append(str(error))
                finished += 1
                continue
            response = result.get_response()
            text = result.as_numpy("TEXT")
            if text is not None:
                parts[response.id].append(text[0].decode())
            finished += response.parameters["triton_final_response"].bool_param
    finally:
        client.stop_stream()
        client.close()
    if responses_seen is not None:
        responses_seen.update(parts)
    return {
        i: styles[model].answer(prompt, parts[i], stream)
        for i, (model, prompt, _, stream) in ((str(k), r) for k, r in enumerate(requests))
    }
