"""One parser per thing: quantities by the Kubernetes client's parser, durations by one grammar."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from kubernetes.utils.quantity import parse_quantity as k8s_quantity

from tritonobs.core.config import duration_seconds
from tritonobs.core.errors import SpecError
from tritonobs.core.inputs import parse_duration
from tritonobs.core.spec_loader import parse_spec
from tritonobs.hpa.manifest import parse_quantity

REPO_SPEC = Path(__file__).resolve().parents[1] / "tritonobs.yaml"


@pytest.mark.parametrize("text", ["2", "1500m", "0.5", "1Ki", "5e-3", "1.5k", "250u"])
def test_quantities_read_as_the_api_server_reads_them(text: str) -> None:
    assert parse_quantity(text) == Decimal(k8s_quantity(text))


@pytest.mark.parametrize("text", ["1e99", "1e9999999", "12x", ""])
def test_quantities_beyond_bounds_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400)])
def test_spec_and_command_line_read_durations_alike(text: str, seconds: float) -> None:
    assert duration_seconds(text) == parse_duration(text) == seconds


def test_the_spec_takes_prometheus_form_only() -> None:
    """The command line also takes '1.5m' and bare seconds; the spec's durations go into rules, so not there."""
    assert parse_duration("1.5m") == 90 and parse_duration("12.5") == 12.5
    text = REPO_SPEC.read_text().replace("  scrape_interval: 30s\n", "  scrape_interval: 1.5m\n", 1)
    with pytest.raises(SpecError, match="monitoring.scrape_interval: not a duration"):
        parse_spec(text)
