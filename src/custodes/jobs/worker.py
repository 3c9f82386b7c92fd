"""``custodes worker``: a Procrastinate worker that runs the vault's jobs (issue 19).

The worker takes custodes jobs from Procrastinate's queue in the vault's PostgreSQL
database and runs each through ``services.jobs.run_job``, with the same use cases and
the same authorization as the CLI and the web (the job acts for the person who
requested it; the audit entry's ``client`` names the job and this worker).

Safety against the engine's own failure modes (docs/workers.md):

- a worker killed outright (SIGKILL, power loss) stops sending its heartbeat; every
  running worker looks, every ``stalled_check_s``, for jobs whose worker has sent none
  for ``stalled_after_s`` and puts them back in the queue (Procrastinate's
  ``get_stalled_jobs`` / ``retry_job``). The retry finishes the same export: nothing is
  done twice (``run_job`` is idempotent, and a custodes job's Procrastinate ``lock``
  is its id, so two attempts never overlap);
- there is no visibility timeout or consumer timeout to outrun: a job holds no broker
  message, only a row in ``doing`` state and the worker's heartbeat.

The CLI starts it by import path (``custodes worker``), so the two front doors stay
independent of each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import procrastinate

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import BackendUnavailable, InvalidInput
from custodes.services import jobs as jobs_svc

TASK = bootstrap.PROCRASTINATE_TASK
QUEUE = bootstrap.PROCRASTINATE_QUEUE

log = logging.getLogger("custodes.worker")


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 1
    """Jobs run at once by this process (renders are CPU-bound: one per core)."""
    heartbeat_s: float = 10.0
    stalled_after_s: float = 30.0
    """A worker silent this long is taken for dead and its jobs are retried."""
    stalled_check_s: float = 10.0
    burst: bool = False
    """Stop once the queue is empty (tests, a cron-driven batch)."""


def check_engine(settings: Settings) -> None:
    """Refuse, in one line, a vault whose jobs do not run on Procrastinate."""
    if settings.job_engine != "procrastinate":
        raise InvalidInput(
            "custodes worker runs the jobs of a vault on PostgreSQL (CUSTODES_DATABASE_URL, "
            "CUSTODES_JOBS=procrastinate); this vault runs its jobs in-process: "
            "`custodes serve` runs them, or `custodes jobs run`",
        )


def build_app(vault: Vault) -> procrastinate.App:
    """A Procrastinate app on the vault's database, with the one task that runs a job."""
    connector = procrastinate.PsycopgConnector(
        conninfo=bootstrap.libpq_url(vault.settings), min_size=1, max_size=4
    )
    app = procrastinate.App(connector=connector)
    name = jobs_svc.worker_name("procrastinate")

    # A backend that is briefly unavailable (the database, the blob store) is retried by
    # Procrastinate, waiting longer each time; any other error ends the custodes job
    # failed, on record, and the Procrastinate job succeeds (nothing to retry).
    retry = procrastinate.RetryStrategy(
        max_attempts=8, linear_wait=15, retry_exceptions={BackendUnavailable}
    )

    @app.task(name=TASK, queue=QUEUE, pass_context=True, retry=retry)
    def run_job(context: procrastinate.JobContext, job_id: str) -> None:
        # Under the job's lock no other attempt runs: a job marked running belongs to
        # an attempt whose worker is gone (a stalled retry), so it is taken over.
        status = jobs_svc.run_job(vault, job_id, worker=name, stale_running=True)
        if status == "done":
            jobs_svc.finish_file(vault, job_id)
        log.info("job %s: %s", job_id, status)

    return app


async def _retry_stalled(app: procrastinate.App, options: WorkerOptions) -> None:
    while True:
        with contextlib.suppress(Exception):  # a passing database error: look again later
            stalled = await app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=options.stalled_after_s
            )
            for job in stalled:
                log.warning("job %s: its worker is gone; retrying it", job.id)
                await app.job_manager.retry_job(job)
        await asyncio.sleep(options.stalled_check_s)


def run(settings: Settings, options: WorkerOptions) -> None:
    """Run a worker on the vault ``settings`` name until SIGINT or SIGTERM."""
    check_engine(settings)
    vault = bootstrap.open_vault(settings, client=jobs_svc.worker_name("procrastinate"))
    app = build_app(vault)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        async with app.open_async():
            sweeper = asyncio.create_task(_retry_stalled(app, options))
            try:
                worker_kwargs: dict[str, Any] = {
                    "queues": [QUEUE],
                    "concurrency": options.concurrency,
                    "wait": not options.burst,
                    "update_heartbeat_interval": options.heartbeat_s,
                    "stalled_worker_timeout": options.stalled_after_s,
                    "name": jobs_svc.worker_name("procrastinate"),
                }
                await app.run_worker_async(**worker_kwargs)
            finally:
                sweeper.cancel()

    try:
        asyncio.run(main())
    finally:
        vault.engine.dispose()
