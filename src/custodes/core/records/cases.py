"""Cases."""

from __future__ import annotations

from dataclasses import dataclass

from custodes.core.authz import CaseFacts, CaseFlag, CaseStatus


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
