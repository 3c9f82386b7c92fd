"""Jobs: long work requested now and run by a runner or a worker (issues 18 and 19).

A job is requested by a use case that checks everything it can at once (the actor, the
evidence, the permission, the inputs: a refusal is on record and nothing is queued),
fixes the work's parameters (an export's id among them) and writes, in ONE transaction,
the job's row, its ``job-requested`` event and the engine's queue entry
(``ctx.jobs.enqueue``: nothing more for the in-process engine, Procrastinate's own row on
PostgreSQL). So there is no event without its job and no job without its event.

A job is run by :func:`run_job`, from the in-process :class:`JobRunner` (embedded: a
thread of ``custodes serve``, or ``custodes jobs run``) or from a worker
(``custodes.jobs.worker``, Procrastinate). Running it is idempotent: a job that already
ended is not run again; an export job finishes the export whose id was fixed when it was
requested, and marks the job done in the export's own transaction, so a retry after a
kill makes neither a second export nor a second event. Its progress goes through
``core.ports.ProgressSink`` into the job's row (throttled), which is also where a cancel
asked for while it runs is seen (the work stops at its next progress step).

Who sees and cancels a job is decided by ``core.authz.decide_job``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from custodes.core.authz import CaseFacts, Permission, decide_job
from custodes.core.custody import Action
from custodes.core.errors import (
    BackendUnavailable,
    CustodesError,
    CustodyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.core.jsontext import JSONObject
from custodes.core.ledger import document_digest
from custodes.core.ports import ProgressTask
from custodes.core.records import FINISHED_JOB, Job, JobKind, JobProgress, JobStatus
from custodes.media.render import output_size
from custodes.processes import pid_alive
from custodes.services import exports as export_svc
from custodes.services.common import new_id, now_iso, sha256_file
from custodes.services.context import Context
from custodes.services.usecase import UseCase, acting

PROGRESS_INTERVAL_S = 0.5
"""At most one write of a running job's progress per this many seconds."""


class JobCancelled(Exception):
    """Raised from a job's progress step when a cancel was asked for while it runs."""


@dataclass(frozen=True)
class RequestExport:
    """Ask for an export to be made by a job (the same inputs as ``ExportEvidence``)."""

    evidence_id: str
    recipient: str
    purpose: str
    start: float | None = None
    end: float | None = None
    height: int | None = None
    visible_mark: bool = True


@dataclass(frozen=True)
class JobInfo:
    """A job as shown to the CLI and the API (its JSON is the public shape)."""

    job_id: str
    kind: str
    status: str
    requested_by: str
    requested_at: str
    audit_seq: int
    case: str | None
    evidence_id: str | None
    progress: JobProgress | None
    attempts: int
    worker: str | None
    cancel_requested: bool
    result: JSONObject | None
    error: JSONObject | None
    started_at: str | None
    finished_at: str | None
    params: JSONObject


def info(job: Job) -> JobInfo:
    return JobInfo(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        requested_by=job.requested_by,
        requested_at=job.requested_at,
        audit_seq=job.audit_seq,
        case=job.case_number,
        evidence_id=job.evidence_id,
        progress=job.progress,
        attempts=job.attempts,
        worker=job.worker,
        cancel_requested=job.cancel_requested,
        result=job.result,
        error=(
            None
            if job.error_code is None
            else {"code": job.error_code, "message": job.error_message}
        ),
        started_at=job.started_at,
        finished_at=job.finished_at,
        params=job.params,
    )


# ----------------------------------------------------------------------------- request


def request_export(ctx: Context, actor_name: str | None, cmd: RequestExport) -> JobInfo:
    """Check an export as ``export`` does, fix its id, and queue it as a job (on record:
    ``job-requested``, with the digest of its parameters). The copy is made by the job;
    the ``export`` event that puts it on record names the job."""
    if ctx.export_dir is None:
        raise InvalidInput("this vault has no folder for copies made by jobs")
    attempted = Permission.EVIDENCE_EXPORT
    with acting(ctx, actor_name) as uc:
        ev, case = uc.found_evidence(cmd.evidence_id, attempted=attempted)
        try:
            recipient = export_svc.check_text(cmd.recipient, "recipient", 128)
            purpose = export_svc.check_text(cmd.purpose, "purpose", 2000)
        except InvalidInput as exc:
            uc.refuse(exc, attempted=attempted.value, case=case.number, evidence=ev.id)
        uc.allow(attempted, case=case, evidence=ev, reason=purpose)
        try:
            start_s, end_s = export_svc.check_range(
                cmd.start, cmd.end, ev.media.duration_s, ev.media.damage
            )
            output_size(ev.media.width, ev.media.height, cmd.height)
            _ = uc.ctx.watermark_secret  # refused now, on record, rather than in the job
        except CustodesError as exc:
            uc.refuse(
                exc, attempted=attempted.value, case=case.number, evidence=ev.id, reason=purpose
            )
        export_id = new_id("EX")
        params: JSONObject = {
            "export_id": export_id,
            "evidence_id": ev.id,
            "recipient": recipient,
            "purpose": purpose,
            "start_s": start_s,
            "end_s": end_s,
            "height": cmd.height,
            "visible_mark": cmd.visible_mark,
        }
        job = _queue(uc, JobKind.EXPORT, params, case=case.number, evidence=ev.id, reason=purpose)
    ctx.jobs.wake()
    return info(job)


