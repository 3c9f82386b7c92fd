"""What the vault holds in its blob store, by the hash it recorded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeptBlob:
    """A blob the vault keeps: an original (``what`` "evidence") or a redacted copy
    ("redacted copy"), by its recorded SHA-256; ``size`` where the vault recorded it;
    ``held`` for an original whose case asks for a legal hold."""

    what: str
    id: str
    sha256: str
    size: int | None
    held: bool = False
