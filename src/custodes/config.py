"""Typed settings, read from the environment (``CUSTODES_*``) and built once in ``bootstrap``."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from custodes.core.errors import InvalidInput

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class Settings(BaseSettings):
    """Where the vault lives and which backends it uses.

    The defaults (a SQLite file and a blob folder inside ``home``) need no server.
    """

    model_config = SettingsConfigDict(env_prefix="CUSTODES_", extra="ignore")

    home: Path = Field(default=Path("custodes-data"))
    database_url: str | None = None
    blob_url: str | None = None
    broker_url: str | None = None
    user: str | None = None
    policy_pack: str = "colorado"  # a built-in pack name, or a path to a pack file
    agency: str = "Police Department"  # the name letters are signed with
    # The department's C2PA signing certificate chain and key (PEM files), and the roots
    # a reader should trust; unset: the vault makes its own (storage/credentials.py).
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None
    c2pa_trust_anchors: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'vault.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        url = self.blob_url
        if not url:
            return self.home / "blobs"
        if url.startswith("file://"):
            return Path(url.removeprefix("file://"))
        scheme = _URL_SCHEME.match(url)
        if scheme is not None and scheme.group(1).lower() == "file":  # file:/path
            return Path(url[len("file:") :])
        if scheme is not None and len(scheme.group(1)) > 1:  # not a drive letter (C:)
            raise InvalidInput(
                f"unsupported blob URL scheme '{scheme.group(1)}' (a path or file:// URL)",
                advice="S3 is planned; set CUSTODES_BLOB_URL to a folder for now",
            )
        return Path(url)
