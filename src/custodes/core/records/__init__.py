"""What the vault holds, as frozen values: the records repositories return.

Pure data. The storage layer maps rows to these (``storage.repositories``); services
read them and never see a database row, so ``mypy --strict`` checks what crosses the
service boundary.
"""

from custodes.core.records.alerts import Alert
from custodes.core.records.audit import LogEntry, LogState, StoredCheckpoint, StoredRow
from custodes.core.records.auth import (
    ApiToken,
    Failures,
    PasskeyChallenge,
    StoredPasskey,
    StoredTotp,
    WebSession,
)
from custodes.core.records.cases import Case
from custodes.core.records.decisions import RecordedDecision
from custodes.core.records.derivatives import Derivative
from custodes.core.records.evidence import Evidence
from custodes.core.records.exports import Export
from custodes.core.records.fingerprints import StoredArchiveKeys, StoredFingerprint
from custodes.core.records.holdings import KeptBlob
from custodes.core.records.jobs import FINISHED_JOB, Job, JobKind, JobProgress, JobStatus
from custodes.core.records.people import User
from custodes.core.records.releases import Release
from custodes.core.records.requests import Request, TimeSpan
from custodes.core.records.traces import Trace, TracedCopy
from custodes.core.records.viewings import SentRange, Viewing

__all__ = [
    "FINISHED_JOB",
    "Alert",
    "ApiToken",
    "Case",
    "Derivative",
    "Evidence",
    "Export",
    "Failures",
    "Job",
    "JobKind",
    "JobProgress",
    "JobStatus",
    "KeptBlob",
    "LogEntry",
    "LogState",
    "PasskeyChallenge",
    "RecordedDecision",
    "Release",
    "Request",
    "SentRange",
    "StoredArchiveKeys",
    "StoredCheckpoint",
    "StoredFingerprint",
    "StoredPasskey",
    "StoredRow",
    "StoredTotp",
    "TimeSpan",
    "Trace",
    "TracedCopy",
    "User",
    "Viewing",
    "WebSession",
]
