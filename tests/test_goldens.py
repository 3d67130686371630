"""Golden files for every artifact kind over several spec variants, one file per distinct output.

The example stack's goldens are the repository's own rendered outputs (dashboards/, adapter_rules/,
alerts/): checked here, once. Every other variant keeps `tests/golden/<variant>/MANIFEST` (the paths it
renders) and only the files whose content is new: a path equal to the example's output is not stored, and
one equal to an earlier variant's stored file is listed as `path<TAB>@variant`. A one-line panel edit
touches the committed dashboard and the variants that really render it differently, nothing else.

Regenerate with `make goldens` (TRITONOBS_UPDATE_GOLDENS=1), then review the diff like a code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import DASHBOARDS, REPO, VARIANTS, variant_stack
from tritonobs.core.dashboards_loader import load_dashboards
from tritonobs.core.render import render_all

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = "MANIFEST"
UPDATE = os.environ.get("TRITONOBS_UPDATE_GOLDENS") == "1"


def _rendered(variant: str) -> dict[str, str]:
    return {a.path: a.content for a in render_all(variant_stack(variant), load_dashboards(DASHBOARDS))}


def _example_file(path: str) -> str | None:
    target = REPO / path
    return target.read_text() if target.is_file() else None


def test_golden_example_is_the_committed_output() -> None:
    """The repository's rendered outputs are the example's goldens (`tritonobs render` writes them)."""
    rendered = _rendered("example")
    for path, content in rendered.items():
        assert _example_file(path) == content, f"{path}: run `tritonobs render` and review the diff"


VARIANT_NAMES = sorted(v for v in VARIANTS if v != "example")


def _stored(variant: str, path: str) -> str | None:
    own = GOLDEN / variant / path
    return own.read_text() if own.is_file() else None


def _manifest(variant: str) -> dict[str, str | None]:
    """path -> the earlier variant whose stored file it equals (None: its own file, or the example's)."""
    out: dict[str, str | None] = {}
    for line in (GOLDEN / variant / MANIFEST).read_text().splitlines():
        path, _, ref = line.partition("\t")
        out[path] = ref.removeprefix("@") or None
    return out


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_golden(variant: str) -> None:
    rendered = _rendered(variant)
    folder = GOLDEN / variant
    earlier = VARIANT_NAMES[: VARIANT_NAMES.index(variant)]
    if UPDATE:  # variants run in sorted order, so an earlier variant's files are already written
        for old in folder.rglob("*") if folder.exists() else []:
            if old.is_file():
                old.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for path, content in sorted(rendered.items()):
            ref = next((v for v in earlier if _stored(v, path) == content), None)
            lines.append(f"{path}\t@{ref}" if ref else path)
            if ref is None and content != _example_file(path):
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_text(content)
        (folder / MANIFEST).write_text("".join(f"{line}\n" for line in lines))
        return
    manifest = _manifest(variant)
    assert sorted(manifest) == sorted(rendered), "artifact set changed; run `make goldens` and review"
    for path, content in rendered.items():
        ref = manifest[path]
        expected = _stored(ref, path) if ref else _stored(variant, path)
        expected = _example_file(path) if expected is None else expected
        assert content == expected, f"{variant}/{path} differs from its golden; run `make goldens` and review"
    # One golden per distinct output: nothing stored twice.
    for path in (str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        text = _stored(variant, path)
        assert text != _example_file(path), f"{variant}/{path} equals the example's; run `make goldens`"
        assert all(_stored(v, path) != text for v in earlier), f"{variant}/{path} is stored twice; run `make goldens`"
