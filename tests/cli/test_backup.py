"""``custodes backup create|restore`` (issue 19): backup, wipe, restore, ``verify`` exits 0;
a corrupt, truncated or unfinished backup is refused in one line and nothing is left."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from custodes import bootstrap
from custodes.cli.app import main
from custodes.config import Settings
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    PermissionDenied,
)
from custodes.services import evidence
from custodes.services.audit import list_events
from custodes.services.verify import verify_vault
from tests.conftest import PG_URL, S3Bucket
from tests.factories import add_case, add_user
from tests.factories.writers import writers_adding_cases


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["custodes", "--as", "admin", "--json", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> Path:
    """A SQLite vault holding one ingested recording, backed up (the vault is then wiped)."""
    root = tmp_path_factory.mktemp("backup")
    vault = bootstrap.init_vault(Settings(home=root / "vault"))
    rec = add_user(vault, "records")
    evidence.ingest(vault, rec, clips["a"], add_case(vault))
    summary = bootstrap.backup_vault(vault, "admin", root / "backup")
    with vault.uow(readonly=True) as uow:
        recorded = list_events(uow)[-1]
    assert recorded["action"] == "backup" and recorded["actor"] == "admin"
    assert recorded["details"]["manifest_sha256"] == summary.manifest_sha256
    assert (
        summary.manifest_sha256
        == hashlib.sha256((root / "backup" / "manifest.json").read_bytes()).hexdigest()
    )
    vault.engine.dispose()
    shutil.rmtree(root / "vault")  # the wipe
    return root / "backup"


def _copy(backup: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(backup, copy)
    return copy


def test_backup_wipe_restore_verify(
    backed_up: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = json.loads((backed_up / "manifest.json").read_text())
    assert manifest["database"] == "sqlite" and manifest["blobs"] >= 1
    assert {"home/vault.json", "home/keys/log-ed25519.pem", "database/vault.db"} <= set(
        manifest["files"]
    )
    home = tmp_path / "restored"
    code, out, err = cli(
        capsys, monkeypatch, "--home", str(home), "backup", "restore", str(backed_up)
    )
    assert code == 0, err
    assert json.loads(out)["origin"] == manifest["origin"]
    code, out, err = cli(capsys, monkeypatch, "--home", str(home), "verify")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["blobs"] >= 1 and report["events"] > 3
    # a second restore into the same home is refused, and leaves the first alone
    code, _, err = cli(
        capsys, monkeypatch, "--home", str(home), "backup", "restore", str(backed_up)
    )
    assert code == CustodyConflict.exit_code and "not empty" in err
    assert (home / "vault.json").exists()


def _flip_blob(backup: Path) -> None:
    blob = next((backup / "blobs").iterdir())
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))


def _truncate_db(backup: Path) -> None:
    db = backup / "database" / "vault.db"
    db.write_bytes(db.read_bytes()[:4096])


def _drop_manifest(backup: Path) -> None:
    (backup / "manifest.json").unlink()


def _drop_key(backup: Path) -> None:
    (backup / "home" / "keys" / "log-ed25519.pem").unlink()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_flip_blob, "does not match its SHA-256"),
        (_truncate_db, "database/vault.db has 4096 bytes"),
        (_drop_manifest, "unfinished or not a backup"),
        (_drop_key, "home/keys/log-ed25519.pem is missing"),
    ],
)
def test_a_damaged_backup_is_refused_and_nothing_is_left(
    backed_up: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: Any,
    said: str,
) -> None:
    copy = _copy(backed_up, tmp_path)
    code, _, err = cli(capsys, monkeypatch, "backup", "check", str(copy))
    assert code == 0, err
    damage(copy)
    code, _, err = cli(capsys, monkeypatch, "backup", "check", str(copy))
    assert code == IntegrityFailure.exit_code and said in err
    home = tmp_path / "restored"
    code, out, err = cli(capsys, monkeypatch, "--home", str(home), "backup", "restore", str(copy))
    assert code == IntegrityFailure.exit_code, err
    assert said in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not home.exists()


def test_a_restore_that_fails_part_way_removes_what_it_made(
    backed_up: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custodes.storage import backup as backup_mod

    def fail(*_: object, **__: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(backup_mod, "restore_blobs", fail)
    home = tmp_path / "restored"
    with pytest.raises(OSError, match="disk full"):
        bootstrap.restore_vault(Settings(home=home), backed_up)
    assert not home.exists()


def test_backup_create_refuses_a_folder_that_holds_something(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "vault"
    bootstrap.init_vault(Settings(home=home)).engine.dispose()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "x").write_text("x")
    code, _, err = cli(capsys, monkeypatch, "--home", str(home), "backup", "create", str(dest))
    assert code == CustodyConflict.exit_code and "not an empty folder" in err
    assert (dest / "x").read_text() == "x" and len(list(dest.iterdir())) == 1
    inside = home / "backup"
    code, _, err = cli(capsys, monkeypatch, "--home", str(home), "backup", "create", str(inside))
    assert code == InvalidInput.exit_code and "inside the vault folder" in err
    assert not inside.exists()


def test_only_an_admin_backs_up_and_a_refusal_is_on_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = bootstrap.init_vault(Settings(home=tmp_path / "vault"))
    try:
        clerk = add_user(vault, "records")
        with pytest.raises(PermissionDenied):
            bootstrap.backup_vault(vault, clerk, tmp_path / "dest")
        assert not (tmp_path / "dest").exists()
        with vault.uow(readonly=True) as uow:
            last = list_events(uow)[-1]
        assert last["action"] == "access-refused" and last["actor"] == clerk
    finally:
        vault.engine.dispose()


@pytest.mark.postgres
def test_postgresql_backup_wipe_restore_verify(
    tmp_path: Path, pg_schema_url: str, clips: dict[str, Path]
) -> None:
    vault = bootstrap.init_vault(Settings(home=tmp_path / "vault", database_url=pg_schema_url))
    rec = add_user(vault, "records")
    evidence.ingest(vault, rec, clips["b"], add_case(vault))
    bootstrap.backup_vault(vault, "admin", tmp_path / "backup")
    vault.engine.dispose()
    shutil.rmtree(tmp_path / "vault")
    schema = "r_" + make_url(pg_schema_url).query["options"].split("=")[1][2:]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        settings = Settings(
            home=tmp_path / "restored", database_url=url.render_as_string(hide_password=False)
        )
        bootstrap.restore_vault(settings, tmp_path / "backup")
        restored = bootstrap.open_vault(settings)
        try:
            report = verify_vault(restored, "admin")
            assert report.ok, report.problems
            assert report.blobs >= 1
            add_case(restored)  # new rows get fresh ids after the restored ones
        finally:
            restored.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.s3
def test_a_backup_restores_into_an_s3_blob_store(
    backed_up: Path, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    """The blobs go back through the blob port, wherever the new vault keeps them."""
    settings = s3_bucket.settings(tmp_path / "restored")
    summary = bootstrap.restore_vault(settings, backed_up)
    restored = bootstrap.open_vault(settings)
    try:
        report = verify_vault(restored, "admin")
        assert report.ok, report.problems
        assert report.blobs >= 1 and summary.blobs >= report.blobs
        keys = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]
        assert len(keys) == summary.blobs
    finally:
        restored.engine.dispose()


@pytest.mark.postgres
def test_a_backup_taken_while_writers_write_restores_whole(
    tmp_path: Path, pg_schema_url: str
) -> None:
    """No pause: the snapshot, the files and the blobs of an online backup agree."""
    vault = bootstrap.init_vault(Settings(home=tmp_path / "vault", database_url=pg_schema_url))
    try:
        with writers_adding_cases(vault, 3, "O") as failures:
            summary = bootstrap.backup_vault(vault, "admin", tmp_path / "backup")
    finally:
        vault.engine.dispose()
    assert failures == [] and summary.database == "postgresql"
    schema = "o_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        settings = Settings(
            home=tmp_path / "restored", database_url=url.render_as_string(hide_password=False)
        )
        bootstrap.restore_vault(settings, tmp_path / "backup")
        restored = bootstrap.open_vault(settings)
        try:
            report = verify_vault(restored, "admin", blobs=False)
            assert report.ok, report.problems
        finally:
            restored.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
