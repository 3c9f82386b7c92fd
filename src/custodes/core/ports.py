"""What the core and the services need from the outside world, as Protocols.

Each protocol has one class per backend, picked by configuration in ``bootstrap``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

Progress = Callable[[int], None]
"""Called with a number of bytes (or items) just processed."""


@dataclass(frozen=True)
class BlobRef:
    """A blob in the content-addressed store."""

    sha256: str  # lowercase hex
    size: int
    created: bool  # False when identical bytes were already stored (deduplicated)


@dataclass(frozen=True)
class StagedBlob:
    """Bytes streamed to a private temporary file and hashed, not yet in the store."""

    path: Path
    sha256: str
    size: int


class BlobStore(Protocol):
    """A content-addressed (SHA-256) store of immutable blobs."""

    def stage(self, src: BinaryIO, *, progress: Progress | None = None) -> StagedBlob:
        """Stream ``src`` into a temporary file while hashing it (constant memory)."""
        ...

    def commit(self, staged: StagedBlob) -> BlobRef:
        """Atomically move a staged blob into the store (fsync, rename, read-only)."""
        ...

    def discard(self, staged: StagedBlob) -> None:
        """Remove a staged blob that will not be kept."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for reading; raises NotFound."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """A filesystem path for the blob where the backend has one, else None."""
        ...

    def rehash(self, sha256: str, *, progress: Progress | None = None) -> str:
        """Re-read the blob and return the SHA-256 of what is actually stored.

        Raises NotFound when the blob is missing.
        """
        ...

    def iter_hashes(self) -> Iterator[str]: ...

    def sweep_temp(self) -> int:
        """Remove temporary files left by dead processes; return how many."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class Signer(Protocol):
    """An Ed25519 signer for signed notes (the vault key)."""

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        ...


Ed25519Verify = Callable[[bytes, bytes, bytes], None]
"""``verify(public_key, signature, message)``: returns None or raises IntegrityFailure."""
