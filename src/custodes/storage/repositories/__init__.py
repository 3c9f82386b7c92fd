"""Repositories: the database read and written in the vault's own terms.

Each repository works on the unit of work's connection (so a change and its audit event
commit together) and returns frozen records from ``core.records``; no row crosses into
the services. SQLAlchemy Core serves both backends (SQLite embedded, PostgreSQL).
"""

from custodes.storage.repositories.alerts import AlertRepository
from custodes.storage.repositories.archive_keys import ArchiveKeyRepository
from custodes.storage.repositories.audit import AuditLogRepository
from custodes.storage.repositories.auth import AuthRepository
from custodes.storage.repositories.cases import CaseRepository
from custodes.storage.repositories.decisions import DecisionRepository
from custodes.storage.repositories.derivatives import DerivativeRepository
from custodes.storage.repositories.evidence import EvidenceRepository, select_evidence
from custodes.storage.repositories.evidence_flags import EvidenceFlagRepository
from custodes.storage.repositories.exports import ExportRepository
from custodes.storage.repositories.fingerprints import FingerprintRepository
from custodes.storage.repositories.holdings import HoldingsRepository
from custodes.storage.repositories.jobs import JobRepository
from custodes.storage.repositories.passkeys import PasskeyRepository
from custodes.storage.repositories.releases import ReleaseRepository
from custodes.storage.repositories.requests import RequestRepository
from custodes.storage.repositories.state import StateRepository
from custodes.storage.repositories.traces import TraceRepository
from custodes.storage.repositories.users import UserRepository
from custodes.storage.repositories.viewings import ViewingRepository

__all__ = [
    "AlertRepository",
    "ArchiveKeyRepository",
    "AuditLogRepository",
    "AuthRepository",
    "CaseRepository",
    "DecisionRepository",
    "DerivativeRepository",
    "EvidenceFlagRepository",
    "EvidenceRepository",
    "ExportRepository",
    "FingerprintRepository",
    "HoldingsRepository",
    "JobRepository",
    "PasskeyRepository",
    "ReleaseRepository",
    "RequestRepository",
    "StateRepository",
    "TraceRepository",
    "UserRepository",
    "ViewingRepository",
    "select_evidence",
]
