"""Fingerprints of evidence: derived data (coarse motion, no picture) kept for tracing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredFingerprint:
    evidence_id: str
    version: int
    """The fingerprint format it was made in; another version is made anew."""
    data: bytes
    created_at: str


@dataclass(frozen=True)
class StoredArchiveKeys:
    """One evidence item's archive-index keys (``custodes.media.archive.SourceKeys``)."""

    evidence_id: str
    version: int
    """The key format; another version is rebuilt."""
    data: bytes
    created_at: str
