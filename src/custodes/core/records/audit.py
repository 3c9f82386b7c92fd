"""The audit log as stored: its running state, its entries and its signed checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core import merkle
from custodes.core.custody import GENESIS_HASH

StoredRow = tuple[int, bytes, bytes, str, str, str | None, str | None, str]
"""One stored event as ``custodes verify`` streams it, a plain tuple for speed:
``(seq, entry, leaf_hash, actor, action, case_number, evidence_id, at)``. The bytes
columns are ``bytes`` (a driver's ``memoryview`` or text put there behind the vault's
back is checked as it is: :class:`custodes.core.custody.LogVerifier` copes)."""


@dataclass(frozen=True)
class LogState:
    """The log's running state: its size, the right edge of its Merkle tree (RFC 6962
    compact range, serialised) and the hash of its last leaf, which the next entry
    chains to. ``exists`` is False before the first event."""

    size: int
    compact_range: bytes
    last_leaf_hash: bytes = GENESIS_HASH
    exists: bool = False

    def range(self) -> merkle.CompactRange:
        """A fresh (mutable) compact range to append to."""
        if not self.compact_range:
            return merkle.CompactRange()
        return merkle.CompactRange.from_bytes(self.compact_range)


@dataclass(frozen=True)
class LogEntry:
    """One event on record: the columns the log is searched by, and the entry bytes
    (:func:`custodes.core.custody.encode_entry`) hashed into the tree."""

    seq: int
    at: str
    actor: str
    action: str
    case_number: str | None
    evidence_id: str | None
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint (C2SP tlog-checkpoint, a signed note) of the log at ``size``."""

    size: int
    note: bytes
    created_at: str
