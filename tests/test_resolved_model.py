"""Renderers and dashboard sources read the resolved model only: the spec's schema is config.py's and
`resolve`'s business, so renaming a field of tritonobs.yaml touches those two and nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RENDERERS = sorted((REPO / "tritonobs" / "core" / "render").glob("*.py")) + sorted(
    (REPO / "dashboards").glob("*.dashboard.py")
)
SECTIONS = "metadata|cluster|triton|models|autoscaling|gpu_pool|monitoring|alerts|model_repository|budgets"
# `stack.spec`, `<anything>.spec.<section>`, or an import of the schema's classes.
SPEC_ACCESS = re.compile(rf"\bstack\.spec\b|\.spec\.({SECTIONS})\b|\bspec\.({SECTIONS})\b")
SCHEMA_IMPORT = re.compile(r"from tritonobs\.core\.config import (?!duration_seconds\b)|import tritonobs\.core\.config")


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines outside docstrings and comments (a docstring may talk about the spec)."""
    out, in_doc = [], False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_doc or stripped.startswith('"""'):
            in_doc = in_doc != (quotes % 2 == 1)
            continue
        out.append((n, line.split("#", 1)[0]))
    return out


@pytest.mark.parametrize("path", RENDERERS, ids=lambda p: p.name)
def test_renderer_reads_no_spec_field(path: Path) -> None:
    offending = [f"{path.name}:{n}: {line.strip()}" for n, line in _code_lines(path)
                 if SPEC_ACCESS.search(line) or SCHEMA_IMPORT.search(line)]
    assert offending == []


def test_the_check_sees_a_spec_access() -> None:
    """The pattern is not vacuous: the accesses renderers used to make are caught."""
    assert SPEC_ACCESS.search("    a = stack.spec.autoscaling")
    assert SPEC_ACCESS.search("    thr = s.spec.alerts.failure_ratio")
    assert SCHEMA_IMPORT.search("from tritonobs.core.config import ModelSpec")
    assert not SPEC_ACCESS.search("    return ([] if spec.url else [headless_service(stack)])")


RENAME = r'''
import importlib.util, sys
from pathlib import Path

repo, tmp = Path(sys.argv[1]), Path(sys.argv[2])
old, new = "gpu_power_limit_watts", "board_power_watts"

def shadow(name, text):
    path = tmp / (name.rsplit(".", 1)[1] + ".py")
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

core = repo / "tritonobs" / "core"
# The schema: the field is renamed. The resolver: the one line that reads it follows.
config_src = (core / "config.py").read_text()
assert config_src.count(f"    {old}: float") == 1
config = shadow("tritonobs.core.config", config_src.replace(f"    {old}: float", f"    {new}: float"))
model_src = (core / "model.py").read_text()
assert model_src.count(f"=al.{old}") == 1
shadow("tritonobs.core.model", model_src.replace(f"=al.{old}", f"=al.{new}"))
assert new in config.AlertThresholds.model_fields and old not in config.AlertThresholds.model_fields

from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import render_all
from tritonobs.core.spec_loader import load_spec
import tritonobs.core.model as model

stack = model.resolve(load_spec(repo / "tritonobs.yaml"))
assert not hasattr(stack.spec.alerts, old)
for a in render_all(stack, load_dashboards(repo / "dashboards")):
    if (repo / a.path).read_text() != a.content:
        raise SystemExit(f"{a.path} differs")
print("renderers unaffected")
'''


def test_renaming_a_spec_field_touches_schema_and_resolver_only(tmp_path: Path) -> None:
    """alerts.gpu_power_limit_watts (read by an alert, its promtool test and a dashboard) renamed in a copy
    of config.py and model.py: every renderer and dashboard source, unchanged, renders the committed files."""
    script = tmp_path / "rename.py"
    script.write_text(RENAME)
    proc = subprocess.run([sys.executable, str(script), str(REPO), str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "renderers unaffected"
