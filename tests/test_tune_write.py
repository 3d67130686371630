"""`tune --write`: the spec edited in place keeps its comments and layout (golden before/after)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tritonobs.tune.spec_write import set_target

GOLDEN = Path(__file__).parent / "golden" / "tune-write"
NOTE = "measured by tritonobs tune: knee 9.4 in flight per replica"


def test_write_keeps_comments_and_layout() -> None:
    before = (GOLDEN / "before.yaml").read_text()
    after = set_target(before, "waiting_requests", 5.6, NOTE)
    if os.environ.get("TRITONOBS_UPDATE_GOLDENS") == "1":
        (GOLDEN / "after.yaml").write_text(after)
    assert after == (GOLDEN / "after.yaml").read_text()
    # Exactly one line differs, and it is the target (the expectation written out by hand).
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("    waiting_requests: 2", f"    waiting_requests: 5.6  # {NOTE}")]
    assert "# Requests waiting inside vLLM per pod" in after
    assert yaml.safe_load(after)["autoscaling"]["targets"] == {"waiting_requests": 5.6}


def test_write_twice_replaces_value_and_note() -> None:
    once = set_target((GOLDEN / "before.yaml").read_text(), "waiting_requests", 5.6, NOTE)
    twice = set_target(once, "waiting_requests", 3, "second run")
    assert [line for line in twice.splitlines() if "waiting_requests:" in line] == ["    waiting_requests: 3  # second run"]


def test_write_adds_a_missing_targets_map() -> None:
    text = "autoscaling:\n  min_replicas: 1  # keep\nother: {a: 1}\n"
    assert set_target(text, "inflight_requests", 7.5, "x") == (
        "autoscaling:\n  min_replicas: 1  # keep\n  targets:\n    inflight_requests: 7.5  # x\nother: {a: 1}\n"
    )
