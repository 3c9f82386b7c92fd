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
import dataclasses
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from custodes.core.authz import CaseFacts, Permission, decide_job
from custodes.core.custody import Action
from custodes.core.errors import (
    BackendUnavailable,
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.core.jsontext import JSONObject
from custodes.core.ledger import document_digest
from custodes.core.ports import ProgressTask
from custodes.core.records import FINISHED_JOB, Job, JobKind, JobProgress, JobStatus
from custodes.media.redaction.plan import RegionSeed
from custodes.media.render import output_size
from custodes.media.segments import Segment
from custodes.processes import pid_alive
from custodes.services import exports as export_svc
from custodes.services import redaction as redaction_svc
from custodes.services import trace as trace_svc
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


@dataclass(frozen=True)
class RequestRedaction:
    """Ask for a redacted copy to be made by a job (``RedactEvidence``'s inputs, but a
    reviewed sidecar: the copy and its sidecar and contact sheet are written in the
    vault's folder for copies made by jobs, named after the derivative's id)."""

    evidence_id: str
    faces: bool = False
    regions: tuple[RegionSeed, ...] = ()
    mute: tuple[tuple[float, float], ...] = ()
    bleep: bool = False
    style: str = "blur"
    face_model: str = "centerface"
    reason: str | None = None


def request_redaction(ctx: Context, actor_name: str | None, cmd: RequestRedaction) -> JobInfo:
    """Check a redaction as ``redact`` does (each refusal on record), fix its derivative's
    id, and queue it as a job (``job-requested``); the ``redact`` event that puts the copy
    on record names the job."""
    if ctx.export_dir is None:
        raise InvalidInput("this vault has no folder for copies made by jobs")
    derivative_id = new_id("RD")
    folder = ctx.export_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    redact_cmd = _redact_cmd(cmd, folder / f"{derivative_id}.mp4", derivative_id, None)
    with acting(ctx, actor_name) as uc:
        prepared = redaction_svc.prepare(uc, redact_cmd)
        params: JSONObject = {
            "derivative_id": derivative_id,
            "evidence_id": prepared.evidence.id,
            "faces": cmd.faces,
            "regions": [dataclasses.asdict(r) for r in cmd.regions],
            "mute": [[a, b] for a, b in cmd.mute],
            "bleep": cmd.bleep,
            "style": cmd.style,
            "face_model": cmd.face_model,
            "reason": prepared.reason,
        }
        job = _queue(
            uc,
            JobKind.REDACTION,
            params,
            case=prepared.case.number,
            evidence=prepared.evidence.id,
            reason=prepared.reason,
        )
    ctx.jobs.wake()
    return info(job)


def request_index(ctx: Context, actor_name: str | None, case_number: str | None = None) -> JobInfo:
    """Check an index of fingerprints as ``custodes index`` does (a refusal on record)
    and queue it as a job; the ``fingerprint-index`` event that ends it names the job.
    Each fingerprint made has its own ``fingerprint`` event, as in the foreground."""
    trace_svc.check_index(ctx, actor_name, case_number)
    with acting(ctx, actor_name) as uc:
        job = _queue(
            uc,
            JobKind.FINGERPRINT_INDEX,
            {"case": case_number},
            case=case_number,
            evidence=None,
            reason=None,
        )
    ctx.jobs.wake()
    return info(job)


def _redact_cmd(
    cmd: RequestRedaction, out: Path, derivative_id: str, job_id: str | None
) -> redaction_svc.RedactEvidence:
    return redaction_svc.RedactEvidence(
        cmd.evidence_id,
        out=out,
        faces=cmd.faces,
        regions=cmd.regions,
        mute=cmd.mute,
        bleep=cmd.bleep,
        style=cmd.style,
        face_model=cmd.face_model,
        reason=cmd.reason,
        derivative_id=derivative_id,
        job_id=job_id,
    )


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
    job = _add_job(uc, kind, params, case=case, evidence=evidence, reason=reason)
    uc.commit()
    return job


def _add_job(
    uc: UseCase,
    kind: JobKind,
    params: JSONObject,
    *,
    case: str | None,
    evidence: str | None,
    reason: str | None,
    job_id: str | None = None,
) -> Job:
    """Write a job's row, its ``job-requested`` event and the engine's entry into the
    use case's transaction (not committed)."""
    job_id = job_id or new_id("JB")
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
            **({"export_id": params["export_id"]} if "export_id" in params else {}),
            **({"parent": params["parent"]} if "parent" in params else {}),
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


# ----------------------------------------------------------------------------- figures

DURATION_BUCKETS_S = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
"""Upper bounds of the job-duration histogram's buckets (seconds; and +Inf)."""


@dataclass(frozen=True)
class JobDurations:
    """A histogram of the times jobs of one kind took: counts at or under each bound of
    :data:`DURATION_BUCKETS_S` (cumulative, then +Inf), their sum and count."""

    buckets: tuple[int, ...]
    sum_s: float
    count: int


@dataclass(frozen=True)
class JobFigures:
    """The jobs as Prometheus sees them (``/metrics``): queued and running by kind (every
    kind named, at 0 when none), and how long the ended ones took, by kind (from their
    first start to their end, retries and the wait of a fanned-out job included)."""

    queued: dict[str, int]
    running: dict[str, int]
    durations: dict[str, JobDurations]


def job_figures(ctx: Context) -> JobFigures:
    """Counted from the jobs table at each call (every runner's and worker's jobs)."""
    with ctx.uow(readonly=True) as uow:
        counts = uow.jobs.counts()
        spans = uow.jobs.spans()
    kinds = sorted({*_KINDS, *(k for k, _ in counts)})
    queued = {k: counts.get((k, JobStatus.QUEUED.value), 0) for k in kinds}
    running = {k: counts.get((k, JobStatus.RUNNING.value), 0) for k in kinds}
    took: dict[str, list[float]] = {}
    for kind, started, finished in spans:
        with contextlib.suppress(ValueError):
            seconds = (
                datetime.fromisoformat(finished) - datetime.fromisoformat(started)
            ).total_seconds()
            took.setdefault(kind, []).append(max(0.0, seconds))
    durations = {
        kind: JobDurations(
            (*tuple(sum(1 for v in values if v <= b) for b in DURATION_BUCKETS_S), len(values)),
            sum(values),
            len(values),
        )
        for kind, values in sorted(took.items())
    }
    return JobFigures(queued, running, durations)


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

    def __init__(
        self,
        ctx: Context,
        job_id: str,
        interval: float | None = None,
        *,
        parent: str | None = None,
    ):
        self._ctx, self._job_id, self._parent = ctx, job_id, parent
        self.interval = PROGRESS_INTERVAL_S if interval is None else interval

    def start(self, label: str, total: float | None = None, *, unit: str = "item") -> ProgressTask:
        task = _JobTask(self, label, total, unit)
        self.write(JobProgress(label, 0, total, unit))
        return task

    def write(self, progress: JobProgress) -> None:
        with self._ctx.uow() as uow:
            cancel = uow.jobs.set_progress(self._job_id, progress, now_iso(self._ctx))
            if self._parent is not None and not cancel:  # a segment stops with its export
                parent = uow.jobs.find(self._parent)
                cancel = parent is None or parent.cancel_requested
            uow.commit()
        if cancel:
            raise JobCancelled(self._job_id)


JobRun = Callable[[Context, Job], str | None]
"""What runs one kind of job: its status afterwards (None: done, by its own transaction;
``running``: it waits for jobs it fanned out). Raising ends it as :func:`run_job` says."""

_KINDS: dict[str, JobRun] = {}


def register_kind(kind: str, run: JobRun) -> None:
    """Say how jobs of ``kind`` run (each kind of job registers itself here)."""
    _KINDS[kind] = run


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
            # Running (its runner is gone), or queued again by its last child.
            if job.cancel_requested:
                _stop(ctx, job, JobStatus.CANCELLED, None)
                return JobStatus.CANCELLED.value
            return job.status
        uow.commit()
    parent = _parent_of(job)
    sink = JobProgressSink(ctx, job_id, parent=parent)
    job_ctx = ctx.acting_for(f"job {job_id} {worker}", progress=sink)
    try:
        run = _KINDS.get(job.kind)
        if run is None:
            raise InvalidInput(f"job {job_id} is of an unknown kind '{job.kind}'")
        status = run(job_ctx, job) or JobStatus.DONE.value
    except JobCancelled:
        _stop(ctx, job, JobStatus.CANCELLED, None)
        status = JobStatus.CANCELLED.value
    except BackendUnavailable:
        raise
    except CustodesError as exc:
        _stop(ctx, job, JobStatus.FAILED, (type(exc).__name__, exc.render()))
        status = JobStatus.FAILED.value
    except Exception as exc:  # a bug: the job fails on record, the worker goes on
        _stop(ctx, job, JobStatus.FAILED, ("internal", f"{type(exc).__name__}: {exc}"))
        status = JobStatus.FAILED.value
    return status


def _parent_of(job: Job) -> str | None:
    parent = job.params.get("parent")
    return None if parent is None else str(parent)


def _stop(ctx: Context, job: Job, status: JobStatus, error: tuple[str, str] | None) -> None:
    """End a job that its use case did not finish, with its ``job-stopped`` event."""
    with acting(ctx, job.requested_by) as uc:
        current = uc.uow.jobs.lock(job.id)
        if current is not None and current.status in FINISHED_JOB:
            uc.commit()  # ended meanwhile (a cancel while queued): nothing to stop
            return
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
        _child_ended(uc, job)
        uc.commit()


# ----------------------------------------------------------- children (fanned-out work)

FAN_OUT_WORKER = "fan-out: waiting for its segments"
"""The ``worker`` of a job whose work is done by its children: no runner holds it (the
in-process recovery leaves it alone); the last child to end puts it back in the queue."""


def child_id(parent_id: str, index: int) -> str:
    return f"{parent_id}.S{index:04d}"


def _child_ended(uc: UseCase, child: Job) -> None:
    """In the transaction that ends a child: count its parent's progress (children done
    / all), and when it was the last child to end, put the parent back in the queue (with
    the engine's entry, in this same transaction) to finish the work (the join).

    The parent's row is locked first, so two children that end at once take turns and
    the second sees the first's end: the parent is queued exactly once."""
    parent_id = _parent_of(child)
    if parent_id is None:
        return
    uow, at = uc.uow, now_iso(uc.ctx)
    parent = uow.jobs.lock(parent_id)
    if parent is None:
        return
    kids = uow.jobs.children(parent_id)
    done = sum(k.status == JobStatus.DONE.value for k in kids)
    ended = sum(k.status in FINISHED_JOB for k in kids)
    uow.jobs.set_progress(parent_id, JobProgress("render", done, len(kids), "segment"), at)
    if ended == len(kids) and parent.status == JobStatus.RUNNING.value:
        uow.jobs.requeue(parent_id, at)
        uc.ctx.jobs.enqueue(uow.conn, parent_id, parent.kind)


# ---------------------------------------------------------------------- export (kind)


def _export_dest(ctx: Context, job: Job) -> Path:
    assert ctx.export_dir is not None
    return ctx.export_dir / f"{job.params['export_id']}.mp4"


def _work_dir(ctx: Context, export_id: str) -> Path:
    """Where an export's segments are rendered by its segment jobs (hidden, beside the
    copies: every worker shares ``CUSTODES_EXPORT_DIR``)."""
    assert ctx.export_dir is not None
    return ctx.export_dir / f".{export_id}.segments"


def _export_cmd(job: Job, dest: Path) -> export_svc.ExportEvidence:
    p = job.params
    height = p.get("height")
    return export_svc.ExportEvidence(
        str(p["evidence_id"]),
        recipient=str(p["recipient"]),
        purpose=str(p["purpose"]),
        start=float(str(p["start_s"])),
        end=float(str(p["end_s"])),
        out=dest,
        height=None if height is None else int(str(height)),
        visible_mark=bool(p["visible_mark"]),
        export_id=str(p["export_id"]),
        job_id=job.id,
    )


def _run_export(ctx: Context, job: Job) -> str | None:
    """An export job. With segmenting on (``CUSTODES_SEGMENT_SECONDS``) and an export
    longer than a segment, its first run checks the request again, plans the segments
    and fans them out as segment jobs (one transaction: their rows, their
    ``job-requested`` events, the engine's entries); the last segment to end queues
    this job again, and that run joins the segments and puts the copy on record."""
    with ctx.uow(readonly=True) as uow:
        children = uow.jobs.children(job.id)
    if children:
        return _join_segments(ctx, job, children)
    export_id = str(job.params["export_id"])
    dest = _export_dest(ctx, job)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # What an earlier attempt of this very job left (its runner is gone: the engine
    # runs one attempt of a job at a time) is swept before the export is made again.
    _sweep_export(ctx, job)
    cmd = _export_cmd(job, dest)
    plan = export_svc.plan_segmented(ctx, job.requested_by, cmd, export_id)
    if plan is None:
        export_svc.export_evidence(ctx, job.requested_by, cmd)
        return None
    _fan_out(ctx, job, plan)
    return JobStatus.RUNNING.value


def _sweep_export(ctx: Context, job: Job) -> None:
    export_id = str(job.params["export_id"])
    for leftover in export_svc.pending_files(_export_dest(ctx, job), export_id):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    shutil.rmtree(_work_dir(ctx, export_id), ignore_errors=True)


def _fan_out(ctx: Context, job: Job, plan: export_svc.SegmentPlan) -> None:
    p = job.params
    export_id = str(p["export_id"])
    text = (
        export_svc.visible_line(plan.recipient, export_id, plan.made_on)
        if p["visible_mark"]
        else None
    )
    count = len(plan.segments)
    with acting(ctx, job.requested_by) as uc:
        parent = uc.uow.jobs.lock(job.id)
        if parent is None or parent.status != JobStatus.RUNNING.value:
            return  # cancelled meanwhile: its runner stops it
        for seg in plan.segments:
            params: JSONObject = {
                "parent": job.id,
                "export_id": export_id,
                "evidence_id": p["evidence_id"],
                "index": seg.index,
                "count": count,
                "start_s": seg.start_s,
                "end_s": seg.end_s,
                "height": p.get("height"),
                "visible_text": text,
                "made_on": plan.made_on,
            }
            _add_job(
                uc,
                JobKind.EXPORT_SEGMENT,
                params,
                case=job.case_number,
                evidence=job.evidence_id,
                reason=None,
                job_id=child_id(job.id, seg.index),
            )
        at = now_iso(ctx)
        uc.uow.jobs.set_worker(job.id, FAN_OUT_WORKER, at)
        uc.uow.jobs.set_progress(job.id, JobProgress("render", 0, count, "segment"), at)
        uc.commit()
    ctx.jobs.wake()


def _join_segments(ctx: Context, job: Job, children: list[Job]) -> str | None:
    """The run after the fan-out: every segment done: join them and put the copy on
    record (the export's one event, marking this job done); a segment failed or was
    cancelled: this job ends so too; some still to run (a stalled retry came early):
    wait."""
    failed = [k for k in children if k.status == JobStatus.FAILED.value]
    if failed:
        raise CustodesError(
            f"segment {failed[0].id} of this export failed: "
            f"{failed[0].error_code}: {failed[0].error_message}"
        )
    if job.cancel_requested or any(k.status == JobStatus.CANCELLED.value for k in children):
        raise JobCancelled(job.id)
    if any(k.status != JobStatus.DONE.value for k in children):
        with ctx.uow() as uow:
            uow.jobs.set_worker(job.id, FAN_OUT_WORKER, now_iso(ctx))
            uow.commit()
        return JobStatus.RUNNING.value
    parts: list[Path] = []
    work = _work_dir(ctx, str(job.params["export_id"]))
    for k in children:
        assert k.result is not None
        # In this runner's export folder (the same share may be mounted elsewhere on the
        # machine that rendered the part).
        part = work / Path(str(k.result["path"])).name
        if not part.is_file() or sha256_file(part)[0] != k.result["sha256"]:
            raise IntegrityFailure(
                f"segment {k.id} of this export ({part.name}) is missing or was altered"
            )
        parts.append(part)
    dest = _export_dest(ctx, job)
    export_id = str(job.params["export_id"])
    for leftover in export_svc.pending_files(dest, export_id):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    cmd = dataclasses.replace(
        _export_cmd(job, dest), parts=tuple(parts), made_on=str(children[0].params["made_on"])
    )
    export_svc.export_evidence(ctx, job.requested_by, cmd)
    shutil.rmtree(_work_dir(ctx, export_id), ignore_errors=True)
    return None


def _run_export_segment(ctx: Context, job: Job) -> str | None:
    """One segment of an export: rendered into the export's work folder (atomically: a
    retry after a kill renders it again over its own part file), then this job is done
    in one transaction with its ``job-done`` event (the part's SHA-256 in its result)
    and its parent's progress; the last segment to end queues the parent (the join)."""
    p = job.params
    parent_id = str(p["parent"])
    with ctx.uow(readonly=True) as uow:
        parent = uow.jobs.find(parent_id)
    if parent is None or parent.status in FINISHED_JOB or parent.cancel_requested:
        raise JobCancelled(job.id)
    export_id, index = str(p["export_id"]), int(str(p["index"]))
    work = _work_dir(ctx, export_id)
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = work / f"seg{index:04d}.mp4"
    for leftover in work.glob(f".{dest.name}.*"):  # an earlier attempt's part file
        leftover.unlink(missing_ok=True)
    height = p.get("height")
    text = p.get("visible_text")
    rendered = export_svc.render_segment(
        ctx,
        str(p["evidence_id"]),
        export_id,
        Segment(index, float(str(p["start_s"])), float(str(p["end_s"]))),
        dest,
        height=None if height is None else int(str(height)),
        visible_text=None if text is None else str(text),
    )
    digest, size = sha256_file(dest)
    result: JSONObject = {
        "export_id": export_id,
        "index": index,
        "path": str(dest),
        "sha256": digest,
        "size": size,
        "frames": rendered.frames,
    }
    with acting(ctx, job.requested_by) as uc:
        current = uc.uow.jobs.lock(job.id)
        if current is None or current.status in FINISHED_JOB:
            uc.commit()
            return None if current is None else current.status
        uc.record(
            Action.JOB_DONE,
            case=job.case_number,
            evidence=job.evidence_id,
            object_type="job",
            object_id=job.id,
            details={
                "job": job.id,
                "kind": job.kind,
                "job_result_sha256": document_digest(result),
            },
        )
        uc.uow.jobs.finish(job.id, JobStatus.DONE, now_iso(ctx), result=result)
        _child_ended(uc, job)
        uc.commit()
    ctx.jobs.wake()
    return None


# ------------------------------------------------------------------- redaction (kind)


def _run_redaction(ctx: Context, job: Job) -> str | None:
    """A redaction job: what an earlier attempt left (the copy, its sidecar and contact
    sheet, named after the derivative's id, and the encoder's hidden part files) is
    removed, then the redaction is made and put on record with the job done, in one
    transaction."""
    p = job.params
    assert ctx.export_dir is not None
    derivative_id = str(p["derivative_id"])
    dest = ctx.export_dir / f"{derivative_id}.mp4"
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for leftover in (
        dest,
        dest.with_suffix(".boxes.json"),
        dest.with_suffix(".contact.png"),
        *dest.parent.glob(f".{dest.name}.*"),
    ):
        leftover.unlink(missing_ok=True)
    regions = p.get("regions") or []
    mute = p.get("mute") or []
    assert isinstance(regions, list) and isinstance(mute, list)
    reason = p.get("reason")
    cmd = RequestRedaction(
        str(p["evidence_id"]),
        faces=bool(p["faces"]),
        regions=tuple(RegionSeed(**dict(r)) for r in regions if isinstance(r, dict)),  # type: ignore[arg-type]
        mute=tuple((float(str(r[0])), float(str(r[1]))) for r in mute if isinstance(r, list)),
        bleep=bool(p["bleep"]),
        style=str(p["style"]),
        face_model=str(p["face_model"]),
        reason=None if reason is None else str(reason),
    )
    redaction_svc.redact_evidence(
        ctx, job.requested_by, _redact_cmd(cmd, dest, derivative_id, job.id)
    )
    return None


def _run_index(ctx: Context, job: Job) -> str | None:
    """An index job: the evidence not yet fingerprinted is (a retry after a kill does
    only what is left: each fingerprint is stored with its own event); the index event,
    naming the job, marks it done in its transaction."""
    case = job.params.get("case")
    trace_svc.index_evidence(
        ctx, job.requested_by, case_number=None if case is None else str(case), job_id=job.id
    )
    return None


register_kind(JobKind.EXPORT.value, _run_export)
register_kind(JobKind.FINGERPRINT_INDEX.value, _run_index)
register_kind(JobKind.REDACTION.value, _run_redaction)
register_kind(JobKind.EXPORT_SEGMENT.value, _run_export_segment)


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
    shutil.rmtree(_work_dir(ctx, export.id), ignore_errors=True)  # killed before removing it
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
