"""Wires settings to adapters: the one place that builds engines, stores and keys.

``open_vault`` gives a :class:`Vault`: the services' :class:`~custodes.services.context.Context`
(ports only) plus what the wiring itself needs (the settings and the database engine).
Front doors name the client of each call with ``vault.acting_for(...)``.

What is read without opening a vault (the published key and checkpoint, the C2PA trust
anchors, a root file given by hand) is built here too, so that front doors reach storage
only through this module.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import json
import os
import secrets
import shutil
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine, make_url

from custodes.config import S3Location, Settings
from custodes.core.errors import (
    BackendUnavailable,
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
)
from custodes.core.ports import BlobStore, InProcessQueue, JobQueue, NullProgress, ProgressSink
from custodes.services import backup as backup_svc
from custodes.services import policy as policy_svc
from custodes.services import sso as sso_svc
from custodes.services import vault as vault_svc
from custodes.services.context import Context
from custodes.storage import backup, credentials, grants, migrations
from custodes.storage.blobs.local import LocalBlobStore
from custodes.storage.checkpoints import CHECKPOINT_FILE, CHECKPOINT_HISTORY, FileCheckpointStore
from custodes.storage.db import (
    PoolSettings,
    check_database_url,
    make_engine,
    sqlite_path,
    translate_errors,
)
from custodes.storage.jobqueue import QUEUE as PROCRASTINATE_QUEUE
from custodes.storage.jobqueue import TASK as PROCRASTINATE_TASK
from custodes.storage.jobqueue import ProcrastinateQueue
from custodes.storage.keys import ed25519_verify
from custodes.storage.packs import PackReader
from custodes.storage.uow import UnitOfWork
from custodes.storage.vaultkeys import KEY_FILE, WATERMARK_SECRET_FILE, FileKeyStore

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_HISTORY",
    "KEY_FILE",
    "PROCRASTINATE_QUEUE",
    "PROCRASTINATE_TASK",
    "VAULT_FILE",
    "WATERMARK_SECRET_FILE",
    "IPNetwork",
    "Vault",
    "checkpoint_store",
    "init_vault",
    "key_store",
    "libpq_url",
    "open_vault",
    "public_origin",
    "published_vkey",
    "read_trust_anchors",
    "read_vault_file",
    "sso_settings",
    "trusted_proxies",
]

VAULT_FILE = "vault.json"
DEFAULT_PACK = "colorado"
"""The policy pack a new vault starts with unless ``init`` is told another."""

verify_signature = ed25519_verify
"""Checks an Ed25519 signature (for proofs checked away from any vault)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def cli_client() -> str:
    """Who is at the keyboard, as the operating system tells it (like psql peer auth)."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = str(os.getuid())
    return f"cli os-user={os_user} host={socket.gethostname()} pid={os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class Vault(Context):
    """An opened vault: the services' context, with its settings and database engine."""

    settings: Settings
    engine: Engine

    @property
    def home(self) -> Path:
        return self.settings.home


def read_vault_file(home: Path) -> dict[str, str]:
    path = home / VAULT_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(
            f"no vault at {home}", advice="run 'custodes init' or set CUSTODES_HOME / --home"
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is unreadable: {exc}") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("origin"), str)
        or not isinstance(data.get("vkey", ""), str)
    ):
        raise InvalidInput(f"{path} is not a custodes vault file")
    return data


def published_vkey(settings: Settings) -> str | None:
    """The vault's public key as ``vault.json`` publishes it (no key file is read);
    None where the file names none. Raises NotFound where there is no vault."""
    return read_vault_file(settings.home).get("vkey") or None


def checkpoint_store(settings: Settings) -> FileCheckpointStore:
    """Where the vault publishes its newest signed checkpoint (nothing is opened)."""
    return FileCheckpointStore(settings.home)


