"""Write rendered artifacts to disk, or compare them with what is committed (the drift gate)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from tritonobs.core.artifacts import Artifact
from tritonobs.core.errors import UsageError
from tritonobs.core.model import GENERATED_BY

# Folders whose files are all generated; a generated-looking file there that we no longer render is stale.
OWNED_SUFFIXES = (".json", ".yaml")


@dataclass(frozen=True)
class Drift:
    path: str
    diff: str  # unified diff, committed -> rendered


def drift(artifacts: list[Artifact], root: Path) -> list[Drift]:
    out: list[Drift] = []
    for a in artifacts:
        target = root / a.path
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        if old != a.content:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    a.content.splitlines(keepends=True),
                    fromfile=f"{a.path} (committed)" if old else "/dev/null",
                    tofile=f"{a.path} (rendered)",
                )
            )
            out.append(Drift(a.path, diff))
    out += [Drift(p, f"{p}: generated file is no longer rendered; delete it\n") for p in stale(artifacts, root)]
    return out


def stale(artifacts: list[Artifact], root: Path) -> list[str]:
    """Files carrying our generated header, in folders we render into, that the current spec doesn't produce."""

    rendered = {a.path for a in artifacts}
    folders = {str(Path(p).parent) for p in rendered}
    found: list[str] = []
    for folder in sorted(folders):
        for f in sorted((root / folder).glob("*")):
            rel = str(f.relative_to(root))
            if f.is_file() and f.suffix in OWNED_SUFFIXES and rel not in rendered:
                head = f.read_text(encoding="utf-8", errors="replace")[:400]
                if GENERATED_BY in head or '"tritonobs"' in head:
                    found.append(rel)
    return found


def check_writable(artifacts: list[Artifact], root: Path) -> None:
    """Before writing anything: no file stands where a rendered folder goes, no folder where a file goes
    (UsageError, exit 2, nothing written)."""

    for a in artifacts:
        target = root / a.path
        for parent in reversed(target.relative_to(root).parents):
            folder = root / parent
            if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
                raise UsageError(f"{folder} is in the way: a file where a folder of rendered outputs goes; "
                                 "move it, or pass --out DIR")
        if target.is_dir():
            raise UsageError(f"{target} is a folder where a rendered file goes; move it, or pass --out DIR")


def write(artifacts: list[Artifact], root: Path) -> tuple[list[str], list[str]]:
    """Write changed artifacts, remove stale ones. Returns (written, removed)."""
    written: list[str] = []
    for a in artifacts:
        target = root / a.path
        if target.exists() and target.read_text(encoding="utf-8") == a.content:
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(a.content, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write: {e.strerror or e} (check the folder's permissions, or pass --out DIR)",
                             file=str(target)) from None
        written.append(a.path)
    removed = stale(artifacts, root)
    for rel in removed:
        (root / rel).unlink()
    return written, removed
