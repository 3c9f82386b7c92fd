"""Wires settings to adapters: the one place that builds engines, stores and keys."""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from custodes.config import Settings
from custodes.core.errors import IntegrityFailure, InvalidInput, NotFound
from custodes.core.ports import BlobStore, Clock, Signer
from custodes.storage.blobs.local import LocalBlobStore
from custodes.storage.credentials import (
    FOLDER as C2PA_FOLDER,
)
from custodes.storage.credentials import (
    SigningCredential,
    load_credential,
    load_or_create_credential,
    self_made_credential_exists,
)
from custodes.storage.db import make_engine
from custodes.storage.keys import Ed25519Signer
from custodes.storage.uow import UnitOfWork

VAULT_FILE = "vault.json"
KEY_FILE = Path("keys") / "log-ed25519.pem"
WATERMARK_SECRET_FILE = Path("keys") / "watermark.secret"
CHECKPOINT_FILE = Path("log") / "checkpoint"
CHECKPOINT_HISTORY = Path("log") / "checkpoints.log"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def client_description() -> str:
    """Who is at the keyboard, as the operating system tells it (like psql peer auth)."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = str(os.getuid())
    return f"cli os-user={os_user} host={socket.gethostname()} pid={os.getpid()}"


@dataclass
class Vault:
    """An opened vault: its settings and the adapters chosen for them."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    clock: Clock
    origin: str
    client: str = field(default_factory=client_description)
    # The verifier key that vault.json publishes; the signing key must match it.
    published_vkey: str | None = None
    # Only while ``custodes init`` builds the vault may a signing key be created.
    creating: bool = False
    _signer: Signer | None = None

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            path = self.home / KEY_FILE
            if self.creating:
                self._signer = Ed25519Signer.load_or_create(path, self.origin)
            else:
                self._signer = Ed25519Signer.load(
                    path, self.origin, expected_vkey=self.published_vkey
                )
        return self._signer

    @property
    def watermark_secret(self) -> bytes:
        """The vault secret that, with an export id, keys each export's invisible mark.

        Only ``custodes init`` creates it: a new secret would key new copies differently
        and leave every earlier copy untraceable, so a missing one is an integrity failure.
        """
        path = self.home / WATERMARK_SECRET_FILE
        if not self.creating and not path.exists():
            raise IntegrityFailure(
                f"the vault's watermark secret {path} is missing; restore it from backup",
                advice="without it no earlier copy can be traced; only 'custodes init' makes one",
            )
        return load_or_create_secret(path)

    def content_credential(self) -> SigningCredential:
        """The certificate that signs released copies' C2PA manifests: the department's
        (``CUSTODES_C2PA_CERT`` and ``CUSTODES_C2PA_KEY``), else the vault's self-made one."""
        st = self.settings
        if st.c2pa_cert is not None or st.c2pa_key is not None:
            if st.c2pa_cert is None or st.c2pa_key is None:
                raise InvalidInput("set both CUSTODES_C2PA_CERT and CUSTODES_C2PA_KEY, or neither")
            return load_credential(st.c2pa_cert, st.c2pa_key, st.c2pa_trust_anchors)
        if not self.creating and not self_made_credential_exists(self.home):
            self._refuse_new_credential_if_signed_before()
        return load_or_create_credential(self.home, st.agency)

    def _refuse_new_credential_if_signed_before(self) -> None:
        """The self-made credential is made on first use; once copies were signed with
        it, a missing one is restored, never replaced (those copies would stop verifying)."""
        from sqlalchemy import func, select

        from custodes.storage import tables as t

        with self.uow(readonly=True) as uow:  # a plain read: a release may hold the writer lock
            signed = uow.conn.execute(
                select(func.count())
                .select_from(t.exports)
                .where(t.exports.c.lineage.contains('"c2pa-manifest"'))
            ).scalar_one()
        if signed:
            raise IntegrityFailure(
                f"the vault's Content Credentials signing key ({self.home / C2PA_FOLDER}) is "
                f"missing, and {signed} released cop{'y was' if signed == 1 else 'ies were'} "
                "signed with it; restore it from backup",
                advice="a new root would not verify the copies already released",
            )

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, readonly=readonly)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random secret kept in a 0600 file; created once, never overwritten."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        data = path.read_bytes()
    if len(data) != size:
        raise InvalidInput(f"{path} is damaged: expected a {size}-byte secret")
    return data


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


def open_vault(settings: Settings, *, origin: str | None = None) -> Vault:
    """Open an existing vault (or, with ``origin``, one being created).

    An existing vault's signing key is loaded and checked against the published key
    first, so that a missing or wrong key is refused before anything is written.
    """
    creating = origin is not None
    published: str | None = None
    if origin is None:
        data = read_vault_file(settings.home)
        origin = data["origin"]
        published = data.get("vkey")
    vault = Vault(
        settings=settings,
        engine=make_engine(settings.resolved_database_url),
        blobs=LocalBlobStore(settings.blob_root),
        clock=SystemClock(),
        origin=origin,
        published_vkey=published,
        creating=creating,
    )
    if not creating:
        _ = vault.signer
    return vault
