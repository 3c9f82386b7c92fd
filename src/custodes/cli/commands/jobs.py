"""``custodes jobs`` (list, show, cancel, run) and ``custodes worker``: long work run as
jobs (docs/workers.md). The CLI's own ``export`` still runs in the foreground with its
progress bar; jobs are what the web API asks for."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from custodes.cli import output
from custodes.cli.state import show, state
from custodes.core.errors import InvalidInput
from custodes.core.records import JobProgress

#: The worker front door, named by import path: the CLI starts it without importing it
#: (front doors stay independent of each other, docs/architecture.md).
WORKER_MODULE = "custodes.jobs.worker"

app = typer.Typer(
    help="Jobs: long work (exports asked for on the web API) and its progress.",
    invoke_without_command=True,
)


def _progress(p: JobProgress | None) -> str:
    if p is None:
        return ""
    if p.total:
        return f"{p.label} {p.done:g}/{p.total:g} {p.unit}s ({100 * p.done / p.total:.0f}%)"
    return f"{p.label} {p.done:g} {p.unit}s"


@app.callback()
def jobs_default(ctx: typer.Context) -> None:
    """List the jobs you may see (no subcommand), or show, cancel or run them."""
    if ctx.invoked_subcommand is None:
        jobs_list(ctx)


@app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(help="Only jobs in this state: queued, running, done, failed, cancelled."),
    ] = None,
) -> None:
    """List the jobs you may see, with their progress.

    Yours, those of cases whose audit record you read, and for an admin every job."""
    from custodes.services import jobs as jobs_svc

    st = state(ctx)
    rows = jobs_svc.list_jobs(st.acting(), st.actor, status=status)
    if st.json:
        output.emit_json(rows)
        return
    output.table(
        "Jobs",
        ["job", "kind", "status", "progress", "by", "requested", "tries", "evidence"],
        [
            [
                r.job_id,
                r.kind,
                r.status,
                _progress(r.progress),
                r.requested_by,
                r.requested_at[:19],
                str(r.attempts),
                r.evidence_id or "",
            ]
            for r in rows
        ],
    )


@app.command("show")
def jobs_show(ctx: typer.Context, job_id: str) -> None:
    """One job: its state, progress, result or error."""
    from custodes.services import jobs as jobs_svc

    st = state(ctx)
    job = jobs_svc.show_job(st.acting(), st.actor, job_id)
    line = f"Job [bold]{job.job_id}[/] ({job.kind}) {job.status}"
    if job.progress is not None and job.status == "running":
        line += f": {_progress(job.progress)}"
    if job.result is not None:
        line += f"; {job.result.get('export_id', '')} {job.result.get('path', '')}"
    if job.error is not None:
        line += f"; {job.error['code']}: {job.error['message']}"
    show(st, job, line)


@app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: str) -> None:
    """Cancel a job (yours, or anyone's for an admin), on record.

    A queued job is cancelled at once, a running one at its next progress step."""
    from custodes.services import jobs as jobs_svc

    st = state(ctx)
    job = jobs_svc.cancel_job(st.acting(), st.actor, job_id)
    what = "cancelled" if job.status == "cancelled" else "asked to stop"
    show(st, job, f"Job [bold]{job.job_id}[/] {what}")


@app.command("run")
def jobs_run(ctx: typer.Context) -> None:
    """Run the queued jobs of an embedded vault now, then exit.

    `custodes serve` does the same on a background thread. A vault on PostgreSQL runs
    its jobs with `custodes worker`."""
    from custodes.services import jobs as jobs_svc

    st = state(ctx)
    vault = st.vault
    if vault.jobs.engine != "in-process":
        raise InvalidInput(
            "this vault's jobs run on Procrastinate workers: start `custodes worker`"
        )
    with output.progress_sink(st.json) as sink:
        runner = jobs_svc.JobRunner(vault.acting_for(vault.client, progress=sink))
        runner.recover()
        ran = runner.run_pending()
    show(
        st,
        [{"job_id": j, "status": s} for j, s in ran],
        "\n".join(f"Job {j}: {s}" for j, s in ran) or "No job was queued.",
    )


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs run at once (renders: one per core).")
    ] = 1,
    stalled_after: Annotated[
        float,
        typer.Option(
            min=2.0, help="Seconds without a heartbeat after which a worker's jobs are retried."
        ),
    ] = 30.0,
    heartbeat: Annotated[float, typer.Option(min=0.2, help="Seconds between heartbeats.")] = 10.0,
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty.")] = False,
) -> None:
    """Run jobs from the vault's queue (PostgreSQL, Procrastinate) until stopped.

    Start one per core on each machine that should render. A job whose worker dies is
    retried by the others once that worker's heartbeat is --stalled-after seconds old."""
    st = state(ctx)
    module = importlib.import_module(WORKER_MODULE)
    module.check_engine(st.settings)  # one line, before anything is opened
    if heartbeat * 2 > stalled_after:
        raise typer.BadParameter("--stalled-after must be at least twice --heartbeat")
    options = module.WorkerOptions(
        concurrency=concurrency,
        heartbeat_s=heartbeat,
        stalled_after_s=stalled_after,
        stalled_check_s=max(1.0, min(10.0, stalled_after / 3)),
        burst=burst,
    )
    module.run(st.settings, options)
