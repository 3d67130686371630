"""Start-up: `--help` and `validate` import no heavy package, and the lazy command table tells the truth."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from tritonobs.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"kubernetes", "tritonclient", "boto3", "botocore", "grpc", "matplotlib", "numpy"}


def _imported(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "tritonobs", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("args", [("--help",), ("validate",), ("render", "--check")])
def test_command_imports_no_heavy_package(args: tuple[str, ...]) -> None:
    imported = _imported(*args)
    assert "tritonobs" in imported  # the parse worked: a broken one would pass vacuously
    assert imported & HEAVY == set()


def test_command_table_matches_the_modules() -> None:
    """Every module's commands are listed under the right name with their help's first paragraph."""
    found: dict[str, tuple[str, str]] = {}
    for modules in sorted({m for m, _ in COMMANDS.values()}):
        sub = typer.Typer()
        for module in modules.split(","):
            importlib.import_module(f"tritonobs.cli.{module}").register(sub)
        for name, cmd in typer.main.get_group(sub).commands.items():
            found[name] = (modules, (cmd.help or "").split("\n\n")[0])
    assert found == COMMANDS


def test_a_command_split_over_two_modules_has_all_its_subcommands() -> None:
    proc = subprocess.run([sys.executable, "-m", "tritonobs", "models", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert " validate " in proc.stdout and " sync " in proc.stdout
