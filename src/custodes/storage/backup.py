"""Backup and restore of a whole vault: its database, its blobs and its home folder (the
keys, ``vault.json`` and the published checkpoints).

A backup is a folder::

    manifest.json        written last: the format, the vault's origin, and the SHA-256
                         and size of every other file (a backup without it is unfinished)
    database/vault.db    SQLite: a copy made with SQLite's online backup API, or
    database/*.jsonl     PostgreSQL: every table's rows as JSON lines, read in one
                         REPEATABLE READ snapshot through SQLAlchemy (no pg_dump needed,
                         so no client/server version to match), and the schema revision
    home/...             vault.json, keys/ (log key, watermark secret, C2PA credential),
                         log/ (the published checkpoint and its history)
    blobs/<sha256>       every blob of the store, read through the blob port

The order makes the copy consistent without stopping the vault: the home folder first,
then the database (a published checkpoint is never ahead of the log), then the blobs
(a blob is stored before the row that names it commits). Restoring checks every file
against the manifest before anything is written, and removes what it made if it fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine

from custodes.core.errors import CustodyConflict, IntegrityFailure, InvalidInput
from custodes.core.ports import BlobStore
from custodes.storage import migrations
from custodes.storage import tables as t
from custodes.storage.db import sqlite_path

FORMAT = "custodes-backup/1"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
_SKIPPED_IN_HOME = {"vault.db", "vault.db-wal", "vault.db-shm", "blobs", "blob-scratch", "models"}
_SKIPPED_NAMES = {".publish.lock"}


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (or what a restore put back)."""

    path: str
    origin: str
    database: str  # "sqlite" or "postgresql"
    files: int
    blobs: int
    bytes: int
    manifest_sha256: str


# ------------------------------------------------------------------------------ create


