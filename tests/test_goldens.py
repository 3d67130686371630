"""Golden files for every artifact kind over several spec variants.

Regenerate with `make goldens` (TRITONOBS_UPDATE_GOLDENS=1). A diff here means the rendered output changed:
review it like a code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, REPO, VARIANTS, variant_stack
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import render_all

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TRITONOBS_UPDATE_GOLDENS") == "1"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_golden(variant: str) -> None:
    artifacts = render_all(variant_stack(variant), load_dashboards(DASHBOARDS))
    folder = GOLDEN / variant
    rendered = {a.path: a.content for a in artifacts}
    if UPDATE:
        for old in folder.rglob("*") if folder.exists() else []:
            if old.is_file() and str(old.relative_to(folder)) not in rendered:
                old.unlink()
        for path, content in rendered.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(content)
        return
    committed = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(committed) == sorted(rendered), "artifact set changed; run `make goldens` and review"
    for path, content in rendered.items():
        assert content == committed[path], f"{variant}/{path} differs from its golden; run `make goldens` and review"


def test_example_golden_matches_committed_outputs() -> None:
    """The repository's own rendered outputs are the example variant's goldens (one source of truth)."""
    folder = GOLDEN / "example"
    for golden in folder.rglob("*"):
        if golden.is_file():
            rel = golden.relative_to(folder)
            assert (REPO / rel).read_text() == golden.read_text(), f"{rel}: run `tritonobs render` and `make goldens`"
