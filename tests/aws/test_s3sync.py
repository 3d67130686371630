"""`tritonobs models sync`: the pure plan, then real uploads to moto_server's S3 (single and multipart)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.aws.conftest import REGION, moto_server
from tritonobs.aws import s3sync
from tritonobs.aws.s3sync import MIB, LocalFile, RemoteObject, plan

REPO = Path(__file__).resolve().parents[2]

BUCKET = "triton-vllm-model-repository"
PREFIX = "model_repository"


def local(key: str, data: bytes, parts: int = 0) -> LocalFile:
    digests = tuple(hashlib.md5(data[i * 8 * MIB : (i + 1) * 8 * MIB]).digest() for i in range(parts))
    return LocalFile(key, Path("/x") / key, len(data), hashlib.md5(data).hexdigest(), digests)


def test_plan_compares_size_then_etag() -> None:
    same, changed, grown, new = local("m/same", b"a"), local("m/changed", b"b"), local("m/grown", b"cc"), local("m/new", b"d")
    remote = [
        RemoteObject("m/same", 1, hashlib.md5(b"a").hexdigest()),
        RemoteObject("m/changed", 1, hashlib.md5(b"x").hexdigest()),
        RemoteObject("m/grown", 1, hashlib.md5(b"c").hexdigest()),
        RemoteObject("m/extra", 3, "abc"),
    ]
    p = plan([same, changed, grown, new], remote)
    assert [(a.key, a.reason) for a in p.uploads] == [
        ("m/changed", "checksum differs"),
        ("m/grown", "size 1 -> 2"),
        ("m/new", "new"),
    ]
    assert p.unchanged == ("m/same",) and p.deletes == () and p.kept_remote == ("m/extra",)
    assert [a.key for a in plan([same], remote, delete=True).deletes] == ["m/changed", "m/extra", "m/grown"]


def test_multipart_etag_is_md5_of_part_md5s() -> None:
    data = bytes(range(256)) * (9 * MIB // 256)  # 9 MiB: two parts of 8 + 1 MiB
    f = local("big", data, parts=2)
    expected = hashlib.md5(hashlib.md5(data[: 8 * MIB]).digest() + hashlib.md5(data[8 * MIB :]).digest()).hexdigest()
    assert f.etag == f"{expected}-2"
    assert plan([f], [RemoteObject("big", len(data), f"{expected}-2")]).unchanged == ("big",)
    # Same bytes uploaded by another tool with another part size: different ETag, uploaded once more.
    assert plan([f], [RemoteObject("big", len(data), f"{expected[:-1]}0-3")]).uploads[0].reason == "checksum differs"


def test_part_size_follows_s3transfer() -> None:
    assert s3sync.part_size(100 * MIB) == 8 * MIB
    assert s3sync.part_size(100 * MIB, chunk=1 * MIB) == 5 * MIB  # S3's minimum part
    assert s3sync.part_size(100_000 * MIB) == 16 * MIB  # 8 MiB would need more than 10,000 parts


@pytest.fixture
def repo(stack_dir) -> Path:  # type: ignore[no-untyped-def]
    root = stack_dir.root / "model_repository"
    (root / "llama2" / "1").mkdir(parents=True)
    (root / "llama2" / "config.pbtxt").write_text('name: "llama2"\nbackend: "python"\n')
    (root / "llama2" / "1" / "model.py").write_text("# model\n")
    (root / "llama2" / "1" / "__pycache__").mkdir()
    (root / "llama2" / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0bytecode")
    (root / "mistral7b").mkdir()
    # 11 MiB: above the 8 MiB threshold, uploaded in 2 parts.
    (root / "mistral7b" / "weights.bin").write_bytes(hashlib.sha256(b"seed").digest() * (11 * MIB // 32))
    return root


def remote_etags(s3, prefix: str = PREFIX) -> dict[str, str]:  # type: ignore[no-untyped-def]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
    return {o["Key"]: o["ETag"].strip('"') for o in listed}


def sync(cli, stack_dir, *args: str):  # type: ignore[no-untyped-def]
    return cli("models", "sync", "-f", stack_dir.spec, *args)


def test_sync_uploads_then_is_up_to_date(aws, cli, stack_dir, repo) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    dry = sync(cli, stack_dir, "--dry-run")
    assert dry.code == 0, dry.text
    assert "would upload  model_repository/mistral7b/weights.bin (11.0 MiB, new)" in dry.out
    assert remote_etags(s3) == {}

    first = sync(cli, stack_dir)
    assert first.code == 0, first.text
    assert "6 to upload" in first.out and "synced" in first.out
    # The version folder has its own model.py but not its siblings: those come from tritonobs.
    siblings = ("engine_metrics.py", "engine_processes.py", "vllm_engine.py")
    assert "3 model-code file(s) not in" in first.out
    assert all(f"llama2/1/{name}" in first.out for name in siblings), first.out
    etags = remote_etags(s3)
    shipped = {f"{PREFIX}/llama2/1/{name}": name for name in siblings}
    assert sorted(etags) == sorted([f"{PREFIX}/llama2/1/model.py", *shipped, f"{PREFIX}/llama2/config.pbtxt",
                                    f"{PREFIX}/mistral7b/weights.bin"])
    for key, name in shipped.items():
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == (
            REPO / "tritonobs" / "models" / "serving" / name).read_bytes()
    # What S3 computed for each object is what we computed locally (multipart included).
    ours = {f.key: f.etag for f in s3sync.scan(repo, PREFIX)}
    assert ours == {k: v for k, v in etags.items() if k not in shipped}
    assert etags[f"{PREFIX}/mistral7b/weights.bin"].endswith("-2")

    again = sync(cli, stack_dir)
    assert again.code == 0 and "up to date: s3://triton-vllm-model-repository/model_repository: 0 to upload" in again.out

    (repo / "llama2" / "1" / "model.py").write_text("# mode1\n")  # same size, other bytes
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/retired/model.py", Body=b"old")
    changed = sync(cli, stack_dir)
    assert "upload  model_repository/llama2/1/model.py (8 B, checksum differs)" in changed.out
    assert "1 remote object(s) not in" in changed.out and f"{PREFIX}/retired/model.py" in remote_etags(s3)
    dry_delete = sync(cli, stack_dir, "--delete", "--dry-run")
    assert "would delete  model_repository/retired/model.py" in dry_delete.out
    assert f"{PREFIX}/retired/model.py" in remote_etags(s3)
    deleted = sync(cli, stack_dir, "--delete")
    assert deleted.code == 0 and "1 to delete" in deleted.out
    assert f"{PREFIX}/retired/model.py" not in remote_etags(s3)


def test_missing_bucket_is_located_in_the_spec(aws, cli, stack_dir, repo) -> None:
    result = sync(cli, stack_dir)
    line = next(i for i, t in enumerate(stack_dir.spec.read_text().splitlines(), 1) if t.strip().startswith("s3_bucket:"))
    assert result.code == 2
    assert result.err.startswith(f"error: {stack_dir.spec}:{line}: bucket '{BUCKET}' does not exist")


def test_no_bucket_in_the_spec_is_a_usage_error(cli, stack_dir, repo) -> None:
    stack_dir.edit(lambda d: d["model_repository"].pop("s3_bucket"))
    result = sync(cli, stack_dir)
    assert result.code == 2 and "model_repository.s3_bucket is not set" in result.err


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server that enforces IAM after its first 3 (setup) calls."""
    with moto_server(tmp_path_factory.mktemp("moto-iam") / "moto.log", INITIAL_NO_AUTH_ACTION_COUNT="3") as url:
        yield url


def test_permission_error_is_external_naming_the_bucket(aws, iam_moto, cli, stack_dir, repo, monkeypatch) -> None:
    admin = boto3.Session(aws_access_key_id="admin", aws_secret_access_key="admin", region_name=REGION)
    iam = admin.client("iam", endpoint_url=iam_moto)
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="get-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", iam_moto)
    result = sync(cli, stack_dir)
    assert result.code == 3
    assert result.err.strip() == (
        f"error: s3://{BUCKET}/{PREFIX}: access denied: Access Denied (the identity needs s3:ListBucket)"
    )
    assert key["SecretAccessKey"] not in result.text


def test_the_committed_repository_uploads_the_linked_model_code_itself() -> None:
    """model_repository/*/1/model.py link to the package's one source; S3 gets the file's bytes."""
    source = REPO / "tritonobs" / "models" / "serving"
    files = {f.key: f for f in s3sync.scan(REPO / "model_repository", "m")}
    for model in ("llama2", "mistral7b"):
        for name in ("model.py", "vllm_engine.py"):
            local = files[f"m/{model}/1/{name}"]
            body = (source / name).read_bytes()
            assert local.size == len(body) and local.etag == hashlib.md5(body).hexdigest()  # noqa: S324
