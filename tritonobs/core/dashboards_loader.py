"""Load dashboards-as-code sources (`*.dashboard.py`): the only place dashboard files are read.

Each source defines `build(stack) -> grafanalib.core.Dashboard`; its slug is the file name without
`.dashboard.py`. A broken source is bad input: a located error, exit 2.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tritonobs.core.artifacts import DashboardSource
from tritonobs.core.errors import UsageError
from tritonobs.core.model import Stack

SUFFIX = ".dashboard.py"


def load_dashboards(folder: Path) -> list[DashboardSource]:
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if not files:
        raise UsageError(f"no *{SUFFIX} sources found (pass --dashboards DIR)", file=str(folder))
    return [load_one(f) for f in files]


def load_one(path: Path) -> DashboardSource:
    slug = path.name.removesuffix(SUFFIX)
    spec = importlib.util.spec_from_file_location(f"tritonobs_dashboard_{slug.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Registered like an imported module: dataclasses and typing resolve names through sys.modules.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UsageError(f"syntax error: {e.msg}", file=str(path), line=e.lineno) from None
    except Exception as e:
        line = _line_in(path, e)
        raise UsageError(f"{type(e).__name__}: {e} (fix the dashboard source)", file=str(path), line=line) from None
    build = getattr(module, "build", None)
    if not callable(build):
        raise UsageError("defines no build(stack) function", file=str(path), line=1)
    return DashboardSource(slug=slug, build=_located(build, path))


def _line_in(path: Path, exc: BaseException) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename) == path:
            return frame.lineno
    return None


def _located(build: Callable[[Stack], Any], path: Path) -> Callable[[Stack], Any]:
    """Wrap build() so an exception inside a source is reported at the source's line."""

    def wrapped(stack: Stack) -> Any:
        try:
            return build(stack)
        except UsageError:
            raise
        except Exception as e:
            raise UsageError(
                f"{type(e).__name__}: {e} (fix the dashboard source)", file=str(path), line=_line_in(path, e)
            ) from None

    return wrapped
