"""`tritonobs render` writes deterministic outputs; `render --check` is the drift gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, EXAMPLE, REPO
from tritonobs.cli import main


def _stack_dir(tmp_path: Path) -> Path:
    d = tmp_path / "stack"
    d.mkdir()
    shutil.copy(EXAMPLE, d / "tritonobs.yaml")
    shutil.copytree(DASHBOARDS, d / "dashboards", ignore=shutil.ignore_patterns("*.json", "kubernetes"))
    return d


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_then_check_is_clean_and_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _stack_dir(tmp_path)
    spec = str(d / "tritonobs.yaml")
    assert _run(["render", "--spec", spec]) == 0
    first = _files(d)
    assert _run(["render", "--spec", spec]) == 0
    assert _files(d) == first, "a second render must change nothing"
    assert "0 changed" in capsys.readouterr().out
    assert _run(["render", "--spec", spec, "--check"]) == 0


def test_changed_threshold_without_rerender_fails_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _stack_dir(tmp_path)
    spec = d / "tritonobs.yaml"
    assert _run(["render", "--spec", str(spec)]) == 0
    before = _files(d)
    spec.write_text(spec.read_text().replace("    waiting_requests: 2\n", "    waiting_requests: 3\n"))
    capsys.readouterr()
    assert _run(["render", "--spec", str(spec), "--check"]) == 1
    captured = capsys.readouterr()
    assert "-        averageValue: '2'" in captured.out and "+        averageValue: '3'" in captured.out
    assert "differ from the spec" in captured.err
    after = {k: v for k, v in _files(d).items() if k != "tritonobs.yaml"}
    assert after == {k: v for k, v in before.items() if k != "tritonobs.yaml"}, "--check must write nothing"


def test_stale_generated_file_is_reported_and_removed(tmp_path: Path) -> None:
    d = _stack_dir(tmp_path)
    spec = d / "tritonobs.yaml"
    assert _run(["render", "--spec", str(spec)]) == 0
    spec.write_text(spec.read_text().replace("engine: adapter", "engine: keda"))
    assert _run(["render", "--spec", str(spec), "--check"]) == 1
    assert _run(["render", "--spec", str(spec)]) == 0
    assert not (d / "adapter_rules" / "hpa.yaml").exists()
    assert (d / "adapter_rules" / "keda-scaledobject.yaml").exists()
    assert _run(["render", "--spec", str(spec), "--check"]) == 0


def test_repository_outputs_are_current() -> None:
    """The committed artifacts match the committed spec (what CI's `render --check` enforces)."""
    assert _run(["render", "--spec", str(REPO / "tritonobs.yaml"), "--check"]) == 0


def test_render_renders_every_artifact_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 "render once": resolve -> render the bundle once -> check it -> write."""
    from tests.render_calls import count_renders

    d = _stack_dir(tmp_path)
    calls = count_renders(monkeypatch)
    assert _run(["render", "--spec", str(d / "tritonobs.yaml")]) == 0
    assert dict(calls) == {
        "render": 1,
        "dashboards.build_json": 3,  # autoscaling, llm, triton-overview
        "alerts.alerts": 1,
        "alerts.rule_groups": 1,
        "adapter_rules.rules": 1,
        "forecast.external_rules": 1,
        "hpa.hpa": 1,
    }