def _queue(
    uc: UseCase,
    kind: JobKind,
    params: JSONObject,
    *,
    case: str | None,
    evidence: str | None,
    reason: str | None,
) -> Job:
    """The job's row, its event and the engine's entry, in the use case's transaction."""
    job_id = new_id("JB")
    seq = uc.record(
        Action.JOB_REQUESTED,
        case=case,
        evidence=evidence,
        object_type="job",
        object_id=job_id,
        reason=reason,
        details={
            "kind": kind.value,
            "params_sha256": document_digest(params),
            "engine": uc.ctx.jobs.engine,
            **({"export_id": params["export_id"]} if kind is JobKind.EXPORT else {}),
        },
    )
    job = Job(
        id=job_id,
        kind=kind.value,
        params=params,
        requested_by=uc.actor.username,
        requested_at=now_iso(uc.ctx),
        audit_seq=seq,
        status=JobStatus.QUEUED.value,
        case_number=case,
        evidence_id=evidence,
    )
    uc.uow.jobs.add(job)
    uc.ctx.jobs.enqueue(uc.uow.conn, job_id, kind.value)
    uc.commit()
    return job


# --------------------------------------------------------------------- see and cancel


def _visible(
    uc: UseCase,
    job: Job,
    *,
    cancel: bool = False,
    facts: Mapping[str, CaseFacts] | None = None,
) -> bool:
    """``decide_job`` for this job; ``facts``: the cases' facts, read once for a list."""
    if job.case_number is None:
        case_facts = None
    elif facts is not None:
        case_facts = facts.get(job.case_number)
    else:
        case = uc.uow.cases.find(job.case_number)
        case_facts = case.facts if case is not None else None
    return decide_job(uc.actor, job.requested_by, case_facts, cancel=cancel).allowed


def list_jobs(ctx: Context, actor_name: str | None, *, status: str | None = None) -> list[JobInfo]:
    """The jobs the actor may see (``decide_job``), oldest first."""
    if status is not None and status not in {s.value for s in JobStatus}:
        raise InvalidInput(f"{{status}} must be one of {', '.join(s.value for s in JobStatus)}")
    with acting(ctx, actor_name, readonly=True) as uc:
        facts = {c.number: c.facts for c in uc.uow.cases.list()}
        listed = uc.uow.jobs.list(status=status)
        return [info(j) for j in listed if _visible(uc, j, facts=facts)]


def _found(uc: UseCase, job_id: str, attempted: str, *, cancel: bool = False) -> Job:
    job = uc.uow.jobs.find(job_id)
    if job is None:
        uc.refuse(NotFound(f"no job '{job_id}'"), attempted=attempted)
    if not _visible(uc, job, cancel=cancel):
        why = "cancel" if cancel else "see"
        uc.refuse(
            PermissionDenied(
                f"permission denied: {uc.actor.role.value} {uc.actor.username} may not {why} "
                f"job {job_id} of {job.requested_by}"
            ),
            attempted=attempted,
            case=job.case_number,
            evidence=job.evidence_id,
        )
    return job


def show_job(ctx: Context, actor_name: str | None, job_id: str) -> JobInfo:
    with acting(ctx, actor_name) as uc:
        return info(_found(uc, job_id, "vault:job:view"))


