"""custodes.bootstrap: what opening an existing vault refuses to make up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import BackendUnavailable, IntegrityFailure
from custodes.services import evidence, exports
from custodes.services.audit import list_events
from custodes.storage.blobs.s3 import S3BlobStore
from tests.conftest import S3Bucket
from tests.factories import add_case, add_user
from tests.factories.packs import pack_sha256


def test_a_missing_watermark_secret_is_never_made_up(
    sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path
) -> None:
    """A new secret would leave every earlier copy untraceable: only init makes one."""
    vault = sqlite_vault
    rec = add_user(vault, "records")
    ev = evidence.ingest(vault, rec, clips["a"], add_case(vault)).evidence_id
    secret = vault.home / bootstrap.WATERMARK_SECRET_FILE
    assert len(vault.watermark_secret) == 32
    secret.unlink()
    again = bootstrap.open_vault(vault.settings)
    with pytest.raises(IntegrityFailure, match=r"watermark secret .* is missing"):
        _ = again.watermark_secret
    with pytest.raises(IntegrityFailure, match="watermark secret"):
        exports.export_evidence(
            again,
            rec,
            exports.ExportEvidence(ev, recipient="x", purpose="y", out=tmp_path / "c.mp4"),
        )
    assert not secret.exists() and not (tmp_path / "c.mp4").exists()
    with again.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=ev)[-1]
    assert last["action"] == "access-refused" and last["details"]["code"] == "IntegrityFailure"
    again.engine.dispose()


def test_a_missing_c2pa_credential_is_replaced_only_if_nothing_was_signed(
    sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault = sqlite_vault
    folder = vault.home / "keys" / "c2pa"
    first = vault.content_credential()  # made on first use
    shutil.rmtree(folder)
    assert vault.content_credential().cert_sha256 != first.cert_sha256  # nothing signed yet
    rec = add_user(vault, "records")
    ev = evidence.ingest(vault, rec, clips["a"], add_case(vault)).evidence_id
    exports.export_evidence(
        vault,
        rec,
        exports.ExportEvidence(
            ev, recipient="x", purpose="y", out=tmp_path / "s.mp4", content_credentials={}
        ),
    )
    shutil.rmtree(folder)
    again = bootstrap.open_vault(vault.settings)
    with pytest.raises(IntegrityFailure, match="1 released copy was signed with it"):
        again.content_credential()
    assert not folder.exists()
    again.engine.dispose()


@pytest.mark.s3
def test_an_s3_blob_url_opens_an_s3_blob_store(
    s3_bucket: S3Bucket, clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTODES_BLOB_URL", f"s3://{s3_bucket.bucket}/dept-a/")
    monkeypatch.setenv("CUSTODES_S3_ENDPOINT_URL", s3_bucket.endpoint)
    monkeypatch.setenv("CUSTODES_S3_ADDRESSING_STYLE", "path")
    vault = bootstrap.init_vault(Settings(home=tmp_path / "v"))
    assert isinstance(vault.blobs, S3BlobStore)
    assert (vault.blobs.bucket, vault.blobs.prefix) == (s3_bucket.bucket, "dept-a/")
    assert vault.blobs.scratch == tmp_path / "v" / "blob-scratch"
    sha = evidence.ingest(vault, "admin", clips["a"], add_case(vault)).sha256
    listed = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]
    pack = pack_sha256(vault)  # the policy pack in force is kept in the same store
    assert sorted(o["Key"] for o in listed) == sorted(
        f"dept-a/sha256/{h[:2]}/{h[2:4]}/{h}" for h in (sha, pack)
    )
    assert not (tmp_path / "v" / "blobs").exists()
    vault.engine.dispose()


@pytest.mark.s3
def test_init_refuses_a_missing_bucket_before_making_anything(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    settings = S3Bucket(s3_bucket.endpoint, "no-such-bucket").settings(tmp_path / "v")
    with pytest.raises(BackendUnavailable, match="no bucket 'no-such-bucket'"):
        bootstrap.init_vault(settings)
    assert not (tmp_path / "v").exists()
