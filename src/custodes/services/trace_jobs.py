"""Trace jobs: a leaked clip sent to the vault (the leak investigation page, ``POST
/api/v1/traces``) is traced by a job, as an export is made by one (services.jobs).

Asking checks at once what can be checked (the actor may trace leaks, the case named
exists and is reached, the clip is a readable video within ``ctx.trace_max_size``): a
refusal is on record and the clip is deleted. Accepted, the clip is moved into the
vault's trace folder and the job queued with its ``job-requested`` event in one
transaction; the trace's id is fixed then, so its folder is known before it runs::

    TRACE_DIR/TR-.../leak/NAME      the clip, until the job ends (then deleted)
    TRACE_DIR/TR-.../report/        the trace's report, TR-....html and .pdf
    TRACE_DIR/TR-.../frames/        a few leaked frames beside their source frames (PNG)

The job runs ``trace.trace_leak``, which records the trace (its ``trace`` event names the
job) and writes the report; the job makes the frame pairs and is then marked done, so a
done job's report is in place. A job killed before the trace was recorded is run again
from the start; one killed after it is only marked done (the trace is not made twice).
Whatever way the job ends, the clip is deleted; a backend error leaves it for the
engine's retry.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from custodes.core.authz import Permission
from custodes.core.errors import (
    BackendUnavailable,
    CustodesError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
)
from custodes.core.jsontext import JSONObject
from custodes.core.records import Job, JobKind, JobStatus
from custodes.media.probe import probe
from custodes.media.stills import frame_png
from custodes.services import jobs as jobs_svc
from custodes.services import trace as trace_svc
from custodes.services.common import new_id, now_iso, sha256_file, verified_original
from custodes.services.context import Context
from custodes.services.jobs import JobInfo, _queue, info
from custodes.services.usecase import acting

FRAME_PAIRS = 3
"""How many leaked frames are shown beside their source frames."""
FRAME_FILE = re.compile(r"^[1-9]-(leak|source)\.png$")
REPORT_FILES = ("report.pdf", "report.html")


@dataclass(frozen=True)
class RequestTrace:
    """Trace ``leak``, a file handed over by the caller: moved into the vault's trace
    folder when the job is queued, deleted when it is refused."""

    leak: Path
    name: str
    """The clip's name as it was sent (kept on record, made safe for a file name)."""
    case: str | None = None
    """Search only this case's evidence (None: all the actor may trace against)."""


def clip_name(name: str) -> str:
    """A file name for a clip from the name a client sent (no folder, no hidden file)."""
    base = re.split(r"[\\/]", name or "")[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:100]
    return safe or "leak.mp4"


def incoming(ctx: Context) -> Path:
    """Where a front door writes a clip as it arrives, before :func:`request_trace`."""
    if ctx.trace_dir is None:
        raise InvalidInput("this vault takes no trace jobs (it has no trace folder)")
    return ctx.trace_dir / "incoming"


def folder(ctx: Context, trace_id: str) -> Path:
    if ctx.trace_dir is None:
        raise InvalidInput("this vault takes no trace jobs (it has no trace folder)")
    if not re.fullmatch(r"TR-[A-Z2-7]{1,20}", trace_id):
        raise NotFound(f"no trace '{trace_id[:64]}'")
    return ctx.trace_dir / trace_id


def may_trace(ctx: Context, actor_name: str | None, case: str | None = None) -> None:
    """Refuse, on record, one who may not trace leaks (in ``case``, when named): asked
    before a clip is received, so that a refused upload is not read first."""
    with acting(ctx, actor_name, readonly=True) as uc:
        uc.allow(Permission.LEAK_TRACE)
        if case is not None:
            uc.case(case, Permission.EVIDENCE_LIST)


def list_trace_jobs(ctx: Context, actor_name: str | None) -> list[JobInfo]:
    """The trace jobs the actor may see (``decide_job``), newest first, to one who may
    trace leaks (refused on record otherwise)."""
    may_trace(ctx, actor_name)
    found = jobs_svc.list_jobs(ctx, actor_name)
    return sorted(
        (j for j in found if j.kind == JobKind.TRACE.value),
        key=lambda j: j.requested_at,
        reverse=True,
    )


