"""What the vault holds, as frozen values: the records repositories return.

Pure data. The storage layer maps rows to these (``storage.repositories``); services
read them and never see a database row, so ``mypy --strict`` checks what crosses the
service boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.authz import CaseFacts, CaseFlag, CaseStatus, EvidenceFacts, Role
from custodes.core.media import MediaInfo


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    active: bool
    created_at: str


@dataclass(frozen=True)
class Case:
    id: int
    number: str
    title: str
    status: CaseStatus
    flags: frozenset[CaseFlag]
    members: frozenset[str]
    """Usernames assigned to the case."""
    created_at: str
    restored: frozenset[str] = frozenset()
    """Officers on the case whose reach internal affairs restored during an investigation."""

    @property
    def facts(self) -> CaseFacts:
        """What authorization needs to know of the case."""
        return CaseFacts(
            number=self.number,
            status=self.status,
            flags=self.flags,
            members=self.members,
            restored=self.restored,
        )


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
