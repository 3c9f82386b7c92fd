"""S3BlobStore against moto's S3 server on loopback (tests/conftest.py: ``s3_server``)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from custodes.core.errors import BackendUnavailable, CustodyConflict, InvalidInput, NotFound
from custodes.core.ports import BlobStore
from custodes.storage.blobs import s3
from custodes.storage.blobs.s3 import S3BlobStore, make_client
from tests.conftest import S3Bucket

pytestmark = pytest.mark.s3

MiB = 1024 * 1024


def new_store(bucket: S3Bucket, scratch: Path, prefix: str = "vault/", **kw: Any) -> S3BlobStore:
    client = make_client(endpoint_url=bucket.endpoint, addressing_style="path")
    return S3BlobStore(client, bucket.bucket, prefix, scratch, **kw)


@pytest.fixture
def store(s3_bucket: S3Bucket, tmp_path: Path) -> S3BlobStore:
    return new_store(s3_bucket, tmp_path / "scratch")


def put(store: S3BlobStore, data: bytes) -> str:
    return store.commit(store.stage(io.BytesIO(data))).sha256


def scratch_files(store: S3BlobStore) -> list[str]:
    return sorted(os.listdir(store.scratch)) if store.scratch.exists() else []


def test_satisfies_the_protocol(store: S3BlobStore) -> None:
    as_port: BlobStore = store
    assert as_port is store


def test_round_trip(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    data = b"body camera footage"
    staged = store.stage(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (staged.sha256, staged.size) == (sha, len(data))
    assert staged.path.parent == store.scratch
    assert stat.S_IMODE(staged.path.stat().st_mode) == 0o600
    assert not store.exists(sha)

    ref = store.commit(staged)
    assert (ref.sha256, ref.size, ref.created) == (sha, len(data), True)
    assert store.exists(sha) and store.size(sha) == len(data)
    key = f"vault/sha256/{sha[:2]}/{sha[2:4]}/{sha}"
    assert store.key(sha) == key
    assert store.location(sha) == f"s3://{s3_bucket.bucket}/{key}"
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key=key)
    assert head["Metadata"] == {"sha256": sha}
    with store.open(sha) as f:
        assert f.read() == data
    assert list(store.iter_hashes()) == [sha]
    assert store.rehash(sha) == sha
    with store.materialize(sha) as local:
        assert (local.sha256, local.size) == (sha, len(data))
        assert local.path.parent == store.scratch
        assert local.path.read_bytes() == data
        assert stat.S_IMODE(local.path.stat().st_mode) == 0o400
    assert not local.path.exists()
    assert scratch_files(store) == []


def test_streams_in_small_reads(store: S3BlobStore) -> None:
    data = os.urandom(3 * MiB + 17)
    sha = put(store, data)
    with store.open(sha) as f:
        parts = []
        while chunk := f.read(100_000):
            parts.append(chunk)
    assert b"".join(parts) == data
    seen: list[int] = []
    assert store.rehash(sha, progress=seen.append) == sha
    assert sum(seen) == len(data)


def test_dedup(store: S3BlobStore) -> None:
    data = b"same bytes"
    first = store.commit(store.stage(io.BytesIO(data)))
    again = store.stage(io.BytesIO(data))
    second = store.commit(again)
    assert first.created and not second.created
    assert not again.path.exists()
    assert list(store.iter_hashes()) == [first.sha256]


def test_commit_never_replaces_an_existing_object(
    store: S3BlobStore, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"the original recording"
    sha = hashlib.sha256(data).hexdigest()
    s3_bucket.client().put_object(Bucket=s3_bucket.bucket, Key=store.key(sha), Body=b"altered")
    assert not store.commit(store.stage(io.BytesIO(data))).created
    assert store.rehash(sha) == hashlib.sha256(b"altered").hexdigest()  # left for verify
    # Two processes committing at once: the loser's upload is refused by the server
    # (If-None-Match), and it learns that the blob is there.
    monkeypatch.setattr(store, "exists", lambda _sha: False)
    assert not store.commit(store.stage(io.BytesIO(data))).created
    assert store.rehash(sha) == hashlib.sha256(b"altered").hexdigest()
    assert scratch_files(store) == []


def test_rehash_detects_a_changed_object(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    sha = put(store, b"original bytes")
    s3_bucket.client().put_object(Bucket=s3_bucket.bucket, Key=store.key(sha), Body=b"changed")
    assert store.rehash(sha) == hashlib.sha256(b"changed").hexdigest()
    with store.materialize(sha) as local:
        assert local.sha256 == hashlib.sha256(b"changed").hexdigest()
        assert local.path.read_bytes() == b"changed"


def test_missing_object_is_not_found(store: S3BlobStore) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(sha)
    for call in (store.open, store.rehash, store.size, store.location):
        with pytest.raises(NotFound) as info:
            call(sha)
        assert isinstance(info.value.__cause__, ClientError)
    with pytest.raises(NotFound), store.materialize(sha):
        pass
    assert list(store.iter_hashes()) == []
    assert scratch_files(store) == []


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "../" + "a" * 61, "a" * 64 + "/x"])
def test_bad_hex(store: S3BlobStore, bad: str) -> None:
    for call in (store.open, store.rehash, store.exists, store.size, store.key):
        with pytest.raises(InvalidInput):
            call(bad)


def test_multipart_upload_of_a_large_blob(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    store = new_store(
        s3_bucket, tmp_path / "scratch", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
    )
    data = os.urandom(9 * MiB + 123)
    ref = store.commit(store.stage(io.BytesIO(data)))
    assert ref.created and ref.sha256 == hashlib.sha256(data).hexdigest()
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key=store.key(ref.sha256))
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert store.size(ref.sha256) == len(data)
    assert store.rehash(ref.sha256) == ref.sha256
    with store.materialize(ref.sha256) as local:
        assert local.sha256 == ref.sha256 and local.path.read_bytes() == data
    # The conditional write holds for multipart uploads too.
    store.exists = lambda _sha: False  # type: ignore[method-assign]
    assert not store.commit(store.stage(io.BytesIO(data))).created
    assert s3_bucket.client().list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads") in (
        None,
        [],
    )


def test_iter_hashes_lists_the_prefix_only(
    store: S3BlobStore, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    shas = sorted(put(store, bytes([i]) * 10) for i in range(5))
    other = new_store(s3_bucket, tmp_path / "other", prefix="another-vault")
    put(other, b"elsewhere")
    client = s3_bucket.client()
    for stray in ("vault/sha256/readme.txt", f"vault/sha256/00/00/{shas[0]}", "vault/x"):
        client.put_object(Bucket=s3_bucket.bucket, Key=stray, Body=b"stray")
    assert list(store.iter_hashes()) == shas
    assert list(other.iter_hashes()) == [hashlib.sha256(b"elsewhere").hexdigest()]


def test_failure_mid_stream_leaves_no_temp_file(store: S3BlobStore) -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            raise OSError(5, "Input/output error")

    with pytest.raises(BackendUnavailable):
        store.stage(Failing())  # type: ignore[arg-type]
    assert scratch_files(store) == []


def test_materialized_file_is_removed_when_the_reader_fails(store: S3BlobStore) -> None:
    sha = put(store, b"evidence")
    with pytest.raises(RuntimeError), store.materialize(sha) as local:
        assert local.path.exists()
        raise RuntimeError("decoder failed")
    assert scratch_files(store) == []


def test_sweep_temp(
    store: S3BlobStore, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.sweep_temp() == 0  # no scratch folder yet
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    store.scratch.mkdir(parents=True)
    dead = store.scratch / f"{child.pid}-0123abcd.part"
    dead_get = store.scratch / f"{child.pid}-0123abce.get"
    mine = store.scratch / f"{os.getpid()}-0123abcd.part"
    for p in (dead, dead_get, mine):
        p.write_bytes(b"partial")
    assert store.sweep_temp() == 2
    assert mine.exists() and not dead.exists() and not dead_get.exists()
    # A multipart upload left by a killed process is aborted once it is a day old (moto
    # reports every upload as begun in 2010, so the age is set here rather than waited).
    client = s3_bucket.client()
    key = store.key(hashlib.sha256(b"x").hexdigest())
    client.create_multipart_upload(Bucket=s3_bucket.bucket, Key=key)
    client.create_multipart_upload(Bucket=s3_bucket.bucket, Key="not-ours/x")
    monkeypatch.setattr(s3, "TEMP_MAX_AGE", 100 * 365 * 86400)
    assert store.sweep_temp() == 0  # too recent
    monkeypatch.setattr(s3, "TEMP_MAX_AGE", 3600)
    assert store.sweep_temp() == 1
    left = client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["not-ours/x"]
    assert mine.exists()


def test_missing_bucket_is_backend_unavailable(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    store = new_store(S3Bucket(s3_bucket.endpoint, "no-such-bucket"), tmp_path / "scratch")
    with pytest.raises(BackendUnavailable, match="no bucket 'no-such-bucket'") as info:
        list(store.iter_hashes())
    assert isinstance(info.value.__cause__, ClientError)
    with pytest.raises(BackendUnavailable):
        store.commit(store.stage(io.BytesIO(b"x")))


def test_unreachable_endpoint_is_backend_unavailable(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    from tests.conftest import _free_port

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{_free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    store = S3BlobStore(client, "bucket", "", tmp_path / "scratch")
    sha = hashlib.sha256(b"x").hexdigest()
    for call in (store.rehash, store.exists, store.open):
        with pytest.raises(BackendUnavailable) as info:
            call(sha)
        assert "reachable" in info.value.advice
        assert isinstance(info.value.__cause__, BotoCoreError)


def test_client_skips_checksums_unless_required() -> None:
    client = make_client(endpoint_url="http://127.0.0.1:1")
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"


def test_bad_endpoint_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="S3 endpoint"):
        make_client(endpoint_url="not a url")


# -- Object Lock ------------------------------------------------------------------------

DAYS = timedelta(days=30)


def locked_store(bucket: S3Bucket, scratch: Path, **kw: Any) -> S3BlobStore:
    store = new_store(bucket, scratch, retention=DAYS, **kw)
    store.check_object_lock()
    return store


def object_lock(bucket: S3Bucket, key: str) -> dict[str, Any]:
    head: dict[str, Any] = bucket.client().head_object(Bucket=bucket.bucket, Key=key)
    return head


def test_an_original_is_locked_in_compliance_mode(
    s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    store = locked_store(s3_locked_bucket, tmp_path / "scratch")
    before = datetime.now(UTC)
    sha = store.commit(store.stage(io.BytesIO(b"an original")), retain=True).sha256
    after = datetime.now(UTC)
    head = object_lock(s3_locked_bucket, store.key(sha))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    # S3 keeps the date to the second (moto to the millisecond).
    assert before + DAYS - timedelta(seconds=1) <= until <= after + DAYS
    lock = store.lock_status(sha)
    assert (lock.enforced, lock.mode, lock.retain_until, lock.legal_hold) == (
        True,
        "COMPLIANCE",
        until,
        False,
    )
    assert lock.shortfall(DAYS) is None
    assert lock.shortfall(DAYS * 2) is not None  # the settings now ask for longer
    # A derivative (retain=False) is not locked.
    other = store.commit(store.stage(io.BytesIO(b"a redacted copy"))).sha256
    assert "ObjectLockMode" not in object_lock(s3_locked_bucket, store.key(other))
    assert store.lock_status(other).shortfall(DAYS) == (
        "it has no compliance-mode retention (mode none)"
    )


def test_multipart_original_is_locked_and_hashed_end_to_end(
    s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    store = locked_store(
        s3_locked_bucket,
        tmp_path / "scratch",
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
    )
    data = os.urandom(11 * MiB + 5)
    ref = store.commit(store.stage(io.BytesIO(data)), retain=True)
    assert ref.created and ref.sha256 == hashlib.sha256(data).hexdigest()
    head = object_lock(s3_locked_bucket, store.key(ref.sha256))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert store.rehash(ref.sha256) == ref.sha256  # the file's hash, not S3's composite
    client = s3_locked_bucket.client()
    assert not client.list_multipart_uploads(Bucket=s3_locked_bucket.bucket).get("Uploads")


def test_a_failed_multipart_upload_is_aborted(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    store = new_store(
        s3_bucket, tmp_path / "scratch", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
    )
    parts: list[int] = []

    def fail_second_part(params: dict[str, Any], **_: Any) -> None:
        parts.append(params["PartNumber"])
        if params["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")  # the link drops

    store._client.meta.events.register("before-parameter-build.s3.UploadPart", fail_second_part)
    data = os.urandom(11 * MiB)
    with pytest.raises(BackendUnavailable):
        store.commit(store.stage(io.BytesIO(data)))
    assert 2 in parts
    assert not store.exists(hashlib.sha256(data).hexdigest())
    assert not s3_bucket.client().list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads")


def test_a_retention_needs_a_bucket_with_object_lock(
    s3_bucket: S3Bucket, s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="has no Object Lock") as info:
        locked_store(s3_bucket, tmp_path / "a")
    assert "CUSTODES_RETENTION_DAYS" in info.value.advice
    new_store(s3_bucket, tmp_path / "b").check_object_lock()  # no retention: any bucket
    locked_store(s3_locked_bucket, tmp_path / "c")
    with pytest.raises(InvalidInput):
        new_store(s3_locked_bucket, tmp_path / "d", retention=timedelta(0))


def test_custodes_never_deletes_nor_weakens_a_lock(
    s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    """moto lets a compliance retention be shortened (AWS does not): the store's own
    client refuses to ask, before any request is sent."""
    store = locked_store(s3_locked_bucket, tmp_path / "scratch")
    sha = store.commit(store.stage(io.BytesIO(b"evidence")), retain=True).sha256
    key, bucket = store.key(sha), store.bucket
    until = store.lock_status(sha).retain_until
    client = store._client
    with pytest.raises(CustodyConflict, match="never deletes"):
        client.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(CustodyConflict, match="never deletes"):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    for retention, bypass in [
        ({"Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(UTC)}, False),
        ({"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC)}, True),
        ({}, False),
    ]:
        kw: dict[str, Any] = {"BypassGovernanceRetention": True} if bypass else {}
        with pytest.raises(CustodyConflict):
            client.put_object_retention(Bucket=bucket, Key=key, Retention=retention, **kw)
    assert store.lock_status(sha).retain_until == until and store.exists(sha)
    # Committing the same original again never shortens a longer lock...
    longer = datetime.now(UTC).replace(microsecond=0) + DAYS * 3
    s3_locked_bucket.client().put_object_retention(
        Bucket=bucket, Key=key, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer}
    )
    assert not store.commit(store.stage(io.BytesIO(b"evidence")), retain=True).created
    assert store.lock_status(sha).retain_until == longer


def test_an_original_stored_unlocked_is_locked_when_committed_again(
    s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    plain = new_store(s3_locked_bucket, tmp_path / "a")  # before a retention was set
    sha = plain.commit(plain.stage(io.BytesIO(b"older evidence")), retain=True).sha256
    assert plain.lock_status(sha).mode is None
    store = locked_store(s3_locked_bucket, tmp_path / "b")
    assert not store.commit(store.stage(io.BytesIO(b"older evidence")), retain=True).created
    lock = store.lock_status(sha)
    assert lock.mode == "COMPLIANCE" and lock.retain_until is not None
    assert lock.retain_until >= datetime.now(UTC) + DAYS - timedelta(minutes=1)


def test_legal_hold_on_and_off(s3_locked_bucket: S3Bucket, tmp_path: Path) -> None:
    store = locked_store(s3_locked_bucket, tmp_path / "scratch")
    sha = store.commit(store.stage(io.BytesIO(b"held evidence")), retain=True).sha256
    key = store.key(sha)
    store.hold(sha, True)
    assert object_lock(s3_locked_bucket, key)["ObjectLockLegalHoldStatus"] == "ON"
    assert store.lock_status(sha).legal_hold
    store.hold(sha, False)
    assert object_lock(s3_locked_bucket, key)["ObjectLockLegalHoldStatus"] == "OFF"
    assert not store.lock_status(sha).legal_hold
    with pytest.raises(NotFound):
        store.hold(hashlib.sha256(b"never stored").hexdigest(), True)
    with pytest.raises(NotFound):
        store.lock_status(hashlib.sha256(b"never stored").hexdigest())


def test_a_longer_governance_retention_becomes_compliance_as_long(
    s3_locked_bucket: S3Bucket, tmp_path: Path
) -> None:
    plain = new_store(s3_locked_bucket, tmp_path / "a")
    sha = plain.commit(plain.stage(io.BytesIO(b"governed evidence"))).sha256
    longer = datetime.now(UTC).replace(microsecond=0) + DAYS * 3
    s3_locked_bucket.client().put_object_retention(
        Bucket=plain.bucket,
        Key=plain.key(sha),
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": longer},
    )
    store = locked_store(s3_locked_bucket, tmp_path / "b")
    assert not store.commit(store.stage(io.BytesIO(b"governed evidence")), retain=True).created
    lock = store.lock_status(sha)
    assert (lock.mode, lock.retain_until) == ("COMPLIANCE", longer)


def test_an_interrupted_multipart_upload_is_aborted(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    """Ctrl-C while the parts go up: no unfinished upload is left in the bucket (S3 bills
    its parts until it is aborted), and no object."""
    import signal

    store = new_store(
        s3_bucket, tmp_path / "scratch", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
    )
    staged = store.stage(io.BytesIO(os.urandom(11 * MiB)))
    sent = []

    def ctrl_c(**_: Any) -> None:
        if not sent:  # as a person at the keyboard would, while a part is on its way
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    store._client.meta.events.register("before-send.s3.UploadPart", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        store.commit(staged)
    assert sent
    client = s3_bucket.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket.bucket).get("Uploads") in (None, [])
    assert not store.exists(staged.sha256)
    store.discard(staged)  # what ingest does on the way out
    assert scratch_files(store) == []