def request_trace(ctx: Context, actor_name: str | None, cmd: RequestTrace) -> JobInfo:
    """Check a trace as ``custodes trace`` does, and queue it as a job (on record:
    ``job-requested``). The clip is the job's from here on: deleted when refused."""
    attempted = Permission.LEAK_TRACE
    made: Path | None = None
    try:
        if ctx.trace_dir is None:
            raise InvalidInput("this vault takes no trace jobs (it has no trace folder)")
        with acting(ctx, actor_name) as uc:
            uc.allow(attempted)
            if cmd.case is not None:
                uc.case(cmd.case, Permission.EVIDENCE_LIST)
            name = clip_name(cmd.name)
            try:
                _check_clip(ctx, cmd.leak, name)
            except InvalidInput as exc:
                uc.refuse(exc, attempted=attempted.value, case=cmd.case)
            sha256, size = sha256_file(cmd.leak)
            trace_id = new_id("TR")
            made = folder(ctx, trace_id)
            (made / "leak").mkdir(mode=0o700, parents=True)
            shutil.move(cmd.leak, made / "leak" / name)
            params: JSONObject = {
                "trace_id": trace_id,
                "leak_name": name,
                "leak_sha256": sha256,
                "leak_size": size,
                "case": cmd.case,
            }
            job = _queue(uc, JobKind.TRACE, params, case=cmd.case, evidence=None, reason=None)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            cmd.leak.unlink()
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    ctx.jobs.wake()
    return info(job)


def _check_clip(ctx: Context, leak: Path, name: str) -> None:
    """A clip a trace can read: a non-empty, whole video within the size limit."""
    size = leak.stat().st_size
    if size == 0:
        raise InvalidInput(f"{name} is empty: send the leaked video file", field="leak")
    if size > ctx.trace_max_size:
        raise InvalidInput(
            f"{name} is larger than the {ctx.trace_max_size} bytes a trace takes", field="leak"
        )
    probe(leak, name=name)  # InvalidInput: not video, truncated, damaged


def run(ctx: Context, job: Job) -> None:
    """Run a trace job (``services.jobs.run_job``): the trace, its report and frame
    pairs, then the job marked done (so that a done job's report is there). A trace
    already on record (an attempt killed after recording it) is not made again. The clip
    is deleted however the job ends, but for a backend error (the engine retries), and
    so is the whole folder of a job that ends without its trace on record."""
    p = job.params
    trace_id = str(p["trace_id"])
    where = folder(ctx, trace_id)
    leak = where / "leak" / str(p["leak_name"])
    keep = False
    try:
        with ctx.uow(readonly=True) as uow:
            recorded = uow.traces.find(trace_id)
        if recorded is None:
            result = _trace(ctx, job, leak, where)
        else:
            found = recorded.result.get("attributed")
            result = {
                "trace_id": trace_id,
                "verdict": recorded.verdict,
                "evidence_id": recorded.evidence_id,
                "attributed": list(found) if isinstance(found, list) else [],
            }
        with ctx.uow() as uow:
            uow.jobs.finish(job.id, JobStatus.DONE, now_iso(ctx), result=result)
            uow.commit()
    except BackendUnavailable:
        keep = True
        raise
    finally:
        if not keep:
            # A job that ends without a trace on record leaves nothing in the folder.
            shutil.rmtree(where if not _recorded(ctx, trace_id) else where / "leak", True)


def _recorded(ctx: Context, trace_id: str) -> bool:
    with contextlib.suppress(CustodesError), ctx.uow(readonly=True) as uow:
        return uow.traces.find(trace_id) is not None
    return True  # unknown: the report is kept


