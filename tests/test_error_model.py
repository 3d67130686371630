"""One error model: every exception tritonobs defines is a TritonobsError carrying its exit code, and the
same failure has the same code wherever it is raised."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import tritonobs
from tritonobs.aws.s3sync import BucketMissing
from tritonobs.core.errors import (
    CheckFailed,
    ExternalError,
    SpecError,
    SpecProblems,
    TritonobsError,
    UsageError,
)
from tritonobs.hpa.replicas import MetricError
from tritonobs.kube import errors as kube_errors
from tritonobs.kube.status import Unreachable
from tritonobs.prom.client import QueryError

# Not errors a user sees: a parser-internal signal caught in the same module, and SIGTERM turned into the
# KeyboardInterrupt the CLI reports as an interruption (exit 130). The model code under models/serving runs
# inside Triton's Python backend (another process, which reports its errors per request): not walked.
INTERNAL = {"tritonobs.core.yaml_bounded._LimitError", "tritonobs.lab.lab.LabInterrupted"}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(tritonobs.__path__, "tritonobs."):
        if info.name.startswith("tritonobs.models.serving."):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_exception_is_a_tritonobs_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 20  # the walk found the package's modules
    outside = sorted(n for n, c in classes.items() if not issubclass(c, TritonobsError) and n not in INTERNAL)
    assert outside == []
    assert set(classes) >= INTERNAL  # the allowlist names classes that exist


def test_exit_codes() -> None:
    assert UsageError("x").exit_code == 2
    assert SpecProblems([SpecError("a", file="f", line=2), SpecError("b", file="f", line=1)]).exit_code == 2
    assert ExternalError("e", "x").exit_code == 3
    assert QueryError("bad_data", "x", "http://p:9090").exit_code == 3
    assert Unreachable("http://t:8000", "x").exit_code == 3
    assert BucketMissing("b").exit_code == 2
    assert MetricError("x").exit_code == 1
    assert CheckFailed("x").exit_code == 1


def test_a_409_is_exit_1_everywhere() -> None:
    """A conflict is the cluster's answer that someone else holds the object: the same code from the client
    (any 409), from apply (field-manager conflict) and from a merge (stale resourceVersion)."""
    codes = {
        kube_errors.Conflict("https://k", 409, "Conflict", "x").exit_code,
        kube_errors.ApplyConflict("x").exit_code,
        kube_errors.Modified("x").exit_code,
    }
    assert codes == {1}


def test_spec_problems_sorted_by_line_with_the_first_as_location() -> None:
    e = SpecProblems([SpecError("b", file="f", line=9, path="y"), SpecError("a", file="f", line=3, path="x")])
    assert e.lines() == ["f:3: x: a", "f:9: y: b"]
    assert (e.file, e.line, e.path) == ("f", 3, "x")


def test_query_error_detail_has_no_endpoint() -> None:
    e = QueryError("bad_data", "parse error", "http://p:9090")
    assert str(e) == "http://p:9090: bad_data: parse error"
    assert e.detail == "bad_data: parse error"