def create(
    dest: Path,
    *,
    home: Path,
    origin: str,
    engine: Engine,
    blobs: BlobStore,
    blob_folder: Path | None,
) -> BackupSummary:
    """Write a backup of the vault into ``dest`` (a new or empty folder)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CustodyConflict(f"{dest} exists and is not an empty folder", field="dest")
    if dest.resolve().is_relative_to(home.resolve()):
        raise InvalidInput(f"{dest} is inside the vault folder {home}", field="dest")
    made_dest = not dest.exists()
    try:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        skipped = {home / name for name in _SKIPPED_IN_HOME}
        if blob_folder is not None:
            skipped.add(blob_folder)
        _copy_home(home, dest / "home", skipped)
        kind = engine.dialect.name
        (dest / "database").mkdir(mode=0o700)
        if kind == "sqlite":
            _sqlite_backup(engine, dest / "database" / "vault.db")
        else:
            _dump_tables(engine, dest / "database")
        (dest / "blobs").mkdir(mode=0o700)
        count = 0
        for sha in sorted(blobs.iter_hashes()):
            with blobs.open(sha) as src:
                _write_stream(src, dest / "blobs" / sha)
            count += 1
        files = _hash_tree(dest)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "origin": origin,
            "database": kind,
            "blobs": count,
            "files": files,
        }
        manifest_bytes = (json.dumps(manifest, indent=1) + "\n").encode()
        _write_atomically(dest / MANIFEST, manifest_bytes)
    except BaseException:
        if made_dest:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in list(dest.iterdir()):
                (shutil.rmtree if child.is_dir() else os.unlink)(child)
        raise
    return BackupSummary(
        str(dest),
        origin,
        kind,
        len(files),
        count,
        sum(f["size"] for f in files.values()),
        hashlib.sha256(manifest_bytes).hexdigest(),
    )


def _copy_home(home: Path, dest: Path, skipped: set[Path]) -> None:
    dest.mkdir(mode=0o700)
    for root, dirs, names in os.walk(home):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if here / d not in skipped)
        for d in dirs:
            (dest / (here / d).relative_to(home)).mkdir(mode=0o700)
        for name in sorted(names):
            path = here / name
            if path in skipped or name in _SKIPPED_NAMES or name.endswith(".tmp"):
                continue
            if not path.is_file() or path.is_symlink():
                continue
            target = dest / path.relative_to(home)
            shutil.copyfile(path, target)
            os.chmod(target, 0o600)


def _sqlite_backup(engine: Engine, target: Path) -> None:
    source = sqlite_path(str(engine.url))
    if source is None:
        raise InvalidInput("an in-memory SQLite database has no backup")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # the online backup API: a consistent copy while others write
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal/-shm
    finally:
        dst.close()
        src.close()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b"}:
        return base64.b64decode(value["$b"])
    return value


def _dump_tables(engine: Engine, folder: Path) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            (folder / "revision").write_text(f"{revision}\n")
            present = set(inspect(conn).get_table_names())
            for table in t.metadata.sorted_tables:
                if table.name not in present:
                    continue
                query = select(table).order_by(*table.primary_key.columns)
                with open(folder / f"{table.name}.jsonl", "w") as fh:
                    for row in conn.execute(query).mappings():
                        fh.write(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n")


def _write_stream(src: BinaryIO, target: Path) -> None:
    with open(target, "wb") as fh:
        while chunk := src.read(_CHUNK):
            fh.write(chunk)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _hash_tree(root: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != MANIFEST:
            out[rel] = {"sha256": _sha256(path), "size": path.stat().st_size}
    return out


# ----------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class Backup:
    """A backup folder whose every file was checked against its manifest."""

    path: Path
    origin: str
    database: str
    files: dict[str, dict[str, Any]]
    manifest_sha256: str

    @property
    def blob_hashes(self) -> list[str]:
        return sorted(rel.removeprefix("blobs/") for rel in self.files if rel.startswith("blobs/"))


def check(src: Path) -> Backup:
    """Read ``src``'s manifest and check every file against it: present, of its size and
    hash, nothing missing or added, every blob named by its own hash. IntegrityFailure
    (one line naming the first fault) otherwise; nothing is written."""
    manifest_path = src / MANIFEST
    if not src.is_dir():
        raise InvalidInput(f"no backup at {src}: not a folder", field="src")
    try:
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
    except FileNotFoundError:
        raise IntegrityFailure(
            f"the backup at {src} has no {MANIFEST}: it is unfinished or not a backup"
        ) from None
    except (OSError, ValueError) as exc:
        raise IntegrityFailure(f"the backup's {MANIFEST} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IntegrityFailure(f"{manifest_path} is not a {FORMAT} manifest")
    files = manifest.get("files")
    origin, kind = manifest.get("origin"), manifest.get("database")
    if (
        not isinstance(files, dict)
        or not isinstance(origin, str)
        or kind
        not in (
            "sqlite",
            "postgresql",
        )
    ):
        raise IntegrityFailure(f"{manifest_path} is not a {FORMAT} manifest")
    present = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()} - {MANIFEST}
    for rel in sorted(set(files) - present):
        raise IntegrityFailure(f"the backup is incomplete: {rel} is missing")
    for rel in sorted(present - set(files)):
        raise IntegrityFailure(f"the backup holds a file its manifest does not list: {rel}")
    for rel, want in sorted(files.items()):
        path = src / rel
        size = path.stat().st_size
        if size != want.get("size"):
            raise IntegrityFailure(
                f"the backup is corrupt: {rel} has {size} bytes, the manifest says "
                f"{want.get('size')} (truncated?)"
            )
        if _sha256(path) != want.get("sha256"):
            raise IntegrityFailure(f"the backup is corrupt: {rel} does not match its SHA-256")
        if rel.startswith("blobs/") and rel.removeprefix("blobs/") != want.get("sha256"):
            raise IntegrityFailure(f"the backup is corrupt: {rel} is not named by its hash")
    return Backup(src, origin, kind, files, hashlib.sha256(manifest_bytes).hexdigest())


def restore_database(backup: Backup, engine: Engine, progress: Callable[[], None]) -> None:
    """Put the backed-up database into ``engine``'s (empty) database, in one go: a
    SQLite file is copied with the backup API; PostgreSQL tables are made by the
    migrations and filled in one transaction. A failure removes what was made."""
    kind = engine.dialect.name
    if kind != backup.database:
        raise InvalidInput(
            f"the backup holds a {backup.database} database; the restore's database is "
            f"{kind} (set CUSTODES_DATABASE_URL to a {backup.database} database)"
        )
    if kind == "sqlite":
        target = sqlite_path(str(engine.url))
        if target is None:
            raise InvalidInput("cannot restore into an in-memory SQLite database")
        src = sqlite3.connect(
            f"file:{backup.path / 'database' / 'vault.db'}?mode=ro&immutable=1", uri=True
        )
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return
    folder = backup.path / "database"
    revision = (folder / "revision").read_text().strip()
    migrations.upgrade(engine, revision)
    try:
        with engine.begin() as conn:
            for table in t.metadata.sorted_tables:
                dump = folder / f"{table.name}.jsonl"
                if dump.exists():
                    _load_table(conn, table, dump)
                    progress()
    except BaseException:
        migrations.drop_schema(engine)
        raise


def _load_table(conn: Connection, table: Any, dump: Path) -> None:
    batch: list[dict[str, Any]] = []
    for rows in _rows(dump):
        batch.append(rows)
        if len(batch) >= 1000:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    for column in table.primary_key.columns:
        if column.autoincrement is True or (
            column.autoincrement == "auto" and column.type.python_type is int
        ):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                )
            )


def _rows(dump: Path) -> Iterator[dict[str, Any]]:
    with open(dump) as fh:
        for line in fh:
            yield {k: _decode(v) for k, v in json.loads(line).items()}


VAULT_FILE = "home/vault.json"


def restore_home(backup: Backup, home: Path, *, vault_file: bool) -> None:
    """Copy the backed-up home files (keys, log/) into ``home``; ``vault_file``: only
    ``vault.json``, which is put back last (a vault without it was never finished)."""
    root = backup.path / "home"
    for rel in sorted(backup.files):
        if not rel.startswith("home/") or (rel == VAULT_FILE) != vault_file:
            continue
        target = home / Path(rel).relative_to("home")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(root / Path(rel).relative_to("home"), target)
        os.chmod(target, 0o600)


def restore_blobs(
    backup: Backup, blobs: BlobStore, originals: set[str], progress: Callable[[], None]
) -> int:
    """Store every backed-up blob through the blob port (an original under the store's
    retention); each is re-hashed as it is staged and refused if it differs."""
    for sha in backup.blob_hashes:
        with open(backup.path / "blobs" / sha, "rb") as fh:
            staged = blobs.stage(fh)
        if staged.sha256 != sha:
            blobs.discard(staged)
            raise IntegrityFailure(f"the backup is corrupt: blobs/{sha} changed while read")
        blobs.commit(staged, retain=sha in originals)
        progress()
    return len(backup.blob_hashes)


def sqlite_originals(backup: Backup) -> set[str]:
    """The hashes of the originals the backed-up database names (retained on restore)."""
    if backup.database == "sqlite":
        db = sqlite3.connect(
            f"file:{backup.path / 'database' / 'vault.db'}?mode=ro&immutable=1", uri=True
        )
        try:
            return {str(r[0]) for r in db.execute("SELECT sha256 FROM evidence")}
        finally:
            db.close()
    dump = backup.path / "database" / "evidence.jsonl"
    if not dump.exists():
        return set()
    return {str(row["sha256"]) for row in _rows(dump)}


def home_is_free(home: Path) -> bool:
    return not home.exists() or (home.is_dir() and not any(home.iterdir()))
