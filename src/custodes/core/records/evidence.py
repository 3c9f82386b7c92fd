"""Evidence."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.authz import EvidenceFacts
from custodes.core.media import MediaInfo


@dataclass(frozen=True)
class Evidence:
    id: str
    case_id: int
    case_number: str
    sha256: str
    size: int
    officer: str | None
    """The recording officer's username."""
    device: str | None
    recorded_at: str | None
    ingested_at: str
    original_name: str
    media: MediaInfo

    @property
    def facts(self) -> EvidenceFacts:
        return EvidenceFacts(evidence_id=self.id, officer=self.officer)
