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
