"""Procrastinate's queue (issue 19), written on the vault's own connection.

A job is deferred by calling Procrastinate's own SQL function (``procrastinate_defer_
jobs_v1``, the one its ``defer`` calls) on the unit of work's connection, inside the
transaction that writes the job's row and its ``job-requested`` event: the three commit
together or not at all, with no outbox to relay. Procrastinate's schema lives in the
vault's database schema (migration 0009). The workers (``custodes worker``,
``custodes.jobs.worker``) run the task :data:`TASK` from the queue :data:`QUEUE`.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

TASK = "custodes.run_job"
QUEUE = "custodes"

_DEFER = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    ":queue, :task, 0, :lock, :queueing_lock, CAST(:args AS jsonb), NULL"
    ")::procrastinate_job_to_defer_v1])) AS id"
)


class ProcrastinateQueue:
    """Jobs deferred to Procrastinate workers on PostgreSQL."""

    engine = "procrastinate"

    def enqueue(self, transaction: object, job_id: str, kind: str) -> None:
        if not isinstance(transaction, Connection):
            raise TypeError("a Procrastinate job is deferred on the unit of work's connection")
        # lock: two runs of one custodes job never overlap (a retry waits for the
        # first); queueing_lock: it is never queued twice. A job queued again (the
        # parent of fanned-out segments, by its last segment) whose entry is still
        # waiting (a stalled retry) keeps that entry: the savepoint undoes the refused
        # second one, and the waiting entry runs the job.
        try:
            with transaction.begin_nested():
                transaction.execute(
                    _DEFER,
                    {
                        "queue": QUEUE,
                        "task": TASK,
                        "lock": job_id,
                        "queueing_lock": job_id,
                        "args": json.dumps({"job_id": job_id}),
                    },
                )
        except IntegrityError as exc:
            if "queueing_lock" not in str(exc.orig):
                raise

    def wake(self) -> None:
        return None  # the insert's NOTIFY reaches the workers at commit

    def wait_for_work(self, timeout: float) -> None:
        time.sleep(timeout)  # nothing runs in this process
