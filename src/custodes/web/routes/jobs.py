"""Long work on the API as jobs (issue 18; workers: issue 19): ``POST /exports`` asks for
an export and answers 202 with its job at once; ``/jobs`` lists, shows (with progress)
and cancels jobs. The same use cases as ``custodes jobs`` with the same authorization
(``core.authz.decide_job``): a job is seen by whoever requested it, by those who read the
audit record of its case, and by admins; cancelled by its requester or an admin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from custodes.bootstrap import Vault
from custodes.core.jsontext import jsonable
from custodes.media.redaction.plan import RegionSeed
from custodes.services import jobs as jobs_svc
from custodes.web.deps import Caller
from custodes.web.routes import ops

router = APIRouter()


class JobsCollector(Collector):
    """``/metrics``: jobs queued and running by kind, and how long the ended ones took
    (``services.jobs.job_figures``, counted from the jobs table at each scrape)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def collect(self) -> Iterable[Metric]:
        figures = jobs_svc.job_figures(self._vault)
        queued = GaugeMetricFamily("custodes_jobs_queued", "Jobs queued, by kind.", labels=["kind"])
        running = GaugeMetricFamily(
            "custodes_jobs_running",
            "Jobs running (a fanned-out export waiting for its segments too), by kind.",
            labels=["kind"],
        )
        for kind, n in figures.queued.items():
            queued.add_metric([kind], n)
        for kind, n in figures.running.items():
            running.add_metric([kind], n)
        took = HistogramMetricFamily(
            "custodes_job_duration_seconds",
            "Time from a job's first start to its end (done, failed or cancelled), by kind.",
            labels=["kind"],
        )
        bounds = [*(repr(b) for b in jobs_svc.DURATION_BUCKETS_S), "+Inf"]
        for kind, d in figures.durations.items():
            took.add_metric([kind], list(zip(bounds, d.buckets, strict=True)), d.sum_s)
        yield queued
        yield running
        yield took


ops.register_collector(JobsCollector)

MAX_PAGE = 1000


class ExportRequest(BaseModel):
    """An export, as ``custodes export`` takes it (the copy is written on the server,
    in its export folder)."""

    model_config = ConfigDict(extra="forbid")

    evidence_id: str = Field(max_length=64)
    recipient: str = Field(max_length=128)
    purpose: str = Field(max_length=2000)
    start: float | None = Field(default=None, description="Seconds into the recording.")
    end: float | None = Field(default=None, description="Seconds into the recording.")
    height: int | None = Field(default=None, ge=16, le=4320, description="Scale down to it.")
    visible_mark: bool = True


def _job(job: jobs_svc.JobInfo, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = jsonable(job)
    response = JSONResponse(body, status_code=status)
    response.headers["Location"] = f"/api/v1/jobs/{job.job_id}"
    return response


@router.post("/exports", tags=["exports", "jobs"], status_code=202)
def request_export(body: ExportRequest, caller: Caller) -> JSONResponse:
    """Ask for a watermarked copy for one named recipient. Checked now (a refusal is on
    record, as on the command line); made by a job: poll ``GET /jobs/{id}``."""
    cmd = jobs_svc.RequestExport(
        body.evidence_id,
        recipient=body.recipient,
        purpose=body.purpose,
        start=body.start,
        end=body.end,
        height=body.height,
        visible_mark=body.visible_mark,
    )
    return _job(jobs_svc.request_export(caller.ctx, caller.username, cmd), 202)


class Region(BaseModel):
    """A region drawn on the frame shown at ``t_s`` (source pixels), followed from there."""

    model_config = ConfigDict(extra="forbid")

    t_s: float
    x: float
    y: float
    w: float
    h: float
    label: str = Field(default="region", max_length=64)


class RedactionRequest(BaseModel):
    """A redaction, as ``custodes redact`` takes it (but a reviewed sidecar): the copy,
    its sidecar and contact sheet are written on the server, in its folder for copies."""

    model_config = ConfigDict(extra="forbid")

    evidence_id: str = Field(max_length=64)
    faces: bool = False
    regions: list[Region] = Field(default_factory=list, max_length=100)
    mute: list[tuple[float, float]] = Field(default_factory=list, max_length=100)
    bleep: bool = False
    style: str = Field(default="blur", max_length=16)
    face_model: str = Field(default="centerface", max_length=32)
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/redactions", tags=["redactions", "jobs"], status_code=202)
def request_redaction(body: RedactionRequest, caller: Caller) -> JSONResponse:
    """Ask for a redacted copy. Checked now (a refusal is on record, as on the command
    line); made by a job: poll ``GET /jobs/{id}``."""
    cmd = jobs_svc.RequestRedaction(
        body.evidence_id,
        faces=body.faces,
        regions=tuple(RegionSeed(r.t_s, r.x, r.y, r.w, r.h, r.label) for r in body.regions),
        mute=tuple(body.mute),
        bleep=body.bleep,
        style=body.style,
        face_model=body.face_model,
        reason=body.reason,
    )
    return _job(jobs_svc.request_redaction(caller.ctx, caller.username, cmd), 202)


@router.get("/jobs", tags=["jobs"])
def jobs(
    caller: Caller,
    status: Annotated[str | None, Query(pattern="^(queued|running|done|failed|cancelled)$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> JSONResponse:
    """The jobs you may see, oldest first, with their progress."""
    rows = jobs_svc.list_jobs(caller.ctx, caller.username, status=status)
    response = JSONResponse(jsonable(rows[offset : offset + limit]))
    response.headers["X-Total-Count"] = str(len(rows))
    return response


@router.get("/jobs/{job_id}", tags=["jobs"])
def job(job_id: str, caller: Caller) -> JSONResponse:
    """One job: ``status`` (queued, running, done, failed, cancelled), ``progress``
    (label, done, total, unit), ``result`` once done, ``error`` (code, message)."""
    return _job(jobs_svc.show_job(caller.ctx, caller.username, job_id))


@router.delete("/jobs/{job_id}", tags=["jobs"])
def cancel(job_id: str, caller: Caller) -> JSONResponse:
    """Cancel a job: a queued one at once, a running one at its next step."""
    return _job(jobs_svc.cancel_job(caller.ctx, caller.username, job_id))