def _trace(ctx: Context, job: Job, leak: Path, where: Path) -> JSONObject:
    p = job.params
    if not leak.is_file():
        raise NotFound(f"the leaked clip of job {job.id} is gone from the trace folder")
    if sha256_file(leak)[0] != p["leak_sha256"]:
        raise IntegrityFailure(f"the leaked clip of job {job.id} changed since it was sent")
    # What an earlier attempt (killed before its trace was recorded) left is redone.
    shutil.rmtree(where / "report", ignore_errors=True)
    shutil.rmtree(where / "frames", ignore_errors=True)
    case = p.get("case")
    traced = trace_svc.trace_leak(
        ctx,
        job.requested_by,
        leak,
        report_dir=where / "report",
        case_number=None if case is None else str(case),
        trace_id=str(p["trace_id"]),
        job_id=job.id,
    )
    # The pairs only help the reader (the report holds the registered pair): one that
    # cannot be made is left out rather than failing a trace already on record.
    with contextlib.suppress(Exception):
        _frame_pairs(ctx, traced, leak, where / "frames")
    return {
        "trace_id": traced.trace_id,
        "verdict": traced.verdict,
        "evidence_id": None if traced.source is None else traced.source.evidence_id,
        "attributed": list(traced.attributed),
    }


def discard(ctx: Context, job: Job) -> None:
    """A trace job cancelled before it ran: its clip goes."""
    with contextlib.suppress(CustodesError):
        shutil.rmtree(folder(ctx, str(job.params["trace_id"])) / "leak", ignore_errors=True)


def _frame_pairs(ctx: Context, traced: trace_svc.Traced, leak: Path, out: Path) -> None:
    """A few leaked frames beside the source frames they were located at (offset and
    speed of the match; the report's pair is registered frame by frame)."""
    src = traced.source
    if src is None:
        return
    tmp = out.with_name(".frames.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    with verified_original(ctx, src.evidence_id, src.sha256) as original:
        for i in range(1, FRAME_PAIRS + 1):
            t_leak = traced.leak.duration_s * i / (FRAME_PAIRS + 1)
            t_src = src.offset_s + t_leak * src.rate
            (tmp / f"{i}-leak.png").write_bytes(frame_png(leak, t_leak)[0])
            (tmp / f"{i}-source.png").write_bytes(frame_png(original, t_src)[0])
    tmp.replace(out)


@dataclass(frozen=True)
class TraceFiles:
    """What of a trace's report is kept in the trace folder."""

    pdf: bool
    html: bool
    frames: list[int]
    """The numbers of the frame pairs (``N-leak.png`` beside ``N-source.png``)."""


def trace_files(ctx: Context, actor_name: str | None, trace_id: str) -> TraceFiles:
    """Which report files of a trace are kept (to one who may see the trace)."""
    trace_svc.show_trace(ctx, actor_name, trace_id)
    if ctx.trace_dir is None:
        return TraceFiles(False, False, [])
    where = folder(ctx, trace_id)
    kept = where / "frames"
    frames = sorted(
        int(f.name.split("-")[0])
        for f in kept.glob("*-leak.png")
        if FRAME_FILE.match(f.name) and (kept / f.name.replace("leak", "source")).is_file()
    )
    return TraceFiles(
        pdf=(where / "report" / f"{trace_id}.pdf").is_file(),
        html=(where / "report" / f"{trace_id}.html").is_file(),
        frames=frames,
    )


def trace_file(ctx: Context, actor_name: str | None, trace_id: str, name: str) -> Path:
    """A file of a trace's report: ``report.pdf``, ``report.html`` or a frame
    (``N-leak.png``, ``N-source.png``), to one who may see the trace."""
    trace_svc.show_trace(ctx, actor_name, trace_id)
    if name not in REPORT_FILES and not FRAME_FILE.match(name):
        raise NotFound(f"no file '{name[:64]}' in a trace's report")
    where = folder(ctx, trace_id)
    path = (
        where / "report" / f"{trace_id}.{name.split('.')[1]}"
        if name in REPORT_FILES
        else where / "frames" / name
    )
    if not path.is_file():
        raise NotFound(f"trace {trace_id} has no {name} (its report was not kept here)")
    return path
