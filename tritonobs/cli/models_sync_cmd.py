"""`tritonobs models sync [--dry-run] [--delete]`: the local model repository to s3_bucket/s3_prefix."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from tritonobs.aws import s3sync
from tritonobs.aws.session import client, session
from tritonobs.cli.models_cmd import models_app
from tritonobs.cli.options import SpecOption, load_stack, spec_location
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import aws_region
from tritonobs.models.model_code import missing_code

out = Console(highlight=False, soft_wrap=True)


def _size(n: int) -> str:
    return f"{n / s3sync.MIB:.1f} MiB" if n >= s3sync.MIB else f"{n} B"


def register(app: typer.Typer) -> None:
    @models_app.command("sync")
    def sync(
        spec: Path = SpecOption,
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, change nothing"),
        delete: bool = typer.Option(False, "--delete", help="also delete remote objects not in the local tree"),
        region: str | None = typer.Option(None, "--region", help="AWS region (default: cluster.region)"),
    ) -> None:
        """Upload new/changed model files to S3 (compared by size and ETag); --delete removes extra objects."""
        if region is not None:
            aws_region("--region", region)
        stack = load_stack(spec)
        repo = stack.spec.model_repository
        if not repo.s3_bucket:
            file, line = spec_location(spec, ("model_repository",))
            raise UsageError("model_repository.s3_bucket is not set: name the bucket to sync to", file=file, line=line)
        root = Path(repo.path) if Path(repo.path).is_absolute() else spec.resolve().parent / repo.path
        if not root.is_dir():
            file, line = spec_location(spec, ("model_repository", "path"))
            raise UsageError(f"model repository {root} is not a folder", file=file, line=line)
        s3 = client(session(region or stack.spec.cluster.region), "s3")
        try:
            remote = s3sync.list_remote(s3, repo.s3_bucket, repo.s3_prefix)
        except s3sync.BucketMissing as e:
            file, line = spec_location(spec, ("model_repository", "s3_bucket"))
            raise UsageError(e.detail, file=file, line=line) from None
        with tempfile.TemporaryDirectory(prefix="tritonobs-model-code-") as tmp:
            # Version folders without model code get tritonobs' own (its one source), as the lab does.
            supplied = missing_code(root)
            for rel, text in supplied.items():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / rel).write_text(text, encoding="utf-8")
            local = s3sync.scan(root, repo.s3_prefix) + s3sync.scan(Path(tmp), repo.s3_prefix)
            if supplied:
                out.print(f"{len(supplied)} model-code file(s) not in {root} come from tritonobs "
                          f"({', '.join(sorted(map(str, supplied)))})", markup=False)
            _sync(s3, repo.s3_bucket, repo.s3_prefix, s3sync.plan(local, remote, delete=delete), root, dry_run)


def _sync(s3: Any, bucket: str, prefix: str, todo: s3sync.Plan, root: Path, dry_run: bool) -> None:
    target = s3sync.where(bucket, prefix)
    verb = "would " if dry_run else ""
    for a in todo.uploads:
        out.print(f"{verb}upload  {a.key} ({_size(a.size)}, {a.reason})", markup=False)
    for a in todo.deletes:
        out.print(f"{verb}delete  {a.key}", markup=False)
    if todo.kept_remote:
        out.print(f"{len(todo.kept_remote)} remote object(s) not in {root} kept (pass --delete to remove)", markup=False)
    summary = (
        f"{target}: {len(todo.uploads)} to upload ({_size(todo.upload_bytes)}), {len(todo.deletes)} to delete, "
        f"{len(todo.unchanged)} unchanged"
    )
    if dry_run or not (todo.uploads or todo.deletes):
        out.print(("dry run: " if dry_run else "up to date: ") + summary, markup=False)
        return
    with Progress(
        TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=out, transient=True
    ) as progress:
        task = progress.add_task("upload", total=todo.upload_bytes)
        s3sync.execute(s3, bucket, todo, on_bytes=lambda n: progress.advance(task, n))
    out.print(f"synced {summary}", markup=False)
