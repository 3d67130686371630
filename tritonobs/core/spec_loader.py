"""Load tritonobs.yaml into a validated `Spec`, with every error located as `file:line: path: message`.

YAML is composed into nodes first so each pydantic error location (a tuple of keys and indexes) can be
mapped back to the line of the offending key or value. Duplicate keys, which PyYAML silently collapses,
are rejected here as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tritonobs.core import scaleahead, yaml_bounded
from tritonobs.core.catalogue import VLLM_BACKEND_TTFT_BUCKETS, VLLM_TTFT
from tritonobs.core.config import (
    GAUGE_SIGNALS,
    INT32_MAX,
    MAX_DURATION_SECONDS,
    MAX_TARGET,
    MODEL_NAME_PATTERN,
    SIGNAL_NAMES,
    Spec,
    duration_seconds,
)
from tritonobs.core.errors import SpecError, SpecProblems, UsageError
from tritonobs.core.inputs import EKS_CLUSTER_NAME, YAML_LIMIT, http_url_problem, read_text
from tritonobs.core.signals import SIGNALS
from tritonobs.core.vllm_backend import custom_metrics_value, image_release

Loc = tuple[str | int, ...]


def _find_node(root: yaml.Node, loc: Sequence[str | int]) -> tuple[yaml.Node, bool]:
    """Walk `loc` down the node tree. Returns the deepest node reached and whether the walk was complete.

    For a mapping key the *key* node is returned at the last step (its line is where the user looks)."""
    node = root
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    node = key_node if last else value_node
                    break
            else:
                return node, False
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node, False
    return node, True


def line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    if root is None:
        return None
    node, _ = _find_node(root, loc)
    return node.start_mark.line + 1


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _duplicate_keys(node: yaml.Node, loc: Loc = ()) -> list[tuple[Loc, int]]:
    """Every key that appears twice in its mapping, with the line of the repeat."""
    found: list[tuple[Loc, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                found.append(((*loc, key), key_node.start_mark.line + 1))
            seen.add(key)
            found += _duplicate_keys(value_node, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            found += _duplicate_keys(child, (*loc, i))
    return found


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the spec reference in README.md)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error" and err["loc"] and err["loc"][-1] == "apiVersion":
        return f"must be 'tritonobs/v1' (got {err.get('input')!r})"
    got = err.get("input")
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if "ms|s|m|h|d" in pattern:
            return f"not a duration (got {got!r}): write a number and a unit, e.g. 30s, 5m, 1h"
        if pattern.startswith("^[a-z0-9]"):
            return f"not a Kubernetes name (got {got!r}): use lowercase letters, digits, '-' and '.'"
        if pattern == MODEL_NAME_PATTERN:
            return (f"not a model name (got {got!r}): start with a letter or digit, then letters, digits, '_', '-' "
                    "or '.' (it names a folder of the model repository)")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "finite_number":
        return f"{msg} (got {got!r}): write a plain number (.inf and .nan are not allowed)"
    if kind == "string_too_long":
        return f"{msg} (got {len(str(got))}): shorten it (Kubernetes limits names and label values)"
    if kind == "too_long" and tuple(err["loc"]) == ("models",):
        return f"{msg}: one pod hosts every model of the spec"
    limit = (err.get("ctx") or {}).get("le")
    if kind == "less_than_equal" and limit == INT32_MAX:
        return f"{msg}: Kubernetes stores this value as a 32-bit integer"
    if kind == "less_than_equal" and limit == MAX_DURATION_SECONDS:
        return f"{msg} (a year): write a realistic number of seconds"
    if kind == "less_than_equal" and limit == MAX_TARGET:
        return f"{msg}: far beyond any per-pod value (the HPA compares milli-quantities as 64-bit integers)"
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing", "int_from_float"):
        return f"{msg} (got {got!r}): write a plain number, without quotes"
    if kind == "bool_type":
        return f"{msg} (got {got!r}): write true or false, without quotes"
    if kind.endswith("_type") or kind in ("literal_error", "enum", "string_pattern_mismatch"):
        return f"{msg} (got {got!r})"
    return msg


def _milli_exact(value: float) -> bool:
    milli = Decimal(str(value)) * 1000
    return milli == milli.to_integral_value()


_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def semantic_problems(spec: Spec) -> list[tuple[Loc, str]]:
    """Cross-field rules that pydantic cannot locate by itself; each problem carries its exact path."""
    problems: list[tuple[Loc, str]] = []
    a = spec.autoscaling
    if a.min_replicas > a.max_replicas:
        problems.append(
            (("autoscaling", "min_replicas"), f"must be <= max_replicas ({a.min_replicas} > {a.max_replicas})")
        )
    pool = spec.gpu_pool
    if pool.gpus_per_pod > pool.gpus_per_node:
        problems.append(
            (
                ("gpu_pool", "gpus_per_pod"),
                f"{pool.gpus_per_pod} GPUs per pod do not fit a {pool.instance_type} node with "
                f"{pool.gpus_per_node}: no pod could ever schedule",
            )
        )
    for i, m in enumerate(spec.models):
        if m.gpu >= pool.gpus_per_pod:
            problems.append(
                (("models", i, "gpu"), f"GPU index {m.gpu} does not exist in a pod with {pool.gpus_per_pod} GPUs")
            )
    seen: set[str] = set()
    for i, m in enumerate(spec.models):
        if m.name in seen:
            problems.append((("models", i, "name"), f"model {m.name!r} is listed twice; model names must be unique"))
        seen.add(m.name)
    # TTFT is only known bucket-wise: an objective above the largest bucket can never be measured.
    ttft_top = VLLM_TTFT.buckets[-1]
    for i, m in enumerate(spec.models):
        if m.slo.ttft_p95_seconds > ttft_top:
            problems.append(
                (
                    ("models", i, "slo", "ttft_p95_seconds"),
                    f"must be <= {ttft_top:g} (the largest TTFT histogram bucket); slower requests are not told apart",
                )
            )
    problems += _vllm_backend_problems(spec)
    if a.targets.get("ttft_p90", 0) >= ttft_top:
        problems.append(
            (
                ("autoscaling", "targets", "ttft_p90"),
                f"must be < {ttft_top:g} (the largest TTFT histogram bucket): the p90 never reads above it",
            )
        )
    for name, target in sorted(a.targets.items()):
        # The HPA compares quantities at milli precision (KEDA converts its threshold the same way).
        if not _milli_exact(target):
            problems.append(
                (("autoscaling", "targets", name), f"{target!r} is finer than 0.001: Kubernetes would round it")
            )
    in_use = {m.scaling_signal for m in spec.models}
    for name in a.targets:
        if name not in in_use:
            problems.append(
                (("autoscaling", "targets", name), f"no model uses signal {name!r} (in use: {sorted(in_use)})")
            )
    mon = spec.monitoring
    if duration_seconds(mon.adapter_relist_interval) < duration_seconds(mon.scrape_interval):
        problems.append(
            (
                ("monitoring", "adapter_relist_interval"),
                f"must be >= scrape_interval ({mon.scrape_interval}), or adapter metrics flap",
            )
        )
    prometheus = "http://prometheus.monitoring.svc:9090"
    urls = [
        (("monitoring", "prometheus_url"), mon.prometheus_url, prometheus),
        (("autoscaling", "keda", "server_address"), a.keda.server_address, prometheus),
    ]
    if mon.grafana.url is not None:
        urls.append((("monitoring", "grafana", "url"), mon.grafana.url, "http://grafana.monitoring.svc"))
    for loc, url, example in urls:
        if http_url_problem(url):
            problems.append((loc, f"not an http(s) URL (got {url!r}): write e.g. {example}"))
    bucket = spec.model_repository.s3_bucket
    if bucket is not None and not _S3_BUCKET.match(bucket):
        problems.append((("model_repository", "s3_bucket"), f"not an S3 bucket name (got {bucket!r}): 3-63 lowercase "
                         "letters, digits, '.' and '-', starting and ending with a letter or digit"))
    if spec.cluster.context is None and not EKS_CLUSTER_NAME.match(spec.cluster.name):
        problems.append((("cluster", "name"), f"not an EKS cluster name (got {spec.cluster.name!r}): letters, "
                         "digits, '-' and '_', starting with a letter or digit, at most 100 (or set cluster.context)"))
    if a.engine == "keda" and a.keda.fallback.replicas > a.max_replicas:
        problems.append((("autoscaling", "keda", "fallback", "replicas"), "must be <= max_replicas"))
    problems += scaleahead.problems(spec, {name: s.default_target for name, s in SIGNALS.items()})
    return problems


def _vllm_backend_problems(spec: Spec) -> list[tuple[Loc, str]]:
    """Models served by Triton's official vllm_backend: it has no engine gauges, reports custom metrics only
    from 24.08, and still declares vLLM's pre-0.8.4 TTFT buckets (to 10 s)."""
    problems: list[tuple[Loc, str]] = []
    release = image_release(spec.triton.image)
    for i, m in enumerate(spec.models):
        if m.backend != "vllm":
            continue
        if m.scaling_signal in GAUGE_SIGNALS:
            problems.append(((("models", i, "scaling_signal")), f"{m.scaling_signal} reads vLLM's running/waiting "
                             "gauges, which Triton's vllm_backend does not export: use ttft_p90, or backend tritonobs"))
        top = VLLM_BACKEND_TTFT_BUCKETS[-1]
        if m.slo.ttft_p95_seconds > top:
            problems.append(((("models", i, "slo", "ttft_p95_seconds")), f"must be <= {top:g}: Triton's vllm_backend "
                             "declares TTFT buckets up to 10 s only"))
        if release is not None and custom_metrics_value(release) is None:
            problems.append(((("models", i, "backend")), f"Triton's vllm_backend in {spec.triton.image} exports no "
                             "vLLM metrics (custom metrics came in 24.08): use backend tritonobs or a newer image"))
    return problems


