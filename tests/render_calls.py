"""Count how often a command renders (issue 12: render once): the bundle's `render` and the renderers whose
output an edge module used to make again (adapter rules, external rules, dashboards, rule groups, the
autoscaler). Each wrapper calls the real function; only the count is added."""

from __future__ import annotations

import functools
import importlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

# (module, function): what the bundle renders, once each.
RENDERERS = [
    ("tritonobs.core.render.adapter_rules", "rules"),
    ("tritonobs.core.render.forecast", "external_rules"),
    ("tritonobs.core.render.dashboards", "build_json"),
    ("tritonobs.core.render.alerts", "rule_groups"),
    ("tritonobs.core.render.alerts", "alerts"),
    ("tritonobs.core.render.hpa", "hpa"),
]


def _counted(calls: Counter[str], key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[key] += 1
        return fn(*args, **kwargs)

    return wrapper


def count_renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Patch the bundle's `render` where commands find it and every renderer in RENDERERS (module attributes:
    the renderers call each other through their modules, so every call path is counted)."""
    calls: Counter[str] = Counter()
    bundle = importlib.import_module("tritonobs.core.render")
    render_cmd = importlib.import_module("tritonobs.cli.render_cmd")
    counted = _counted(calls, "render", bundle.render)
    monkeypatch.setattr(bundle, "render", counted)
    monkeypatch.setattr(render_cmd, "render", counted)  # `prepare` holds its own reference
    for module_name, name in RENDERERS:
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, name, _counted(calls, f"{module_name.rsplit('.', 1)[1]}.{name}", getattr(module, name)))
    return calls