def cancel_job(ctx: Context, actor_name: str | None, job_id: str) -> JobInfo:
    """Cancel a queued job at once; ask a running one to stop at its next step (it ends
    ``cancelled``, or ``done`` if it finished first). On record: ``job-cancel``."""
    with acting(ctx, actor_name) as uc:
        job = _found(uc, job_id, Permission.JOB_MANAGE.value, cancel=True)
        if job.status in FINISHED_JOB:
            uc.refuse(
                CustodyConflict(f"job {job_id} has already ended ({job.status})"),
                attempted=Permission.JOB_MANAGE.value,
                case=job.case_number,
                evidence=job.evidence_id,
            )
        status = uc.uow.jobs.request_cancel(job_id, now_iso(ctx))
        uc.record(
            Action.JOB_CANCEL,
            case=job.case_number,
            evidence=job.evidence_id,
            object_type="job",
            object_id=job_id,
            details={"status": status, "requested_by": job.requested_by},
        )
        uc.commit()
        found = uc.uow.jobs.find(job_id)
    assert found is not None
    return info(found)


# --------------------------------------------------------------------------------- run


def worker_name(engine: str) -> str:
    return f"{engine} pid={os.getpid()} host={socket.gethostname()}"


class _JobTask:
    def __init__(self, sink: JobProgressSink, label: str, total: float | None, unit: str):
        self._sink = sink
        self.label, self.total, self.unit = label, total, unit
        self.done = 0.0
        self._last = time.monotonic()  # the start was just written

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if finished or now - self._last >= self._sink.interval:
            self._last = now
            self._sink.write(JobProgress(self.label, self.done, self.total, self.unit))

    def set_total(self, total: float | None) -> None:
        self.total = total


class JobProgressSink:
    """A running job's progress, written into its row at most every ``interval`` seconds
    (and when a task completes); raises :class:`JobCancelled` once a cancel is seen."""

    def __init__(self, ctx: Context, job_id: str, interval: float | None = None):
        self._ctx, self._job_id = ctx, job_id
        self.interval = PROGRESS_INTERVAL_S if interval is None else interval

    def start(self, label: str, total: float | None = None, *, unit: str = "item") -> ProgressTask:
        task = _JobTask(self, label, total, unit)
        self.write(JobProgress(label, 0, total, unit))
        return task

    def write(self, progress: JobProgress) -> None:
        with self._ctx.uow() as uow:
            cancel = uow.jobs.set_progress(self._job_id, progress, now_iso(self._ctx))
            uow.commit()
        if cancel:
            raise JobCancelled(self._job_id)


def run_job(ctx: Context, job_id: str, *, worker: str, stale_running: bool = False) -> str:
    """Run a job if it is still to be run; its status afterwards.

    ``stale_running``: the engine knows that a runner that had the job is gone (a
    Procrastinate retry of a stalled job), so a job marked running is taken over.
    An error of the backend (``BackendUnavailable``) is raised for the engine to retry;
    any other error ends the job ``failed``, on record (``job-stopped``).
    """
    with ctx.uow() as uow:
        job = uow.jobs.find(job_id)
        if job is None:
            raise NotFound(f"no job '{job_id}'")
        if job.status in FINISHED_JOB:
            return job.status
        if job.cancel_requested or not uow.jobs.claim(
            job_id, worker, now_iso(ctx), stale_running=stale_running
        ):
            uow.commit()
            if job.cancel_requested and job.status == JobStatus.RUNNING.value:
                _stop(ctx, job, JobStatus.CANCELLED, None)
                return JobStatus.CANCELLED.value
            return job.status
        uow.commit()
    sink = JobProgressSink(ctx, job_id)
    job_ctx = ctx.acting_for(f"job {job_id} {worker}", progress=sink)
    try:
        if job.kind == JobKind.EXPORT.value:
            _run_export(job_ctx, job)
        else:
            raise InvalidInput(f"job {job_id} is of an unknown kind '{job.kind}'")
    except JobCancelled:
        _stop(ctx, job, JobStatus.CANCELLED, None)
        return JobStatus.CANCELLED.value
    except BackendUnavailable:
        raise
    except CustodesError as exc:
        _stop(ctx, job, JobStatus.FAILED, (type(exc).__name__, exc.render()))
        return JobStatus.FAILED.value
    except Exception as exc:  # a bug: the job fails on record, the worker goes on
        _stop(ctx, job, JobStatus.FAILED, ("internal", f"{type(exc).__name__}: {exc}"))
        return JobStatus.FAILED.value
    return JobStatus.DONE.value


