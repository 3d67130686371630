"""`tritonobs validate` warns (a `warning:` line at the spec's file:line, exit 0) about valid values that will
not do what they suggest: a relative runbook base URL, KEDA settings that only act between 0 and 1 replica."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import DASHBOARDS, EXAMPLE, example_data
from tritonobs.cli import main


def validate(tmp_path: Path, data: dict, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:  # type: ignore[type-arg]
    spec = tmp_path / "tritonobs.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["validate", "-f", str(spec), "--dashboards", str(DASHBOARDS)])
    return int(exc.value.code or 0), capsys.readouterr().out, spec


def line_of(spec: Path, text: str) -> int:
    return next(i for i, t in enumerate(spec.read_text().splitlines(), 1) if t.strip().startswith(text))


def test_the_example_spec_validates_without_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "-f", str(EXAMPLE)])
    out = capsys.readouterr().out
    assert exc.value.code in (0, None) and "warning:" not in out


def test_a_relative_runbook_base_url_is_a_warning_not_an_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = example_data()
    data["alerts"]["runbook_base_url"] = "docs/runbooks.md"
    code, out, spec = validate(tmp_path, data, capsys)
    assert code == 0
    assert (
        f"warning: {spec}:{line_of(spec, 'runbook_base_url:')}: alerts.runbook_base_url: 'docs/runbooks.md' is not "
        "an absolute http(s) URL: every alert's runbook_url would be a dead link" in out
    )
    assert f"{spec}: ok" in out


@pytest.mark.parametrize("url", ["https://wiki.example.com/triton/runbooks", "http://docs.internal:8080/runbooks.md"])
def test_an_absolute_runbook_base_url_is_fine(tmp_path: Path, capsys, url: str) -> None:  # type: ignore[no-untyped-def]
    data = example_data()
    data["alerts"]["runbook_base_url"] = url
    code, out, _ = validate(tmp_path, data, capsys)
    assert code == 0 and "warning:" not in out


def test_keda_settings_without_effect_are_explained(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = example_data()
    data["autoscaling"]["engine"] = "keda"
    data["autoscaling"]["keda"] = {"cooldown_period_seconds": 600, "activation_threshold": 1}
    code, out, spec = validate(tmp_path, data, capsys)
    assert code == 0
    assert (
        f"warning: {spec}:{line_of(spec, 'cooldown_period_seconds:')}: autoscaling.keda.cooldown_period_seconds: has "
        "no effect and is not rendered: KEDA applies cooldownPeriod only when scaling from 1 to 0 replicas" in out
    )
    assert (
        f"warning: {spec}:{line_of(spec, 'activation_threshold:')}: autoscaling.keda.activation_threshold: has no "
        "effect and is not rendered" in out
    )
