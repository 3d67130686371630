"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from tritonobs.model import Stack, resolve
from tritonobs.spec_loader import load_spec

SpecOption = typer.Option(Path("tritonobs.yaml"), "--spec", "-f", help="the stack spec", show_default=True)


def load_stack(spec_path: Path) -> Stack:
    return resolve(load_spec(spec_path))