def _stop(ctx: Context, job: Job, status: JobStatus, error: tuple[str, str] | None) -> None:
    """End a job that its use case did not finish, with its ``job-stopped`` event."""
    with acting(ctx, job.requested_by) as uc:
        uc.record(
            Action.JOB_STOPPED,
            case=job.case_number,
            evidence=job.evidence_id,
            object_type="job",
            object_id=job.id,
            details={
                "status": status.value,
                "code": None if error is None else error[0],
                "message": None if error is None else error[1][:500],
            },
        )
        uc.uow.jobs.finish(job.id, status, now_iso(ctx), error=error)
        uc.commit()


def _export_dest(ctx: Context, job: Job) -> Path:
    assert ctx.export_dir is not None
    return ctx.export_dir / f"{job.params['export_id']}.mp4"


def _run_export(ctx: Context, job: Job) -> None:
    p = job.params
    export_id = str(p["export_id"])
    dest = _export_dest(ctx, job)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # What an earlier attempt of this very job left (its runner is gone: the engine
    # runs one attempt of a job at a time) is swept before the export is made again.
    for leftover in export_svc.pending_files(dest, export_id):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    height = p.get("height")
    cmd = export_svc.ExportEvidence(
        str(p["evidence_id"]),
        recipient=str(p["recipient"]),
        purpose=str(p["purpose"]),
        start=float(str(p["start_s"])),
        end=float(str(p["end_s"])),
        out=dest,
        height=None if height is None else int(str(height)),
        visible_mark=bool(p["visible_mark"]),
        export_id=export_id,
        job_id=job.id,
    )
    export_svc.export_evidence(ctx, job.requested_by, cmd)


def finish_file(ctx: Context, job_id: str) -> bool:
    """A done export job whose runner was killed between the commit and the rename: give
    the copy its name (its hidden file is checked against the recorded hash). Whether
    the copy is now in place."""
    with ctx.uow(readonly=True) as uow:
        job = uow.jobs.find(job_id)
        export = (
            uow.exports.find(str(job.params["export_id"]))
            if job is not None and job.kind == JobKind.EXPORT.value
            else None
        )
    if job is None or export is None or ctx.export_dir is None:
        return False
    dest = _export_dest(ctx, job)
    if dest.exists():
        return True
    for leftover in export_svc.pending_files(dest, export.id):
        if leftover.name.endswith(".pending") and sha256_file(leftover)[0] == export.output_sha256:
            os.replace(leftover, dest)
            return True
    return False


class JobRunner:
    """The in-process engine: runs queued jobs of the ``jobs`` table in this process,
    one at a time, in order (``custodes serve`` on an embedded vault starts one on a
    background thread)."""

    def __init__(self, ctx: Context, *, poll_s: float = 1.0) -> None:
        self._ctx = ctx
        self._poll_s = poll_s
        self.worker = worker_name("in-process")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> list[str]:
        """Put back in the queue the jobs marked running by an in-process runner of this
        machine that is gone (its process was killed); their ids."""
        host = socket.gethostname()
        requeued: list[str] = []
        with self._ctx.uow() as uow:
            for job_id, worker in uow.jobs.running():
                fields = dict(
                    part.split("=", 1) for part in (worker or "").split()[1:] if "=" in part
                )
                if (worker or "").startswith("in-process ") and fields.get("host") == host:
                    pid = int(fields.get("pid", "0") or 0)
                    if pid and not pid_alive(pid):
                        uow.jobs.requeue(job_id, now_iso(self._ctx))
                        requeued.append(job_id)
            uow.commit()
        return requeued

    def run_pending(self, limit: int | None = None) -> list[tuple[str, str]]:
        """Run queued jobs until none is left (or ``limit``); (job id, status) of each."""
        ran: list[tuple[str, str]] = []
        while limit is None or len(ran) < limit:
            if self._stop.is_set():
                break
            with self._ctx.uow(readonly=True) as uow:
                job_id = uow.jobs.next_queued()
            if job_id is None:
                break
            try:
                ran.append((job_id, run_job(self._ctx, job_id, worker=self.worker)))
            except BackendUnavailable:
                # Put it back for the next round (if the database answers), and wait.
                with contextlib.suppress(CustodesError), self._ctx.uow() as uow:
                    uow.jobs.requeue(job_id, now_iso(self._ctx))
                    uow.commit()
                raise
        return ran

    def _loop(self) -> None:
        self.recover()
        while not self._stop.is_set():
            with contextlib.suppress(BackendUnavailable):
                self.run_pending()
            self._ctx.jobs.wait_for_work(self._poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="custodes-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._ctx.jobs.wake()
        if self._thread is not None:
            self._thread.join(timeout)