def key_store(
    settings: Settings,
    origin: str = "",
    *,
    published: str | None = None,
    creating: bool = False,
) -> FileKeyStore:
    """The vault's keys as the settings place them. Built without an opened vault (no
    ``origin``), it serves what needs no log key, such as the C2PA trust anchors."""
    return FileKeyStore(
        settings.home,
        origin,
        agency=settings.agency,
        published_vkey=published,
        creating=creating,
        c2pa_cert=settings.c2pa_cert,
        c2pa_key=settings.c2pa_key,
        c2pa_trust_anchors=settings.c2pa_trust_anchors,
    )


def libpq_url(settings: Settings) -> str:
    """The vault's PostgreSQL database as a libpq URL (no SQLAlchemy driver name), for
    clients that connect on their own (Procrastinate's workers)."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "postgresql":
        raise InvalidInput("the vault's database is not PostgreSQL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def public_origin(settings: Settings) -> str | None:
    """Where people reach the web server (``CUSTODES_PUBLIC_ORIGIN``) as a browser writes
    it in ``Origin`` (``scheme://host[:port]``), None where unset; InvalidInput where the
    setting is not an origin."""
    text = (settings.public_origin or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidInput(f"the public origin '{text}' is not https://host[:port]")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def trusted_proxies(settings: Settings) -> tuple[IPNetwork, ...]:
    """The networks whose ``X-Forwarded-For`` the web believes (``CUSTODES_TRUSTED_PROXIES``,
    comma-separated addresses or CIDR networks); none where unset. InvalidInput, naming
    the entry, where one is neither."""
    out: list[IPNetwork] = []
    for entry in settings.trusted_proxies.split(","):
        text = entry.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InvalidInput(
                f"trusted proxy '{text[:60]}' is not an address or a network (10.0.0.0/8)",
                field="trusted_proxies",
            ) from None
    return tuple(out)


def sso_settings(settings: Settings) -> sso_svc.SsoSettings | None:
    """The OpenID provider of single sign-on (``CUSTODES_OIDC_*``), None where no issuer is
    set. The client secret is read from its file here, once; InvalidInput where the file
    cannot be read or the settings are incomplete."""
    if not (settings.oidc_issuer or "").strip():
        return None
    secret = None
    path = settings.oidc_client_secret_file
    if path is not None:
        try:
            secret = path.read_text().strip()
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the OpenID client secret file {path}: {exc.strerror or exc}",
                field="oidc_client_secret_file",
            ) from exc
    return sso_svc.settings_for(
        settings.oidc_issuer,
        settings.oidc_client_id,
        secret,
        settings.oidc_username_claim,
        settings.oidc_trust_mfa,
        settings.oidc_name,
    )


def read_trust_anchors(path: Path) -> bytes:
    """PEM root certificates to trust, read from a file a person named, and checked."""
    return credentials.read_trust_anchors(path)


def _blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name: a local folder, or an S3 bucket and prefix."""
    where = settings.blob_location
    if not isinstance(where, S3Location):
        if settings.retention_days is not None:
            raise InvalidInput(
                "a retention lock needs the S3 blob store (a folder cannot lock)",
                advice="set CUSTODES_BLOB_URL=s3://BUCKET/PREFIX, or unset CUSTODES_RETENTION_DAYS",
            )
        return LocalBlobStore(where)
    # Imported here: boto3 takes a while to load, and the embedded vault never needs it.
    from custodes.storage.blobs.s3 import S3BlobStore, make_client

    client = make_client(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
    )
    days = settings.retention_days
    store = S3BlobStore(
        client,
        where.bucket,
        where.prefix,
        settings.resolved_blob_scratch,
        retention=None if days is None else timedelta(days=days),
    )
    store.check_object_lock()
    return store


def pool_settings(settings: Settings) -> PoolSettings:
    """The database connection pool the settings ask for (a server database's)."""
    return PoolSettings(
        size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        timeout=settings.db_pool_timeout,
        recycle=settings.db_pool_recycle,
    )


def _build(
    settings: Settings, origin: str, *, published: str | None, creating: bool, client: str
) -> Vault:
    engine = make_engine(settings.resolved_database_url, pool_settings(settings))

    def unit_of_work(readonly: bool) -> UnitOfWork:
        return UnitOfWork(engine, readonly=readonly)

    jobs: JobQueue = (
        ProcrastinateQueue() if settings.job_engine == "procrastinate" else InProcessQueue()
    )

    return Vault(
        origin=origin,
        clock=SystemClock(),
        blobs=_blob_store(settings),
        keys=key_store(settings, origin, published=published, creating=creating),
        checkpoints=checkpoint_store(settings),
        policy=PackReader(),
        verify_signature=ed25519_verify,
        unit_of_work=unit_of_work,
        agency=settings.agency,
        model_dir=settings.home / "models",
        cache_dir=settings.home / "cache",
        client=client,
        jobs=jobs,
        export_dir=settings.resolved_export_dir,
        segment_seconds=settings.segment_seconds,
        upload_dir=settings.upload_dir or settings.home / "uploads",
        upload_max_size=settings.upload_max_size,
        upload_max_open=settings.upload_max_open,
        upload_expiry_s=settings.upload_expiry_hours * 3600.0,
        settings=settings,
        engine=engine,
    )


def open_vault(settings: Settings, *, client: str | None = None) -> Vault:
    """Open an existing vault, acting for ``client`` (default: this CLI process).

    The database must hold this home's vault (the origin of its signed log), and the
    signing key is loaded and checked against the published key, so that a wrong
    database or a missing or wrong key is refused before anything is written.
    """
    try:
        data = read_vault_file(settings.home)
    except NotFound as exc:
        raise _no_vault_here(settings, exc) from None
    vault = _build(
        settings,
        data["origin"],
        published=data.get("vkey"),
        creating=False,
        client=client or cli_client(),
    )
    _ = vault.signer
    _check_database_holds(vault, data["origin"])
    return vault


def _database_shown(settings: Settings) -> str:
    return check_database_url(settings.resolved_database_url)


def _no_vault_here(settings: Settings, missing: NotFound) -> NotFound:
    """ "No vault at HOME", and where a configured database holds one, which."""
    if not settings.database_url:
        return missing
    try:
        engine = make_engine(settings.resolved_database_url)
        try:
            with translate_errors():
                held = migrations.holding(engine)
        finally:
            engine.dispose()
    except CustodesError:
        return missing  # the database says nothing more; the home is what is missing
    if held.origin is None:
        return missing
    return NotFound(
        f"no vault at {settings.home}, but the database {_database_shown(settings)} holds "
        f"vault {held.origin}: point --home (CUSTODES_HOME) at that vault's folder",
        advice="its folder holds the signing key and vault.json; a new vault needs "
        "a database of its own (CUSTODES_DATABASE_URL)",
    )


def _check_database_holds(vault: Vault, origin: str) -> None:
    """Refuse a database that is empty or holds another vault than the home's."""
    sqlite_file = sqlite_path(vault.settings.resolved_database_url)
    if sqlite_file is not None and not sqlite_file.exists():  # connecting would make one
        vault.engine.dispose()
        raise IntegrityFailure(
            f"the vault's database {sqlite_file} is missing: restore it from backup"
        )
    with translate_errors():
        held = migrations.holding(vault.engine)
    shown = _database_shown(vault.settings)
    if held.origin == origin:
        return
    vault.engine.dispose()
    if held.empty:
        raise NotFound(
            f"the database {shown} holds no vault; the vault at {vault.settings.home} "
            f"({origin}) keeps its records in another database: set CUSTODES_DATABASE_URL "
            "to that one",
            advice="a new vault is made with 'custodes init' in a new folder",
        )
    if held.origin is None:
        raise NotFound(
            f"the database {shown} holds custodes tables but no signed log (an unfinished "
            f"vault), not the vault at {vault.settings.home} ({origin}): set "
            "CUSTODES_DATABASE_URL to that vault's database",
        )
    raise IntegrityFailure(
        f"the database {shown} holds vault {held.origin}, not the vault at "
        f"{vault.settings.home} ({origin}): set CUSTODES_DATABASE_URL to this vault's "
        "database, or --home to that vault's folder",
    )


def init_vault(
    settings: Settings, *, client: str | None = None, policy_pack: str = DEFAULT_PACK
) -> Vault:
    """Create the vault folder, the signing key, the watermark secret, the schema and the
    ``admin`` user, with ``policy_pack`` (a built-in pack's name or a pack file) in
    force, then open it.

    Only here are the log key and the watermark secret made. Everything is checked
    before anything is made (the settings, the blob store, the folder, an empty
    database), and a failure or an interruption part-way removes what was made: the
    folder or the entries made in it, the database file or the schema. The vault file is
    written last: a vault without one was never finished.
    """
    home = settings.home
    if (home / VAULT_FILE).exists():
        raise CustodyConflict(f"a vault already exists at {home}")
    # Refuse unusable settings before anything is made.
    blobs = _blob_store(settings)
    url = settings.resolved_database_url
    shown = check_database_url(url)
    next(iter(blobs.iter_hashes()), None)  # a bucket that is missing or refuses us
    folder = _Home.check(home)
    sqlite_file = sqlite_path(url)
    if sqlite_file is None or sqlite_file.exists():
        _check_database_empty(url, shown)
    pack_text, pack_source = policy_svc.check_pack_choice(
        PackReader(), policy_pack, SystemClock().now().date()
    )
    made = _Made(folder=folder, sqlite_file=sqlite_file)
    try:
        return _init(settings, client, made, pack_text, pack_source)
    except BaseException:
        made.undo()
        raise


def _init(
    settings: Settings, client: str | None, made: _Made, pack_text: bytes, pack_source: str
) -> Vault:
    home = settings.home
    made.folder.make()
    if made.sqlite_file is not None and not made.sqlite_file.exists():
        made.make_sqlite_file()
    origin = f"custodes.vault/{secrets.token_hex(8)}"
    creating = _build(
        settings, origin, published=None, creating=True, client=client or cli_client()
    )
    made.engine = creating.engine
    with translate_errors():
        migrations.upgrade(creating.engine)
    _ = creating.signer  # creates the key file (mode 0600)
    _ = creating.watermark_secret  # and the watermark secret (mode 0600)
    created_at = vault_svc.record_init(creating, pack_text, pack_source)
    vault_file = home / VAULT_FILE
    tmp = vault_file.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(
                json.dumps(
                    {
                        "origin": origin,
                        "created_at": created_at,
                        "vkey": vault_svc.public_vkey(creating),
                    },
                    indent=2,
                )
                + "\n"
            )
        os.replace(tmp, vault_file)
    except OSError as exc:
        raise BackendUnavailable(f"cannot write {vault_file}: {exc.strerror or exc}") from exc
    creating.engine.dispose()
    return open_vault(settings, client=creating.client)  # undone too if this fails


_FILE_MODE = 0o600  # vault.db, vault.json; keys and secrets are made 0600 by their stores
_DIR_MODE = 0o700


def _check_database_empty(url: str, shown: str) -> None:
    """Refuse a database that already holds custodes tables: a vault, or an init that
    did not finish (its tables would collide with the new vault's)."""
    engine = make_engine(url)
    try:
        with translate_errors():
            held = migrations.holding(engine)
    finally:
        engine.dispose()
    if held.origin is not None:
        raise CustodyConflict(
            f"the database {shown} already holds vault {held.origin}: give the new vault "
            "an empty database of its own (CUSTODES_DATABASE_URL)",
            advice="to use that vault, point --home (CUSTODES_HOME) at its folder",
        )
    if not held.empty:
        raise CustodyConflict(
            f"the database {shown} already holds custodes tables ({', '.join(held.tables)}) "
            "but no vault: give the new vault an empty database",
        )


@dataclass
class _Home:
    """The vault folder as init found it: made by init, or there already (and then
    private, or empty and made private)."""

    path: Path
    first_made: Path | None  # the topmost folder init makes (None: it exists)
    entries: frozenset[str]  # what an existing folder held
    mode: int | None  # its mode before init tightened it, if it did

    @classmethod
    def check(cls, home: Path) -> _Home:
        """Refuse a folder others may read that holds anything; say what init will do."""
        try:
            st = home.stat()
        except FileNotFoundError:
            first = home.absolute()
            while not first.parent.exists() and first.parent != first:
                first = first.parent
            return cls(home, first, frozenset(), None)
        except OSError as exc:
            raise BackendUnavailable(f"cannot use {home}: {exc.strerror}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"{home} exists and is not a folder")
        try:
            entries = frozenset(os.listdir(home))
        except OSError as exc:
            raise BackendUnavailable(f"cannot read {home}: {exc.strerror}") from exc
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077 and entries:
            raise InvalidInput(
                f"{home} is open to other users (mode {mode:o}) and not empty: the vault "
                "folder must be private",
                advice=f"choose a new folder, or restrict this one: chmod 700 {home}",
            )
        return cls(home, None, entries, mode if mode & 0o077 else None)

    def make(self) -> None:
        try:
            if self.first_made is not None:
                self.path.mkdir(mode=_DIR_MODE, parents=True)
            if self.first_made is not None or self.mode is not None:
                os.chmod(self.path, _DIR_MODE)  # whatever the umask left, or the mode it had
        except OSError as exc:
            raise BackendUnavailable(f"cannot create {self.path}: {exc.strerror}") from exc

    def undo(self) -> None:
        """Remove what init made: the folders it created, else the entries it added."""
        if self.first_made is not None:
            shutil.rmtree(self.first_made, ignore_errors=True)
            return
        with contextlib.suppress(OSError):
            for name in set(os.listdir(self.path)) - self.entries:
                entry = self.path / name
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            if self.mode is not None:
                os.chmod(self.path, self.mode)


@dataclass
class _Made:
    """What ``init`` has made so far, to be removed if it does not finish."""

    folder: _Home
    sqlite_file: Path | None
    made_sqlite_file: bool = False
    engine: Engine | None = None

    def make_sqlite_file(self) -> None:
        """Create the SQLite file private (0600) before SQLite does (0644 under the
        usual umask); its -wal and -shm files take the database file's mode."""
        path = self.sqlite_file
        assert path is not None
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
        except OSError as exc:
            raise BackendUnavailable(f"cannot create {path}: {exc.strerror}") from exc
        self.made_sqlite_file = True

    def undo(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.dispose()
            if not self.made_sqlite_file:
                with contextlib.suppress(Exception):  # best effort: the database is gone
                    migrations.drop_schema(engine)
                    engine.dispose()
        if self.made_sqlite_file and self.sqlite_file is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.sqlite_file}{suffix}").unlink(missing_ok=True)
        self.folder.undo()


# ------------------------------------------------------------------------- operations


def grant_app_role(settings: Settings, role: str, *, apply: bool = True) -> list[str]:
    """Grant the PostgreSQL ``role`` the application's rights on the vault's tables, and
    no UPDATE or DELETE on its append-only ones (``storage.grants``); run as the tables'
    owner. Returns the statements (``apply=False``: only returns them)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with translate_errors():
            return grants.grant_app_role(engine, role, apply=apply)
    finally:
        engine.dispose()


def backup_vault(vault: Vault, actor_name: str | None, dest: Path) -> backup.BackupSummary:
    """Back up ``vault`` (database, blobs, keys and home files) into the new folder
    ``dest``, with a manifest of hashes (``storage.backup``); admins only, on record
    (``services.backup``)."""
    where = vault.settings.blob_location
    made: list[backup.BackupSummary] = []

    def write() -> dict[str, object]:
        with translate_errors():
            summary = backup.create(
                dest,
                home=vault.home,
                origin=vault.origin,
                engine=vault.engine,
                blobs=vault.blobs,
                blob_folder=None if isinstance(where, S3Location) else where,
            )
        made.append(summary)
        return {
            "dest": summary.path,
            "manifest_sha256": summary.manifest_sha256,
            "database": summary.database,
            "files": summary.files,
            "blobs": summary.blobs,
            "bytes": summary.bytes,
        }

    backup_svc.take_backup(vault, actor_name, write)
    return made[0]


def check_backup(src: Path) -> backup.BackupSummary:
    """Check every file of the backup at ``src`` against its manifest (IntegrityFailure,
    one line, at the first fault); nothing is restored."""
    checked = backup.check(src)
    return backup.BackupSummary(
        str(src),
        checked.origin,
        checked.database,
        len(checked.files),
        len(checked.blob_hashes),
        sum(int(f["size"]) for f in checked.files.values()),
        checked.manifest_sha256,
    )


def restore_vault(
    settings: Settings, src: Path, *, progress: ProgressSink | None = None
) -> backup.BackupSummary:
    """Restore the backup at ``src`` as the vault the settings name (a new home, an empty
    database, the blob store): every file is checked against the manifest first, and a
    failure part-way removes what was made. The restored vault is opened (its key checked
    against its database) before this returns; ``custodes verify`` then proves it."""
    checked = backup.check(src)
    home = settings.home
    if not backup.home_is_free(home):
        raise CustodyConflict(
            f"{home} is not empty: restore into a new folder (--home)", field="home"
        )
    blobs = _blob_store(settings)
    url = settings.resolved_database_url
    shown = check_database_url(url)
    sqlite_file = sqlite_path(url)
    if sqlite_file is None or sqlite_file.exists():
        _check_database_empty(url, shown)
    made = _Made(folder=_Home.check(home), sqlite_file=sqlite_file)
    try:
        made.folder.make()
        if sqlite_file is not None and not sqlite_file.exists():
            sqlite_file.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            made.make_sqlite_file()
        backup.restore_home(checked, home, vault_file=False)
        made.engine = make_engine(url, pool_settings(settings))
        task = (progress or NullProgress()).start("restore", len(checked.blob_hashes) + 1)
        with translate_errors():
            backup.restore_database(checked, made.engine, lambda: None)
        task.advance(1)
        originals = backup.sqlite_originals(checked)
        count = backup.restore_blobs(checked, blobs, originals, lambda: task.advance(1))
        backup.restore_home(checked, home, vault_file=True)
        made.engine.dispose()
        opened = open_vault(settings)
        opened.engine.dispose()
    except BaseException:
        made.undo()
        raise
    size = sum(int(f["size"]) for f in checked.files.values())
    return backup.BackupSummary(
        str(home),
        checked.origin,
        checked.database,
        len(checked.files),
        count,
        size,
        checked.manifest_sha256,
    )


def readiness(vault: Vault) -> dict[str, str | None]:
    """Whether the vault can serve: the database answers, the blob store answers, and the
    keys load from their files and match the published key. Each check's failure in one
    line, or None where it passed (for ``/readyz``)."""
    checks: dict[str, str | None] = {}
    try:
        with translate_errors(), vault.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        checks["database"] = None
    except CustodesError as exc:
        checks["database"] = str(exc)
    try:
        next(iter(vault.blobs.iter_hashes()), None)
        checks["blobs"] = None
    except (CustodesError, OSError) as exc:
        checks["blobs"] = f"blob store unavailable: {exc}"
    except Exception as exc:  # a client library's own error (botocore): not ready
        checks["blobs"] = f"blob store unavailable: {type(exc).__name__}"
    try:
        keys = key_store(vault.settings, vault.origin, published=published_vkey(vault.settings))
        keys.signer()
        if keys.watermark_secret() is None:
            raise IntegrityFailure("the watermark secret is missing")
        checks["keys"] = None
    except (CustodesError, OSError) as exc:
        checks["keys"] = str(exc)
    return checks
