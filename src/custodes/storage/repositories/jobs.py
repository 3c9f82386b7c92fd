"""Jobs: their rows, claimed, advanced and finished by runners and workers."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from custodes.core.jsontext import JSONObject
from custodes.core.records import Job, JobProgress, JobStatus
from custodes.storage import tables as t
from custodes.storage.repositories._json import dumps, json_object


class JobRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _job(row: Any) -> Job:
        progress = (
            None
            if row.progress_label is None
            else JobProgress(
                row.progress_label,
                float(row.progress_done or 0),
                None if row.progress_total is None else float(row.progress_total),
                row.progress_unit or "item",
            )
        )
        return Job(
            id=row.id,
            kind=row.kind,
            params=json_object(row.params),
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            audit_seq=int(row.audit_seq),
            status=row.status,
            case_number=row.case_number,
            evidence_id=row.evidence_id,
            progress=progress,
            attempts=int(row.attempts or 0),
            worker=row.worker,
            cancel_requested=bool(row.cancel_requested),
            result=None if row.result is None else json_object(row.result),
            error_code=row.error_code,
            error_message=row.error_message,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
        )

    def add(self, job: Job) -> None:
        self._conn.execute(
            insert(t.jobs).values(
                id=job.id,
                kind=job.kind,
                params=dumps(job.params),
                requested_by=job.requested_by,
                requested_at=job.requested_at,
                audit_seq=job.audit_seq,
                case_number=job.case_number,
                evidence_id=job.evidence_id,
                status=job.status,
                attempts=0,
                cancel_requested=False,
                updated_at=job.requested_at,
            )
        )

    def find(self, job_id: str) -> Job | None:
        row = self._conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        return None if row is None else self._job(row)

    def list(self, *, status: str | None = None, requested_by: str | None = None) -> list[Job]:
        query = select(t.jobs).order_by(t.jobs.c.requested_at, t.jobs.c.id)
        if status is not None:
            query = query.where(t.jobs.c.status == status)
        if requested_by is not None:
            query = query.where(t.jobs.c.requested_by == requested_by)
        return [self._job(r) for r in self._conn.execute(query)]

    def children(self, parent_id: str) -> builtins.list[Job]:
        """The jobs a job fanned out (ids ``<parent>.S0000`` ...), in order."""
        query = select(t.jobs).where(t.jobs.c.id.like(f"{parent_id}.S%")).order_by(t.jobs.c.id)
        return [self._job(r) for r in self._conn.execute(query)]

    def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs of each (kind, status)."""
        rows = self._conn.execute(
            select(t.jobs.c.kind, t.jobs.c.status, func.count()).group_by(
                t.jobs.c.kind, t.jobs.c.status
            )
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def spans(self) -> builtins.list[tuple[str, str, str]]:
        """(kind, started_at, finished_at) of the jobs that ran and ended."""
        rows = self._conn.execute(
            select(t.jobs.c.kind, t.jobs.c.started_at, t.jobs.c.finished_at).where(
                and_(t.jobs.c.started_at.is_not(None), t.jobs.c.finished_at.is_not(None))
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def lock(self, job_id: str) -> Job | None:
        """The job, its row locked until the transaction ends (PostgreSQL: ``FOR UPDATE``;
        SQLite's transactions are serial already): children that end at once take turns."""
        row = self._conn.execute(
            select(t.jobs).where(t.jobs.c.id == job_id).with_for_update()
        ).first()
        return None if row is None else self._job(row)

    def set_worker(self, job_id: str, worker: str, at: str) -> None:
        self._conn.execute(
            update(t.jobs).where(t.jobs.c.id == job_id).values(worker=worker, updated_at=at)
        )

    def claim(self, job_id: str, worker: str, at: str, *, stale_running: bool) -> bool:
        """Mark the job running for ``worker`` (one more attempt); False when it is not
        to be run (ended, or running elsewhere unless ``stale_running``: its engine
        knows the former runner is gone)."""
        statuses = [JobStatus.QUEUED.value]
        if stale_running:
            statuses.append(JobStatus.RUNNING.value)
        done = self._conn.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, t.jobs.c.status.in_(statuses)))
            .values(
                status=JobStatus.RUNNING.value,
                attempts=t.jobs.c.attempts + 1,
                worker=worker,
                started_at=func.coalesce(t.jobs.c.started_at, at),  # the first attempt's
                updated_at=at,
            )
        )
        return bool(done.rowcount)

    def next_queued(self) -> str | None:
        return self._conn.execute(
            select(t.jobs.c.id)
            .where(t.jobs.c.status == JobStatus.QUEUED.value)
            .order_by(t.jobs.c.requested_at, t.jobs.c.id)
            .limit(1)
        ).scalar()

    def running(self) -> builtins.list[tuple[str, str | None]]:
        """(id, worker) of the jobs marked running."""
        rows = self._conn.execute(
            select(t.jobs.c.id, t.jobs.c.worker).where(t.jobs.c.status == JobStatus.RUNNING.value)
        )
        return [(r.id, r.worker) for r in rows]

    def requeue(self, job_id: str, at: str) -> None:
        self._conn.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, t.jobs.c.status == JobStatus.RUNNING.value))
            .values(status=JobStatus.QUEUED.value, worker=None, updated_at=at)
        )

    def set_progress(self, job_id: str, progress: JobProgress, at: str) -> bool:
        """Store a running job's progress; whether a cancel was asked for."""
        self._conn.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, t.jobs.c.status == JobStatus.RUNNING.value))
            .values(
                progress_label=progress.label[:64],
                progress_done=progress.done,
                progress_total=progress.total,
                progress_unit=progress.unit[:16],
                updated_at=at,
            )
        )
        asked = self._conn.execute(
            select(t.jobs.c.cancel_requested).where(t.jobs.c.id == job_id)
        ).scalar()
        return bool(asked)

    def request_cancel(self, job_id: str, at: str) -> str:
        """Cancel a queued job now, or ask a running one to stop; its status after."""
        self._conn.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, t.jobs.c.status == JobStatus.QUEUED.value))
            .values(status=JobStatus.CANCELLED.value, finished_at=at)
        )
        self._conn.execute(
            update(t.jobs)
            .where(
                and_(
                    t.jobs.c.id == job_id,
                    or_(
                        t.jobs.c.status == JobStatus.RUNNING.value,
                        t.jobs.c.status == JobStatus.CANCELLED.value,
                    ),
                )
            )
            .values(cancel_requested=True, updated_at=at)
        )
        status = self._conn.execute(select(t.jobs.c.status).where(t.jobs.c.id == job_id)).scalar()
        return str(status)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        at: str,
        *,
        result: JSONObject | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        self._conn.execute(
            update(t.jobs)
            .where(t.jobs.c.id == job_id)
            .values(
                status=status.value,
                result=None if result is None else dumps(result),
                error_code=None if error is None else error[0],
                error_message=None if error is None else error[1],
                finished_at=at,
                updated_at=at,
            )
        )
