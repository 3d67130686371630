"""Git at the edge: render a revision from its own spec, dashboard sources and code.

A ref is unpacked with `git archive` into a temporary folder and rendered there by a `tritonobs render`
whose package comes from that folder when the revision carries one (PYTHONPATH first), so the base is
rendered by the base's renderers; a repository without the package is rendered by the installed one.
The working tree (head by default) is rendered the same way, from the working tree.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from tritonobs.core.errors import UsageError

_RENDER = "import sys; from tritonobs.cli import main; sys.argv[0] = 'tritonobs'; main()"


def _git(root: Path, *args: str, binary: bool = False) -> bytes:
    try:
        res = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise UsageError("git is not installed; `tritonobs diff` compares git revisions") from None
    if res.returncode != 0:
        msg = res.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args)}: {msg[-1] if msg else 'failed'}")
    return res.stdout


def repo_root(path: Path) -> Path:
    return Path(_git(path, "rev-parse", "--show-toplevel").decode().strip())


def default_base(root: Path) -> str:
    """The merge-base of HEAD with the default branch (origin/HEAD, else main, else master)."""
    candidates = []
    with contextlib.suppress(UsageError):
        candidates.append(_git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD").decode().strip())
    candidates += ["origin/main", "main", "origin/master", "master"]
    for ref in candidates:
        try:
            _git(root, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
        except UsageError:
            continue
        return _git(root, "merge-base", "HEAD", ref).decode().strip()
    raise UsageError("no default branch (main/master, origin/HEAD) to take the merge-base with; pass --base REF")


def verify(root: Path, ref: str, option: str) -> str:
    """The ref as given, once git knows it as a commit (UsageError naming the option otherwise)."""
    try:
        _git(root, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
    except UsageError:
        raise UsageError(f"{option} {ref}: no such revision in {root} (a branch, tag or commit; "
                         "fetch it first in a shallow clone)") from None
    return ref


def short(root: Path, ref: str) -> str:
    return _git(root, "rev-parse", "--short", ref).decode().strip()


def checkout(root: Path, ref: str, dest: Path) -> Path:
    """The tree of `ref` unpacked in `dest` (no .git, nothing of the working tree)."""
    data = _git(root, "archive", "--format=tar", ref, binary=True)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def render_tree(src: Path, spec_rel: str, out: Path) -> dict[str, str]:
    """Render `src/spec_rel` into `out` with src's own tritonobs package when it has one."""
    env = dict(os.environ)
    if (src / "tritonobs" / "__init__.py").is_file():
        env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    spec = src / spec_rel
    if not spec.is_file():
        return {}  # the revision has no spec: everything is added (or removed)
    res = subprocess.run([sys.executable, "-c", _RENDER, "render", "--spec", str(spec), "--out", str(out)],
                         capture_output=True, text=True, cwd=src, env=env, check=False, timeout=300)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["render failed"])[-1]
        raise UsageError(f"rendering {src} failed: {last}")
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file()}
