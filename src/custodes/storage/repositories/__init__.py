"""Repositories: the database read and written in the vault's own terms.

Each repository works on the unit of work's connection (so a change and its audit event
commit together) and returns frozen records from ``core.records``; no row crosses into
the services. SQLAlchemy Core serves both backends (SQLite embedded, PostgreSQL).
"""

from custodes.storage.repositories.audit import AuditLogRepository
from custodes.storage.repositories.cases import CaseRepository
from custodes.storage.repositories.evidence import EvidenceRepository, select_evidence
from custodes.storage.repositories.holdings import HoldingsRepository
from custodes.storage.repositories.users import UserRepository

__all__ = [
    "AuditLogRepository",
    "CaseRepository",
    "EvidenceRepository",
    "HoldingsRepository",
    "UserRepository",
    "select_evidence",
]
