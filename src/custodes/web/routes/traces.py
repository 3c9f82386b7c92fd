"""Leaked clips traced as jobs (issue 18): ``POST /traces`` takes the clip as the request
body and answers 202 with its job; ``GET /traces/{id}`` is the trace on record, and
``GET /traces/{id}/files/{name}`` its report (``report.pdf``, ``report.html``) and the
frame pairs (``N-leak.png`` beside ``N-source.png``). The same use cases as ``custodes
trace`` with the same authorization (``vault:leak:trace``; a trace whose evidence is out
of the reader's reach is refused), every refusal on record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from custodes.core.jsontext import jsonable
from custodes.services import trace as trace_svc
from custodes.services import trace_jobs
from custodes.web.bodies import save_body
from custodes.web.deps import Caller
from custodes.web.routes.jobs import _job
from custodes.web.routes.render import PathId

router = APIRouter()

MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "png": "image/png"}


@router.post("/traces", tags=["traces", "jobs"], status_code=202)
async def request_trace(
    request: Request,
    caller: Caller,
    name: Annotated[str, Query(max_length=255, description="The clip's file name.")] = "leak.mp4",
    case: Annotated[str | None, Query(max_length=64, description="Search one case.")] = None,
) -> JSONResponse:
    """Trace a leaked clip, sent as the request body (the video file's bytes, at most
    ``CUSTODES_TRACE_MAX_SIZE``). Checked now (the clip must be a whole, readable video;
    a refusal is on record); traced by a job: poll ``GET /jobs/{id}``, whose ``result``
    names the trace once it is done."""
    ctx = caller.ctx
    # Asked before the clip is read: a refused upload is not written first.
    await run_in_threadpool(trace_jobs.may_trace, ctx, caller.username, case)
    leak = await save_body(request, trace_jobs.incoming(ctx), ctx.trace_max_size)
    cmd = trace_jobs.RequestTrace(leak, name=name, case=case)
    job = await run_in_threadpool(trace_jobs.request_trace, ctx, caller.username, cmd)
    return _job(job, 202)


@router.get("/traces/{trace_id}", tags=["traces"])
def show_trace(trace_id: PathId, caller: Caller) -> JSONResponse:
    """A trace on record: the verdict, the source located (evidence, case, offset, rate,
    match score), every copy weighed (score, p-value, named or not), and which files of
    its report this server keeps."""
    shown = trace_svc.show_trace(caller.ctx, caller.username, trace_id)
    files = trace_jobs.trace_files(caller.ctx, caller.username, trace_id)
    return JSONResponse({**jsonable(shown), "files": jsonable(files)})


@router.get("/traces/{trace_id}/files/{name}", tags=["traces"])
def trace_file(
    trace_id: PathId,
    name: PathId,
    caller: Caller,
) -> FileResponse:
    """A file of a trace's report: ``report.pdf`` (a download), ``report.html``, or a
    frame of a pair (``1-leak.png``, ``1-source.png``, ...)."""
    path = trace_jobs.trace_file(caller.ctx, caller.username, trace_id, name)
    suffix = name.rsplit(".", 1)[-1]
    response = FileResponse(
        path,
        media_type=MEDIA[suffix],
        filename=f"{trace_id}.{suffix}" if suffix != "png" else None,
        content_disposition_type="attachment" if suffix != "png" else "inline",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
