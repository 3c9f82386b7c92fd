"""Jobs on the in-process engine: requested with their event, run once, idempotent,
progress in the row, cancelled on record, seen by whom ``decide_job`` says, and bound
to the signed log (``verify``)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sqlite3
from pathlib import Path

import av
import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound, PermissionDenied
from custodes.core.records import JobStatus
from custodes.services import evidence, jobs, verify
from custodes.services.audit import list_events
from tests.factories import add_case, add_user


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]) -> tuple[Vault, str, str]:
    number = add_case(sqlite_vault)
    ev = evidence.ingest(sqlite_vault, "admin", clips["a"], number)
    return sqlite_vault, number, ev.evidence_id


def _request(vault: Vault, user: str, ev: str, **kw: object) -> jobs.JobInfo:
    cmd = jobs.RequestExport(ev, recipient="Deputy DA Ruiz", purpose="charging", **kw)  # type: ignore[arg-type]
    return jobs.request_export(vault, user, cmd)


def _events(vault: Vault, action: str) -> list[dict[str, object]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def test_an_export_job_runs_once_and_is_bound_to_the_log(world) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev, start=0.0, end=1.0)
    assert job.status == "queued" and job.params["export_id"].startswith("EX-")
    requested = _events(vault, "job-requested")
    assert [(e["object_type"], e["object_id"]) for e in requested] == [("job", job.job_id)]
    assert job.audit_seq == requested[0]["seq"]

    runner = jobs.JobRunner(vault)
    assert runner.run_pending() == [(job.job_id, "done")]
    done = jobs.show_job(vault, sup, job.job_id)
    assert done.status == "done" and done.attempts == 1 and done.result is not None
    assert done.result["export_id"] == job.params["export_id"]
    out = Path(str(done.result["path"]))
    assert out == vault.export_dir / f"{job.params['export_id']}.mp4"  # type: ignore[operator]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == done.result["sha256"]
    assert done.progress is not None and done.progress.label == "export"
    assert done.progress.done == done.progress.total == 15  # 1 s at 15 fps
    [export] = _events(vault, "export")
    assert export["details"]["job"] == job.job_id  # type: ignore[index]

    # Running it again (a retry, a second runner) does nothing: one export, one event.
    assert jobs.run_job(vault, job.job_id, worker="again") == "done"
    assert jobs.run_job(vault, job.job_id, worker="again", stale_running=True) == "done"
    assert len(_events(vault, "export")) == 1
    assert verify.verify_vault(vault, "admin").ok


def test_a_retry_after_a_kill_finishes_the_same_export(world) -> None:
    """A runner killed mid-render leaves the job running and its hidden file; the retry
    sweeps that file and makes the export whose id was fixed at the request."""
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev, end=1.0)
    with vault.uow() as uow:
        assert uow.jobs.claim(
            job.job_id, "in-process pid=999999 host=elsewhere", "t", stale_running=False
        )
        uow.commit()
    vault.export_dir.mkdir(parents=True)  # type: ignore[union-attr]
    dest = vault.export_dir / f"{job.params['export_id']}.mp4"  # type: ignore[operator]
    half = dest.with_name(f".{dest.name}.{job.params['export_id']}.999999.pending")
    half.write_bytes(b"half a copy")
    assert jobs.JobRunner(vault).run_pending() == []  # running elsewhere: not taken
    assert jobs.run_job(vault, job.job_id, worker="w2", stale_running=True) == "done"
    assert not half.exists() and dest.exists()
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.attempts == 2 and shown.result["export_id"] == job.params["export_id"]  # type: ignore[index]
    assert len(_events(vault, "export")) == 1


def test_a_dead_in_process_runner_s_job_is_requeued(world) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev, end=1.0)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    runner = jobs.JobRunner(vault)
    with vault.uow() as uow:
        host = runner.worker.split("host=")[1]
        uow.jobs.claim(job.job_id, f"in-process pid={dead} host={host}", "t", stale_running=False)
        uow.commit()
    assert runner.recover() == [job.job_id]
    assert runner.run_pending() == [(job.job_id, "done")]


def test_the_request_is_refused_on_record_and_queues_nothing(world) -> None:
    vault, _number, ev = world
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        _request(vault, officer, ev)
    sup = add_user(vault, "supervisor")
    with pytest.raises(InvalidInput) as bad:
        _request(vault, sup, ev, start=5.0)
    assert bad.value.field == "start"
    with pytest.raises(NotFound):
        _request(vault, sup, "EV-NOSUCH")
    assert jobs.list_jobs(vault, "admin") == []
    assert _events(vault, "job-requested") == []
    refused = [e["actor"] for e in _events(vault, "access-refused")]
    assert officer in refused


def test_who_sees_and_cancels_a_job(world) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    rec = add_user(vault, "records")
    officer = add_user(vault, "officer")
    job = _request(vault, sup, ev)
    assert [j.job_id for j in jobs.list_jobs(vault, rec)] == [job.job_id]  # reads the record
    assert jobs.list_jobs(vault, officer) == []
    with pytest.raises(PermissionDenied):
        jobs.show_job(vault, officer, job.job_id)
    with pytest.raises(PermissionDenied):
        jobs.cancel_job(vault, rec, job.job_id)  # sees it, may not cancel another's
    with pytest.raises(NotFound):
        jobs.show_job(vault, sup, "JB-NOSUCH")
    cancelled = jobs.cancel_job(vault, sup, job.job_id)
    assert cancelled.status == "cancelled"
    [event] = _events(vault, "job-cancel")
    assert event["actor"] == sup and event["details"]["status"] == "cancelled"  # type: ignore[index]
    assert jobs.JobRunner(vault).run_pending() == []  # nothing queued any more
    with pytest.raises(CustodyConflict):
        jobs.cancel_job(vault, "admin", job.job_id)
    assert verify.verify_vault(vault, "admin").ok


def test_a_running_job_stops_at_its_next_progress_step(world, monkeypatch) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev)
    write = jobs.JobProgressSink.write

    def write_then_cancel(self: jobs.JobProgressSink, progress: object) -> None:
        if getattr(progress, "done", 0) >= 3:  # mid-render, an admin cancels it
            assert jobs.cancel_job(vault, "admin", job.job_id).cancel_requested
        write(self, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr(jobs.JobProgressSink, "write", write_then_cancel)
    assert jobs.run_job(vault, job.job_id, worker="w") == "cancelled"
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.status == "cancelled" and _events(vault, "export") == []
    assert list(vault.export_dir.iterdir()) == []  # type: ignore[union-attr]  # nothing half-made
    [stopped] = _events(vault, "job-stopped")
    assert stopped["details"]["status"] == "cancelled"  # type: ignore[index]
    assert verify.verify_vault(vault, "admin").ok


def test_a_job_that_fails_is_on_record(world) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev)
    vault.export_dir.mkdir(parents=True)  # type: ignore[union-attr]
    # A file where the copy goes: exports never overwrite one.
    (vault.export_dir / f"{job.params['export_id']}.mp4").write_bytes(b"x")  # type: ignore[operator]
    assert jobs.JobRunner(vault).run_pending() == [(job.job_id, "failed")]
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.status == JobStatus.FAILED.value and shown.error is not None
    [stopped] = _events(vault, "job-stopped")
    assert stopped["details"]["code"] == shown.error["code"]  # type: ignore[index]
    assert verify.verify_vault(vault, "admin").ok


@pytest.mark.sqlite_only("tampers with the embedded vault's database file")
def test_verify_names_a_job_row_that_no_event_vouches_for(world, sqlite_settings) -> None:
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev, end=1.0)
    jobs.JobRunner(vault).run_pending()
    db = sqlite3.connect(sqlite_settings.home / "vault.db")
    with db:
        db.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", (job.job_id,))
        db.execute(
            "INSERT INTO jobs (id, kind, params, requested_by, requested_at, audit_seq, status,"
            " attempts, cancel_requested) VALUES ('JB-FORGED', 'export', '{}', 'x', 't', 1,"
            " 'queued', 0, 0)"
        )
    db.close()
    found = [(p["kind"], p["detail"]) for p in verify.verify_vault(vault, "admin").problems]
    assert ("state-row-altered", f"job {job.job_id} differs from the log in outcome") in found
    assert (
        "state-row-unlogged",
        "job JB-FORGED is in the tables but no event made it",
    ) in found


def test_a_copy_on_record_but_not_renamed_is_named_by_the_retry(world) -> None:
    """Killed after the export's commit and before the rename: the copy is on record
    under its hidden name; the retry finds the job done and names the file, once its
    hash matches the recorded one (a file that does not match stays hidden)."""
    vault, _number, ev = world
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev, end=1.0)
    jobs.JobRunner(vault).run_pending()
    dest = vault.export_dir / f"{job.params['export_id']}.mp4"  # type: ignore[operator]
    hidden = dest.with_name(f".{dest.name}.{job.params['export_id']}.999999.pending")
    os.replace(dest, hidden)
    decoy = dest.with_name(f".{dest.name}.{job.params['export_id']}.1.pending")
    decoy.write_bytes(b"not the copy")
    assert jobs.run_job(vault, job.job_id, worker="retry", stale_running=True) == "done"
    assert jobs.finish_file(vault, job.job_id)
    assert dest.exists() and not hidden.exists() and decoy.exists()
    assert (
        hashlib.sha256(dest.read_bytes()).hexdigest()
        == jobs.show_job(vault, sup, job.job_id).result["sha256"]
    )  # type: ignore[index]
    assert len(_events(vault, "export")) == 1


def test_progress_writes_are_throttled(world, monkeypatch) -> None:
    vault, _number, ev = world
    job = _request(vault, add_user(vault, "supervisor"), ev)
    with vault.uow() as uow:
        uow.jobs.claim(job.job_id, "w", "t", stale_running=False)
        uow.commit()
    writes: list[float] = []
    write = jobs.JobProgressSink.write

    def counted(self: jobs.JobProgressSink, progress: object) -> None:
        writes.append(progress.done)  # type: ignore[attr-defined]
        write(self, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs.JobProgressSink, "write", counted)
    task = jobs.JobProgressSink(vault, job.job_id, interval=60).start("export", 500, unit="frame")
    for _ in range(500):
        task.advance()
    assert writes == [0, 500]  # the start and the end, nothing between within a minute
    shown = jobs.show_job(vault, "admin", job.job_id)
    assert shown.progress == jobs.JobProgress("export", 500, 500, "frame")


def test_an_unavailable_backend_puts_the_job_back(world, monkeypatch) -> None:
    from custodes.core.errors import BackendUnavailable
    from custodes.services import exports

    vault, _number, ev = world
    job = _request(vault, add_user(vault, "supervisor"), ev)

    def unavailable(*args: object, **kw: object) -> None:
        raise BackendUnavailable("the blob store does not answer")

    monkeypatch.setattr(exports, "export_evidence", unavailable)
    with pytest.raises(BackendUnavailable):
        jobs.JobRunner(vault).run_pending()
    shown = jobs.show_job(vault, "admin", job.job_id)
    assert (shown.status, shown.attempts) == ("queued", 1)  # to be retried, not failed
    assert _events(vault, "job-stopped") == []


def test_a_long_export_job_is_rendered_in_segments_and_retried_after_a_kill(world) -> None:
    """Above ``segment_seconds`` the job fans out one job per segment and joins their
    parts; a killed attempt's hidden files are swept by the retry, which makes the one
    export on record (tests/services/test_job_fanout.py has the rest)."""
    vault, _number, ev = world
    vault = dataclasses.replace(vault, segment_seconds=0.5)  # clip "a": keyframes each 1 s
    sup = add_user(vault, "supervisor")
    job = _request(vault, sup, ev)
    with vault.uow() as uow:
        assert uow.jobs.claim(
            job.job_id, "in-process pid=999999 host=elsewhere", "t", stale_running=False
        )
        uow.commit()
    vault.export_dir.mkdir(parents=True)  # type: ignore[union-attr]
    dest = vault.export_dir / f"{job.params['export_id']}.mp4"  # type: ignore[operator]
    part = dest.with_name(f".{dest.name}.{job.params['export_id']}.999999.pending.seg0001.mp4")
    part.write_bytes(b"half a segment")
    assert jobs.run_job(vault, job.job_id, worker="w2", stale_running=True) == "running"
    assert not part.exists()
    ran = jobs.JobRunner(vault).run_pending()
    assert ran == [
        (jobs.child_id(job.job_id, 0), "done"),
        (jobs.child_id(job.job_id, 1), "done"),
        (job.job_id, "done"),
    ]
    assert dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.attempts == 3 and shown.result["frames"] == 30  # type: ignore[index]
    [export] = _events(vault, "export")
    assert export["details"]["job"] == job.job_id  # type: ignore[index]
    with vault.uow(readonly=True) as uow:
        record = uow.exports.find(str(job.params["export_id"]))
    assert record is not None and record.lineage["segments"] == 2
    with av.open(str(dest)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
    assert verify.verify_vault(vault, "admin").ok