def _raise_all(problems: list[SpecError]) -> None:
    """One problem: that SpecError; several: SpecProblems, every one of them sorted by line (exit 2)."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecProblems(problems)


def _no_duplicate_keys(file: str) -> Callable[[yaml.Node], None]:
    def check(root: yaml.Node) -> None:
        _raise_all([SpecError("key appears twice (the second would silently win)", file=file, line=line,
                              path=_dotted(loc)) for loc, line in _duplicate_keys(root)])

    return check


def parse_spec(text: str, file: str = "tritonobs.yaml") -> Spec:
    """Parse and validate spec text. Raises SpecError (exit 2) located at the problem, or SpecProblems with
    every problem when there are several. Schema problems hide the cross-field ones (they need a valid spec)."""
    try:
        root, data = yaml_bounded.load(text, file, check=_no_duplicate_keys(file))
    except SpecError:
        raise
    except UsageError as e:  # YAML syntax, or a limit of the bounded loader
        raise SpecError(e.detail, file=file, line=e.line) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise SpecError("expected a mapping with apiVersion: tritonobs/v1 at the top", file=file, line=1)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc: Loc = tuple(err["loc"])
            problems.append(SpecError(_message(dict(err)), file=file, line=line_of(root, loc), path=_dotted(loc)))
        _raise_all(problems)
        raise  # unreachable: a ValidationError has at least one error
    _raise_all([SpecError(msg, file=file, line=line_of(root, loc), path=_dotted(loc))
                for loc, msg in semantic_problems(spec)])
    return spec


def read_spec_text(path: str | Path) -> str:
    """The spec file's text: bounded (YAML_LIMIT), UTF-8, located errors (exit 2)."""
    try:
        return read_text(path, what="spec", limit=YAML_LIMIT,
                         hint=" (pass --spec PATH or run from the stack's folder)")
    except UsageError as e:
        raise SpecError(e.detail, file=e.file or str(path), line=e.line) from None


def load_spec(path: str | Path) -> Spec:
    return parse_spec(read_spec_text(path), file=str(Path(path)))


__all__ = ["SIGNAL_NAMES", "load_spec", "parse_spec", "semantic_problems", "line_of"]
