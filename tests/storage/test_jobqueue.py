"""Procrastinate's queue on the vault's PostgreSQL connection: a job's row, its
``job-requested`` event and Procrastinate's entry commit together or not at all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.errors import InvalidInput
from custodes.services import evidence, jobs, verify
from custodes.storage.jobqueue import QUEUE, TASK, ProcrastinateQueue
from tests.factories import add_case, add_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_vault(pg_schema_url: str, tmp_path: Path, clips: dict[str, Path]) -> Iterator[Vault]:
    vault = bootstrap.init_vault(Settings(home=tmp_path / "vault", database_url=pg_schema_url))
    try:
        yield vault
    finally:
        vault.engine.dispose()


def _counts(vault: Vault) -> tuple[int, int, int]:
    with vault.engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM jobs")).scalar_one(),
            conn.execute(
                text("SELECT count(*) FROM audit_events WHERE action = 'job-requested'")
            ).scalar_one(),
            conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one(),
        )


def _request(vault: Vault, clips: dict[str, Path]) -> jobs.JobInfo:
    number = add_case(vault)
    ev = evidence.ingest(vault, "admin", clips["a"], number).evidence_id
    sup = add_user(vault, "supervisor")
    return jobs.request_export(vault, sup, jobs.RequestExport(ev, recipient="R", purpose="p"))


def test_postgres_defaults_to_procrastinate(pg_vault: Vault, clips: dict[str, Path]) -> None:
    assert pg_vault.jobs.engine == "procrastinate"
    job = _request(pg_vault, clips)
    assert _counts(pg_vault) == (1, 1, 1)
    with pg_vault.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT queue_name, task_name, lock, queueing_lock, args, status"
                " FROM procrastinate_jobs"
            )
        ).one()
    assert (row.queue_name, row.task_name, row.status) == (QUEUE, TASK, "todo")
    assert row.lock == row.queueing_lock == job.job_id
    assert row.args == {"job_id": job.job_id}


class _FailsAfterEnqueue(ProcrastinateQueue):
    """Defers the job for real, then fails before the commit (a crash, a lost
    connection): the transaction holds the event, the row and the queue entry."""

    def enqueue(self, transaction: object, job_id: str, kind: str) -> None:
        super().enqueue(transaction, job_id, kind)
        raise InvalidInput("the enqueue failed after writing")


class _FailsBeforeEnqueue(ProcrastinateQueue):
    def enqueue(self, transaction: object, job_id: str, kind: str) -> None:
        raise InvalidInput("the broker is gone")


@pytest.mark.parametrize("queue", [_FailsAfterEnqueue, _FailsBeforeEnqueue])
def test_a_failure_between_event_and_job_leaves_neither(
    pg_vault: Vault, clips: dict[str, Path], queue: type[ProcrastinateQueue]
) -> None:
    broken = dataclasses.replace(pg_vault, jobs=queue())
    with pytest.raises(InvalidInput):
        _request(broken, clips)
    assert _counts(pg_vault) == (0, 0, 0)
    # And the log still verifies: no event was half-written.
    assert verify.verify_vault(pg_vault, "admin").ok


def test_procrastinate_is_refused_without_postgres(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, jobs="procrastinate")
    with pytest.raises(InvalidInput, match="needs a PostgreSQL database"):
        settings.job_engine  # noqa: B018


def test_the_libpq_url_keeps_the_schema(pg_vault: Vault) -> None:
    url = bootstrap.libpq_url(pg_vault.settings)
    assert url.startswith("postgresql://") and "search_path" in url
    assert json.dumps(url)  # a plain string
