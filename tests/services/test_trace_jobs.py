"""Trace jobs: a clip handed to the vault is traced by a job; a queued job cancelled takes
its clip with it; a job killed after its trace was recorded is not traced twice."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.services import evidence, jobs, trace, trace_jobs
from custodes.services.audit import list_events
from custodes.storage import tables as t
from tests.factories import add_case, add_user


def _ask(vault: Vault, actor: str, clip: Path, tmp_path: Path) -> jobs.JobInfo:
    handed = tmp_path / "handed.mp4"
    shutil.copyfile(clip, handed)
    job = trace_jobs.request_trace(vault, actor, trace_jobs.RequestTrace(handed, "news.mp4"))
    assert not handed.exists()  # the vault's now
    return job


def _events(vault: Vault, action: str) -> list[dict]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def test_a_queued_trace_cancelled_takes_its_clip(
    sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault = sqlite_vault
    rec = add_user(vault, "records")
    job = _ask(vault, rec, clips["a"], tmp_path)
    assert vault.trace_dir is not None
    leak = vault.trace_dir / str(job.params["trace_id"]) / "leak" / "news.mp4"
    assert leak.read_bytes() == clips["a"].read_bytes()
    assert jobs.cancel_job(vault, rec, job.job_id).status == "cancelled"
    assert not leak.parent.exists()
    assert jobs.JobRunner(vault).run_pending() == []


def test_a_trace_already_recorded_is_only_marked_done(
    sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path
) -> None:
    """The runner was killed after the trace's commit: the retry records no second one."""
    vault = sqlite_vault
    rec = add_user(vault, "records")
    evidence.ingest(vault, rec, clips["b"], add_case(vault))
    job = _ask(vault, rec, clips["a"], tmp_path)
    trace_id = str(job.params["trace_id"])
    assert vault.trace_dir is not None
    where = vault.trace_dir / trace_id
    traced = trace.trace_leak(
        vault,
        rec,
        where / "leak" / "news.mp4",
        report_dir=where / "report",
        trace_id=trace_id,
        job_id=job.job_id,
    )
    assert traced.trace_id == trace_id
    assert jobs.JobRunner(vault).run_pending() == [(job.job_id, "done")]
    done = jobs.show_job(vault, rec, job.job_id)
    assert done.result == {
        "trace_id": trace_id,
        "verdict": traced.verdict,
        "evidence_id": None if traced.source is None else traced.source.evidence_id,
        "attributed": [],
    }
    with vault.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.traces)).scalar() == 1
    [recorded] = _events(vault, "trace")
    assert recorded["details"]["job"] == job.job_id
    assert not (where / "leak").exists()
    assert (where / "report" / f"{trace_id}.pdf").is_file()


def test_a_job_whose_clip_is_gone_fails_and_leaves_nothing(
    sqlite_vault: Vault, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault = sqlite_vault
    rec = add_user(vault, "records")
    job = _ask(vault, rec, clips["a"], tmp_path)
    assert vault.trace_dir is not None
    where = vault.trace_dir / str(job.params["trace_id"])
    (where / "leak" / "news.mp4").write_bytes(b"changed behind the vault's back")
    assert jobs.JobRunner(vault).run_pending() == [(job.job_id, "failed")]
    failed = jobs.show_job(vault, rec, job.job_id)
    assert failed.error is not None and failed.error["code"] == "IntegrityFailure"
    assert "changed since it was sent" in str(failed.error["message"])
    assert not where.exists()
    assert _events(vault, "job-stopped")[-1]["details"]["status"] == "failed"
