"""Derivatives of evidence kept by the vault (redacted copies), with their lineage."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class Derivative:
    id: str
    evidence_id: str
    kind: str
    """``redaction``."""
    created_at: str
    actor: str
    sha256: str
    """The stored copy's blob."""
    sidecar_sha256: str
    """The boxes file (sidecar) a reviewer loads and corrects."""
    frames_redacted: int
    lineage: JSONObject
    """The source and the operations that made the copy (``operations``: a list)."""
    audit_seq: int

    @property
    def operations(self) -> list[JSONObject]:
        """The lineage's operations, each an object with its ``op``."""
        ops = self.lineage.get("operations")
        return [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []
