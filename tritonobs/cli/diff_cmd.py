"""`tritonobs diff`: what a change does to everything tritonobs renders, between two git revisions."""

from __future__ import annotations

import sys
import tempfile
from enum import StrEnum
from pathlib import Path

import typer
import yaml

from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import output_dir, read_text, seconds
from tritonobs.review import diff_report, revisions
from tritonobs.review.diff import diff_artifacts
from tritonobs.review.hpa_effect import Effect, effect, keda_as_hpa


class DiffOutput(StrEnum):
    md = "md"
    json = "json"


def _gpus_per_pod(spec_text: str) -> int:
    try:
        data = yaml.safe_load(spec_text) or {}
        return int(((data.get("gpu_pool") or {}).get("gpus_per_pod")) or 1)
    except (yaml.YAMLError, TypeError, ValueError, AttributeError):
        return 1


HPA_PATH, KEDA_PATH = "adapter_rules/hpa.yaml", "adapter_rules/keda-scaledobject.yaml"


def _autoscaler(files: dict[str, str]) -> str | None:
    """The HPA a revision runs: its own, or the one KEDA makes of its ScaledObject."""
    if HPA_PATH in files:
        return files[HPA_PATH]
    return keda_as_hpa(files[KEDA_PATH]) if KEDA_PATH in files else None


def _hpa_effect(old: dict[str, str], new: dict[str, str], trace: Path | None, gpus: int) -> Effect | None:
    a, b = _autoscaler(old), _autoscaler(new)
    if a is None or b is None or a == b:
        return None
    from tritonobs.hpa.simulate import parse_trace

    parsed = parse_trace(read_text(trace, what="trace"), file=str(trace)) if trace else None
    return effect(a, b, parsed, str(trace) if trace else "", gpus)


def register(app: typer.Typer) -> None:
    @app.command("diff")
    def diff_command(
        base: str | None = typer.Option(None, "--base", help="git ref (default: merge-base of HEAD with the default branch)"),
        head: str | None = typer.Option(None, "--head", help="git ref (default: the working tree)"),
        spec: str = typer.Option("tritonobs.yaml", "--spec", "-f", help="the spec's path inside the repository"),
        trace: Path | None = typer.Option(None, "--trace", help="CSV time_s,total_value replayed through the old and new "
                                          "HPA (default: a synthetic ramp)"),
        images: Path | None = typer.Option(None, "--images", help="write before/after PNGs of changed panels here"),
        prometheus: str | None = typer.Option(None, "--prometheus", help="previews: query this Prometheus"),
        lab: bool = typer.Option(False, "--lab", help="previews: bring up the lab, run a short load, draw, stop it"),
        since: str = typer.Option("1h", "--from", help="previews: how far back from --to (e.g. 30m, 2h)"),
        to: str = typer.Option("now", "--to", help="previews: end of the range (now, 5m ago as 5m, or unix seconds)"),
        output: DiffOutput = typer.Option(DiffOutput.md, "--output", "-o", help="md (a pull-request comment) or json"),
        repo: Path = typer.Option(Path("."), "--repo", help="the git repository (default: the current folder's)"),
    ) -> None:
        """Semantic diff of dashboards, rules, adapter rules, HPA/KEDA and ServiceMonitor between two revisions,
        each rendered from its own spec and sources; HPA changes replayed on a trace. Exit 0 (a diff is not a failure)."""
        if prometheus and lab:
            raise UsageError("--prometheus and --lab: pick one source for the previews")
        root = revisions.repo_root(repo)
        base_ref = revisions.verify(root, base, "--base") if base else revisions.default_base(root)
        if head:
            revisions.verify(root, head, "--head")
        with tempfile.TemporaryDirectory(prefix="tritonobs-diff-") as tmp:
            t = Path(tmp)
            old = revisions.render_tree(revisions.checkout(root, base_ref, t / "base"), spec, t / "base-out")
            head_src = revisions.checkout(root, head, t / "head") if head else root
            new = revisions.render_tree(head_src, spec, t / "head-out")
            spec_text = (head_src / spec).read_text(encoding="utf-8") if (head_src / spec).is_file() else ""
        diffs = diff_artifacts(old, new)
        eff = _hpa_effect(old, new, trace, _gpus_per_pod(spec_text))
        shown: dict[str, list[str]] = {}
        if images is not None and diffs:
            from tritonobs.review.preview_run import diff_images, parse_to, with_source

            output_dir("--images", images)
            shown = with_source(prometheus, (root / spec) if lab else None, seconds("--from", since),
                                lambda fetch, sub: diff_images(diffs, old, new, images, eff, fetch, sub),
                                end=parse_to(to)) or {}
        base_name = revisions.short(root, base_ref)
        head_name = revisions.short(root, head) if head else "working tree"
        if output is DiffOutput.json:
            sys.stdout.write(diff_report.as_json(diffs, base_name, head_name, eff, shown))
        else:
            sys.stdout.write(diff_report.markdown(diffs, base_name, head_name, eff, shown))
