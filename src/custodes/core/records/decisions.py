"""Decisions recorded on release requests."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.jsontext import JSONObject


@dataclass(frozen=True)
class RecordedDecision:
    """A decision a records user recorded on a request (the pack's, or an override)."""

    id: str
    request_id: str
    decided_at: str
    decider: str
    outcome: str
    proposed_outcome: str
    override_reason: str | None
    pack_name: str
    pack_sha256: str
    facts: JSONObject
    """The facts the pack read, as recorded."""
    document: JSONObject
    """The decision as the engine gave it (rules, release section, redactions...)."""
    audit_seq: int

    @property
    def review_at(self) -> str | None:
        value = self.document.get("review_at")
        return value if isinstance(value, str) else None
