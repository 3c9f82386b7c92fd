"""Wires settings to adapters: the one place that builds engines, stores and keys.

``open_vault`` gives a :class:`Vault`: the services' :class:`~custodes.services.context.Context`
(ports only) plus what the wiring itself needs (the settings and the database engine).
Front doors name the client of each call with ``vault.acting_for(...)``.

What is read without opening a vault (the published key and checkpoint, the C2PA trust
anchors, a root file given by hand) is built here too, so that front doors reach storage
only through this module.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from custodes.config import S3Location, Settings
from custodes.core.errors import BackendUnavailable, CustodyConflict, InvalidInput, NotFound
from custodes.core.ports import BlobStore
from custodes.services import policy as policy_svc
from custodes.services import vault as vault_svc
from custodes.services.context import Context
from custodes.storage import credentials, migrations
from custodes.storage.blobs.local import LocalBlobStore
from custodes.storage.checkpoints import CHECKPOINT_FILE, CHECKPOINT_HISTORY, FileCheckpointStore
from custodes.storage.db import check_database_url, make_engine, translate_errors
from custodes.storage.keys import ed25519_verify
from custodes.storage.packs import PackReader
from custodes.storage.uow import UnitOfWork
from custodes.storage.vaultkeys import KEY_FILE, WATERMARK_SECRET_FILE, FileKeyStore

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_HISTORY",
    "KEY_FILE",
    "VAULT_FILE",
    "WATERMARK_SECRET_FILE",
    "Vault",
    "checkpoint_store",
    "init_vault",
    "key_store",
    "open_vault",
    "published_vkey",
    "read_trust_anchors",
    "read_vault_file",
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


def read_trust_anchors(path: Path) -> bytes:
    """PEM root certificates to trust, read from a file a person named, and checked."""
    return credentials.read_trust_anchors(path)


def _blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name: a local folder, or an S3 bucket and prefix."""
    where = settings.blob_location
    if not isinstance(where, S3Location):
        return LocalBlobStore(where)
    # Imported here: boto3 takes a while to load, and the embedded vault never needs it.
    from custodes.storage.blobs.s3 import S3BlobStore, make_client

    client = make_client(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
    )
    return S3BlobStore(client, where.bucket, where.prefix, settings.resolved_blob_scratch)


def _build(
    settings: Settings, origin: str, *, published: str | None, creating: bool, client: str
) -> Vault:
    engine = make_engine(settings.resolved_database_url)

    def unit_of_work(readonly: bool) -> UnitOfWork:
        return UnitOfWork(engine, readonly=readonly)

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
        client=client,
        settings=settings,
        engine=engine,
    )


def open_vault(settings: Settings, *, client: str | None = None) -> Vault:
    """Open an existing vault, acting for ``client`` (default: this CLI process).

    The signing key is loaded and checked against the published key first, so that a
    missing or wrong key is refused before anything is written.
    """
    data = read_vault_file(settings.home)
    vault = _build(
        settings,
        data["origin"],
        published=data.get("vkey"),
        creating=False,
        client=client or cli_client(),
    )
    _ = vault.signer
    return vault


def init_vault(
    settings: Settings, *, client: str | None = None, policy_pack: str = DEFAULT_PACK
) -> Vault:
    """Create the vault folder, the signing key, the watermark secret, the schema and the
    ``admin`` user, with ``policy_pack`` (a built-in pack's name or a pack file) in
    force, then open it.

    Only here are the log key and the watermark secret made. The vault file is written
    last: a vault without one was never finished.
    """
    home = settings.home
    if (home / VAULT_FILE).exists():
        raise CustodyConflict(f"a vault already exists at {home}")
    # Refuse unusable settings before anything is made.
    blobs = _blob_store(settings)
    check_database_url(settings.resolved_database_url)
    next(iter(blobs.iter_hashes()), None)  # a bucket that is missing or refuses us
    pack_text, pack_source = policy_svc.check_pack_choice(
        PackReader(), policy_pack, SystemClock().now().date()
    )
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendUnavailable(f"cannot create {home}: {exc.strerror}") from exc
    origin = f"custodes.vault/{secrets.token_hex(8)}"
    creating = _build(
        settings, origin, published=None, creating=True, client=client or cli_client()
    )
    with translate_errors():
        migrations.upgrade(creating.engine)
    _ = creating.signer  # creates the key file (mode 0600)
    _ = creating.watermark_secret  # and the watermark secret (mode 0600)
    created_at = vault_svc.record_init(creating, pack_text, pack_source)
    vault_file = home / VAULT_FILE
    tmp = vault_file.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"origin": origin, "created_at": created_at, "vkey": vault_svc.public_vkey(creating)},
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp, vault_file)
    creating.engine.dispose()
    return open_vault(settings, client=creating.client)
