"""The leak investigation pages (issue 18, item 5).

``/traces`` takes a leaked clip (a ``multipart/form-data`` form, streamed to the vault's
trace folder, ``web/bodies.py``) and starts a trace job through
``trace_jobs.request_trace``, the use case behind ``POST /api/v1/traces``;
``/traces/jobs/{id}`` shows the job's progress (``static/trace-job.js`` polls
``/api/v1/jobs/{id}``; without script, reloading the page shows where it is, and a done
job leads to its report); ``/traces/{id}`` is the report: the verdict, the source and
the offset located, each copy weighed with its score and p-value, leaked frames beside
their source frames, and the PDF to download. Who may trace, and see a trace, is decided
by the use cases (``vault:leak:trace``), every refusal on record.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custodes.core.errors import InvalidInput
from custodes.core.records import JobStatus
from custodes.services import jobs as jobs_svc
from custodes.services import trace as trace_svc
from custodes.services import trace_jobs
from custodes.web.bodies import save_multipart
from custodes.web.deps import Caller
from custodes.web.pages import render, see_other
from custodes.web.routes.pages import _nav

router = APIRouter(include_in_schema=False)

UPLOAD = "/traces/upload"
"""The form's target: its body (a clip) is read by the route, up to its own limit."""


@router.get("/traces")
def traces_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    jobs = trace_jobs.list_trace_jobs(caller.ctx, caller.username)
    return render(
        request,
        "traces.html",
        caller=nav,
        jobs=jobs,
        max_mib=caller.ctx.trace_max_size // (1024 * 1024),
    )


@router.post(UPLOAD)
async def upload(request: Request, caller: Caller) -> Response:
    """The form: ``case`` (optional) first, then the clip as ``leak``."""
    ctx = caller.ctx
    # Asked before the clip is read: a refused upload is not written first.
    await run_in_threadpool(trace_jobs.may_trace, ctx, caller.username, None)
    form = await save_multipart(request, trace_jobs.incoming(ctx), "leak", ctx.trace_max_size)
    try:
        if form.file is None:
            raise InvalidInput("choose the leaked video file to trace", field="leak")
        case = (form.fields.get("case") or "").strip()[:64] or None
        cmd = trace_jobs.RequestTrace(form.file, name=form.filename or "leak.mp4", case=case)
    except BaseException:
        if form.file is not None:
            form.file.unlink(missing_ok=True)
        raise
    job = await run_in_threadpool(trace_jobs.request_trace, ctx, caller.username, cmd)
    return see_other(f"/traces/jobs/{job.job_id}")


@router.get("/traces/jobs/{job_id}")
def job_page(job_id: str, request: Request, caller: Caller) -> Response:
    """Where a trace job is; a done one leads to its report."""
    nav = _nav(caller)
    job = jobs_svc.show_job(caller.ctx, caller.username, job_id[:64])
    trace_id = str(job.params.get("trace_id", "")) if job.kind == "trace" else ""
    if job.status == JobStatus.DONE.value and trace_id:
        return see_other(f"/traces/{trace_id}")
    return render(request, "trace_job.html", caller=nav, job=job, trace_id=trace_id)


@router.get("/traces/{trace_id}")
def trace_page(trace_id: str, request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    shown = trace_svc.show_trace(caller.ctx, caller.username, trace_id[:64])
    files = trace_jobs.trace_files(caller.ctx, caller.username, shown.trace_id)
    return render(request, "trace.html", caller=nav, t=shown, f=shown.findings, files=files)
