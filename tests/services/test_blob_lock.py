"""Services on an S3 store with Object Lock (moto's server on loopback; tests/conftest.py:
``s3_locked_bucket``): `verify` checks the retention lock of each original, and a case
flagged legal-hold holds its originals."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import InvalidInput, PermissionDenied
from custodes.services import cases, evidence, verify
from custodes.services.audit import list_events
from custodes.storage.blobs.s3 import S3BlobStore
from tests.conftest import S3Bucket
from tests.factories import add_case, add_user
from tests.factories.blobs import read_blob

pytestmark = pytest.mark.s3


def _settings(bucket: S3Bucket, home: Path, days: int | None = 30) -> Settings:
    return bucket.settings(home).model_copy(update={"retention_days": days})


@pytest.fixture
def locked_vault(s3_locked_bucket: S3Bucket, tmp_path: Path) -> Iterator[Vault]:
    v = bootstrap.init_vault(_settings(s3_locked_bucket, tmp_path / "vault"))
    yield v
    v.engine.dispose()


def test_originals_are_locked_and_verify_checks_it(
    locked_vault: Vault, s3_locked_bucket: S3Bucket, clips: dict[str, Path]
) -> None:
    vault = locked_vault
    store = vault.blobs
    assert isinstance(store, S3BlobStore) and store.retention == timedelta(days=30)
    rec = add_user(vault, "records")
    number = add_case(vault)
    a = evidence.ingest(vault, rec, clips["a"], number)
    b = evidence.ingest(vault, rec, clips["b"], number)
    for sha in (a.sha256, b.sha256):
        lock = store.lock_status(sha)
        assert lock.mode == "COMPLIANCE" and lock.shortfall(timedelta(days=30)) is None
    assert verify.verify_vault(vault, "admin").ok
    # Someone with s3:PutObject writes the same bytes again without a lock: the bucket is
    # versioned (Object Lock needs it), so this is the object's new, unlocked version,
    # which every GET and HEAD now returns, and the locked one lies underneath. The bytes
    # are intact; only the lock is gone.
    data = read_blob(vault, a.sha256)
    s3_locked_bucket.client().put_object(
        Bucket=store.bucket, Key=store.key(a.sha256), Body=data, ChecksumAlgorithm="SHA256"
    )
    assert hashlib.sha256(read_blob(vault, a.sha256)).hexdigest() == a.sha256
    assert store.lock_status(a.sha256).mode is None
    report = verify.verify_vault(vault, "admin")
    assert report.kinds == ["blob-unlocked"]
    assert [p["blob"] for p in report.problems] == [a.sha256]
    assert "no compliance-mode retention" in str(report.problems[0]["detail"])


def test_a_retention_longer_than_the_lock_is_reported(
    locked_vault: Vault, s3_locked_bucket: S3Bucket, clips: dict[str, Path]
) -> None:
    rec = add_user(locked_vault, "records")
    evidence.ingest(locked_vault, rec, clips["a"], add_case(locked_vault))
    longer = bootstrap.open_vault(_settings(s3_locked_bucket, locked_vault.home, days=365))
    try:
        assert verify.verify_vault(longer, "admin").kinds == ["blob-unlocked"]
    finally:
        longer.engine.dispose()


def test_retention_refuses_a_bucket_or_folder_that_cannot_lock(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="has no Object Lock"):
        bootstrap.init_vault(_settings(s3_bucket, tmp_path / "a"))
    assert not (tmp_path / "a").exists()
    with pytest.raises(InvalidInput, match="needs the S3 blob store"):
        bootstrap.init_vault(Settings(home=tmp_path / "b", retention_days=30))
    assert not (tmp_path / "b").exists()


def _held(vault: Vault, *shas: str) -> list[bool]:
    return [vault.blobs.lock_status(sha).legal_hold for sha in shas]


def test_a_legal_hold_on_a_case_holds_its_originals(
    locked_vault: Vault, clips: dict[str, Path]
) -> None:
    vault = locked_vault
    rec = add_user(vault, "records")
    number = add_case(vault)
    other = add_case(vault)
    a = evidence.ingest(vault, rec, clips["a"], number)
    elsewhere = evidence.ingest(vault, rec, clips["b"], other)
    ia = add_user(vault, "internal-affairs")
    with pytest.raises(PermissionDenied, match="only records"):
        cases.set_case(vault, ia, number, flag=["legal-hold"], reason="suit")
    assert _held(vault, a.sha256) == [False]
    changed = cases.set_case(vault, rec, number, flag=["legal-hold"], reason="suit filed")
    assert "legal-hold" in changed.flags
    assert _held(vault, a.sha256, elsewhere.sha256) == [True, False]
    # An original ingested into a held case is held too.
    b = evidence.ingest(vault, rec, clips["c"], number)
    assert _held(vault, b.sha256) == [True]
    cases.set_case(vault, rec, number, unflag=["legal-hold"], reason="suit settled")
    assert _held(vault, a.sha256, b.sha256) == [False, False]
    with vault.uow(readonly=True) as uow:
        trail = [e for e in list_events(uow.conn, case_number=number) if "flags" in e["details"]]
    assert trail[0]["details"]["held"] == [a.sha256]
    assert trail[1]["details"]["released"] == sorted([a.sha256, b.sha256])
    assert verify.verify_vault(vault, "admin").ok


def test_verify_reports_a_held_case_s_original_whose_hold_was_lifted(
    locked_vault: Vault, s3_locked_bucket: S3Bucket, clips: dict[str, Path]
) -> None:
    """Someone with s3:PutObjectLegalHold lifts the hold behind the vault's back (or a
    hold failed half-way): verify names the original, and only it."""
    vault = locked_vault
    rec = add_user(vault, "records")
    number = add_case(vault)
    a = evidence.ingest(vault, rec, clips["a"], number)
    b = evidence.ingest(vault, rec, clips["b"], number)
    loose = evidence.ingest(vault, rec, clips["c"], add_case(vault))  # no hold asked
    cases.set_case(vault, rec, number, flag=["legal-hold"], reason="suit filed")
    assert verify.verify_vault(vault, "admin").ok
    store = vault.blobs
    assert isinstance(store, S3BlobStore)
    s3_locked_bucket.client().put_object_legal_hold(
        Bucket=store.bucket, Key=store.key(b.sha256), LegalHold={"Status": "OFF"}
    )
    assert _held(vault, a.sha256, b.sha256, loose.sha256) == [True, False, False]
    report = verify.verify_vault(vault, "admin")
    assert report.kinds == ["blob-not-held"]
    assert [p["blob"] for p in report.problems] == [b.sha256]
    assert "legal hold" in str(report.problems[0]["detail"])
    # Held again (the next flag change re-puts it): clean.
    store.hold(b.sha256, True)
    assert verify.verify_vault(vault, "admin").ok


def test_a_held_original_on_an_unretained_locked_bucket_is_checked_too(
    s3_locked_bucket: S3Bucket, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """No retention set (CUSTODES_RETENTION_DAYS unset), yet the bucket holds objects:
    a legal hold is still checked; no retention is asked for."""
    vault = bootstrap.init_vault(_settings(s3_locked_bucket, tmp_path / "vault", days=None))
    try:
        rec = add_user(vault, "records")
        number = add_case(vault)
        a = evidence.ingest(vault, rec, clips["a"], number)
        cases.set_case(vault, rec, number, flag=["legal-hold"], reason="suit filed")
        assert verify.verify_vault(vault, "admin").ok
        vault.blobs.hold(a.sha256, False)
        assert verify.verify_vault(vault, "admin").kinds == ["blob-not-held"]
    finally:
        vault.engine.dispose()
