"""Jobs: long work (an export, a trace) requested now and run by a runner or a worker."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from custodes.core.jsontext import JSONObject


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_JOB = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class JobKind(StrEnum):
    EXPORT = "export"
    EXPORT_SEGMENT = "export-segment"
    """One segment of a long export, rendered apart (a child of the export's job)."""
    REDACTION = "redaction"
    FINGERPRINT_INDEX = "fingerprint-index"
    """Fingerprint the evidence not yet fingerprinted (ingest analysis, ahead of traces)."""


@dataclass(frozen=True)
class JobProgress:
    """Where a running job is: its current task, counted in ``unit``."""

    label: str
    done: float
    total: float | None
    unit: str


@dataclass(frozen=True)
class Job:
    """One job on record. ``params`` are the use case's inputs, fixed when it was
    requested (an export's id among them, so a retry finishes the same export);
    ``case_number`` and ``evidence_id`` say what it is about, for authorization."""

    id: str
    kind: str
    params: JSONObject
    requested_by: str
    requested_at: str
    audit_seq: int
    status: str
    case_number: str | None = None
    evidence_id: str | None = None
    progress: JobProgress | None = None
    attempts: int = 0
    worker: str | None = None
    cancel_requested: bool = False
    result: JSONObject | None = None
    error_code: str | None = None
    error_message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
