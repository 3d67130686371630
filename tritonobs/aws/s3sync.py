"""Sync the local Triton model repository to S3: a pure plan (size + ETag), then boto3 uploads/deletes.

S3's ETag is the MD5 of the object for a single-part upload, and for a multipart upload the MD5 of the
concatenated binary MD5s of the parts followed by `-<parts>`. We upload with a TransferConfig whose part
size we know, and compute the local ETag the same way (with s3transfer's part-size adjustment for files
that would need more than 10,000 parts), so an unchanged file is never uploaded again. An object uploaded
by another tool with another part size shows as changed once, then matches after our upload.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from tritonobs.aws.session import error_code, raise_external
from tritonobs.core.errors import ExternalError, UsageError

MIB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MIB  # boto3's defaults, written out: the ETag computation depends on them
PART_SIZE = 8 * MIB
MIN_PART, MAX_PART, MAX_PARTS = 5 * MIB, 5 * 1024 * MIB, 10_000
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc",)


def part_size(size: int, chunk: int = PART_SIZE) -> int:
    """The part size s3transfer really uses for a file of `size` bytes (ChunksizeAdjuster)."""
    chunk = max(min(chunk, MAX_PART), MIN_PART)
    while size and math.ceil(size / chunk) > MAX_PARTS:
        chunk *= 2
    return chunk


def multipart_etag(part_digests: Sequence[bytes]) -> str:
    return hashlib.md5(b"".join(part_digests)).hexdigest() + f"-{len(part_digests)}"  # noqa: S324 (S3's algorithm)


@dataclass(frozen=True)
class LocalFile:
    key: str
    path: Path
    size: int
    md5: str
    part_digests: tuple[bytes, ...] = ()  # MD5 of each part, for files we upload in parts

    @property
    def etag(self) -> str:
        """The ETag S3 will report after we upload this file."""
        return multipart_etag(self.part_digests) if self.part_digests else self.md5


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str  # without the quotes S3 wraps it in


@dataclass(frozen=True)
class Action:
    op: Literal["upload", "delete"]
    key: str
    size: int
    reason: str
    path: Path | None = None


@dataclass(frozen=True)
class Plan:
    uploads: tuple[Action, ...]
    deletes: tuple[Action, ...]
    unchanged: tuple[str, ...]
    kept_remote: tuple[str, ...] = field(default=())  # remote-only keys left alone (no --delete)

    @property
    def upload_bytes(self) -> int:
        return sum(a.size for a in self.uploads)


def _same(local: LocalFile, remote: RemoteObject) -> bool:
    if "-" in remote.etag:
        return bool(local.part_digests) and local.etag == remote.etag
    return local.md5 == remote.etag


def plan(local: Iterable[LocalFile], remote: Iterable[RemoteObject], *, delete: bool = False) -> Plan:
    """What to upload (new or different), what to delete (remote only, with --delete). Pure."""
    remote_by_key = {r.key: r for r in remote}
    local_by_key = {f.key: f for f in local}
    uploads, unchanged = [], []
    for key in sorted(local_by_key):
        f = local_by_key[key]
        r = remote_by_key.get(key)
        if r is None:
            uploads.append(Action("upload", key, f.size, "new", f.path))
        elif r.size != f.size:
            uploads.append(Action("upload", key, f.size, f"size {r.size} -> {f.size}", f.path))
        elif not _same(f, r):
            uploads.append(Action("upload", key, f.size, "checksum differs", f.path))
        else:
            unchanged.append(key)
    extra = sorted(set(remote_by_key) - set(local_by_key))
    deletes = tuple(Action("delete", k, remote_by_key[k].size, "not in the local repository") for k in extra) if delete else ()
    return Plan(tuple(uploads), deletes, tuple(unchanged), () if delete else tuple(extra))


# --- edges: the local tree and the bucket ---
def key_for(prefix: str, relative: Path) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{relative.as_posix()}" if prefix else relative.as_posix()


def scan(root: Path, prefix: str, *, threshold: int = MULTIPART_THRESHOLD, chunk: int = PART_SIZE) -> list[LocalFile]:
    """Every file under `root` (bytecode caches skipped), hashed in one pass: whole MD5 and part MD5s."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if SKIPPED_DIRS & set(rel.parts[:-1]) or path.suffix in SKIPPED_SUFFIXES:
            continue
        size = path.stat().st_size
        multipart = size >= threshold
        step = part_size(size, chunk) if multipart else 1 * MIB
        whole = hashlib.md5()  # noqa: S324 (S3's ETag algorithm, not security)
        parts: list[bytes] = []
        with path.open("rb") as fh:
            while block := fh.read(step):
                whole.update(block)
                if multipart:
                    parts.append(hashlib.md5(block).digest())  # noqa: S324
        out.append(LocalFile(key_for(prefix, rel), path, size, whole.hexdigest(), tuple(parts)))
    return out


def where(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix.strip('/')}" if prefix.strip("/") else f"s3://{bucket}"


class BucketMissing(UsageError):
    """The bucket does not exist: the spec (or --bucket) names the wrong one (exit 2). The CLI locates it."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(f"bucket {bucket!r} does not exist (or is in another account): fix model_repository.s3_bucket")


def list_remote(s3: Any, bucket: str, prefix: str) -> list[RemoteObject]:
    root = prefix.strip("/")
    out = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}/" if root else ""):
            for item in page.get("Contents") or []:
                if item["Key"].endswith("/"):
                    continue  # "folder" markers some consoles create
                out.append(RemoteObject(item["Key"], int(item["Size"]), str(item["ETag"]).strip('"')))
    except ClientError as e:
        if error_code(e) == "NoSuchBucket":
            raise BucketMissing(bucket) from None
        raise_external(e, where(bucket, prefix), "s3:ListBucket")
    except BotoCoreError as e:
        raise_external(e, where(bucket, prefix), "s3:ListBucket")
    return out


def execute(
    s3: Any,
    bucket: str,
    todo: Plan,
    *,
    threshold: int = MULTIPART_THRESHOLD,
    chunk: int = PART_SIZE,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=chunk)
    try:
        for action in todo.uploads:
            assert action.path is not None
            s3.upload_file(str(action.path), bucket, action.key, Config=config, Callback=on_bytes)
        keys = [a.key for a in todo.deletes]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            failed = answer.get("Errors") or []
            if failed:
                first = failed[0]
                raise ExternalError(
                    f"s3://{bucket}/{first.get('Key')}", f"delete failed: {first.get('Code')}: {first.get('Message')}"
                )
    except ClientError as e:
        raise_external(e, f"s3://{bucket}", "s3:PutObject and s3:DeleteObject")
    except BotoCoreError as e:
        raise_external(e, f"s3://{bucket}", "s3:PutObject and s3:DeleteObject")
    except S3UploadFailedError as e:  # upload_file wraps the real reason (AccessDenied, NoSuchBucket, ...)
        raise ExternalError(f"s3://{bucket}", f"upload failed: {e}") from None
