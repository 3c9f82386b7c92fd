"""The vault's keys on its own disk, under ``<home>/keys/`` (mode 0700 folder, 0600 files).

The store only reports what it holds; which key may be made when is decided by
``services.context`` (business rules) and by ``bootstrap`` (only ``init`` makes the
log key and the watermark secret).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from custodes.core.errors import InvalidInput
from custodes.core.ports import Signer, SigningCredential
from custodes.storage.credentials import FOLDER as C2PA_FOLDER
from custodes.storage.credentials import (
    ROOT_FILE,
    chain_root_pem,
    load_credential,
    load_or_create_credential,
    self_made_credential_exists,
)
from custodes.storage.keys import Ed25519Signer

KEY_FILE = Path("keys") / "log-ed25519.pem"
WATERMARK_SECRET_FILE = Path("keys") / "watermark.secret"


class FileKeyStore:
    """Keys in files under the vault's home; the department's C2PA credential where the
    settings name one (``CUSTODES_C2PA_CERT``, ``CUSTODES_C2PA_KEY``)."""

    def __init__(
        self,
        home: Path,
        origin: str,
        *,
        agency: str,
        published_vkey: str | None = None,
        creating: bool = False,
        c2pa_cert: Path | None = None,
        c2pa_key: Path | None = None,
        c2pa_trust_anchors: Path | None = None,
    ) -> None:
        self.home = home
        self.origin = origin
        self.agency = agency
        self.published_vkey = published_vkey
        self.creating = creating
        self.c2pa_cert = c2pa_cert
        self.c2pa_key = c2pa_key
        self.c2pa_trust_anchors = c2pa_trust_anchors
        self._signer: Signer | None = None

    def location(self, key: str) -> str:
        return str(
            self.home
            / {"watermark-secret": WATERMARK_SECRET_FILE, "log-key": KEY_FILE}.get(key, C2PA_FOLDER)
        )

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

    def watermark_secret(self) -> bytes | None:
        path = self.home / WATERMARK_SECRET_FILE
        if not self.creating and not path.exists():
            return None
        return load_or_create_secret(path)

    def content_credential(self, *, may_create: bool) -> SigningCredential | None:
        if self.c2pa_cert is not None or self.c2pa_key is not None:
            if self.c2pa_cert is None or self.c2pa_key is None:
                raise InvalidInput("set both CUSTODES_C2PA_CERT and CUSTODES_C2PA_KEY, or neither")
            return load_credential(self.c2pa_cert, self.c2pa_key, self.c2pa_trust_anchors)
        if not (self.creating or may_create) and not self_made_credential_exists(self.home):
            return None
        return load_or_create_credential(self.home, self.agency)

    def trust_anchors(self) -> bytes | None:
        for path in (self.c2pa_trust_anchors, self.home / C2PA_FOLDER / ROOT_FILE):
            if path is not None and path.is_file():
                return path.read_bytes()
        if self.c2pa_cert is not None and self.c2pa_cert.is_file():
            return chain_root_pem(self.c2pa_cert)
        return None


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
