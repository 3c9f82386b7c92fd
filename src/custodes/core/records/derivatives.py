"""Derivatives of evidence kept in the vault (reviewed redactions)."""

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
    sidecar_sha256: str
    frames_redacted: int
    lineage: JSONObject
    audit_seq: int

    @property
    def operations(self) -> list[JSONObject]:
        """The lineage's operations (``redact``, ``audio``), in order."""
        ops = self.lineage.get("operations")
        return [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []
