"""Which spec the lab runs: the one given, else `tritonobs.yaml` here, else the example shipped in the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_SPEC = Path("tritonobs.yaml")


def example_spec_path() -> Path:
    """The packaged example stack (a copy of the repository's tritonobs.yaml; a test keeps them equal)."""
    return Path(str(resources.files("tritonobs") / "data" / "example-stack.yaml"))


def find_spec(given: Path | None) -> tuple[Path, bool]:
    """(spec path, is_packaged_example). A path the user gave is used as is (a missing file is their error)."""
    if given is not None:
        return given, False
    if DEFAULT_SPEC.exists():
        return DEFAULT_SPEC, False
    return example_spec_path(), True
