"""Exports: watermarked copies of evidence made for one named recipient."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class Export:
    id: str
    evidence_id: str
    recipient: str
    purpose: str
    actor: str
    """The username of who made the copy."""
    created_at: str
    start_s: float
    end_s: float
    width: int
    height: int
    visible_mark: bool
    key_version: int
    output_sha256: str
    output_size: int
    lineage: JSONObject
    """Where the copy comes from and every operation that made it (stored JSON)."""
    audit_seq: int
