"""A long export job fanned out as segment jobs (in-process engine, SQLite): one job per
segment, each with its own event and row; the last to end queues the join; the copy is
what a single process makes, on record once; retries, failures and a cancel."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from custodes import bootstrap
from custodes.bootstrap import Vault
from custodes.config import Settings
from custodes.core.records import JobStatus
from custodes.core.watermark import derive_key
from custodes.media.synth import write_bodycam_clip
from custodes.services import evidence, exports, jobs, verify
from custodes.services.audit import list_events
from tests.factories import add_case, add_user
from tests.factories.copies import assert_same_copy


@pytest.fixture(scope="module")
def clip4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 15 fps, a keyframe each second: 2 s segments make two."""
    root = tmp_path_factory.mktemp("fanout")
    return write_bodycam_clip(root / "four.mp4", seconds=4.0, width=320, height=180, fps=15, seed=5)


@pytest.fixture
def world(vault: Vault, clip4: Path) -> tuple[Vault, str, str]:
    """On SQLite and on PostgreSQL (where each job is also deferred to Procrastinate:
    a parent queued again while its first entry still waits keeps that entry)."""
    vault = dataclasses.replace(vault, segment_seconds=1.0)
    number = add_case(vault)
    ev = evidence.ingest(vault, "admin", clip4, number).evidence_id
    return vault, ev, add_user(vault, "supervisor")


def _events(vault: Vault, action: str) -> list[dict[str, object]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def _request(vault: Vault, sup: str, ev: str) -> jobs.JobInfo:
    cmd = jobs.RequestExport(ev, recipient="Deputy DA Ruiz", purpose="charging")
    return jobs.request_export(vault, sup, cmd)


def test_a_long_export_fans_out_and_makes_a_single_process_s_bytes(
    world: tuple[Vault, str, str], clip4: Path, tmp_path: Path
) -> None:
    vault, ev, sup = world
    job = _request(vault, sup, ev)
    export_id = str(job.params["export_id"])
    # The first run plans and fans out: one job per segment, each with its event.
    assert jobs.run_job(vault, job.job_id, worker="w1") == "running"
    with vault.uow(readonly=True) as uow:
        kids = uow.jobs.children(job.job_id)
    assert [k.id for k in kids] == [jobs.child_id(job.job_id, i) for i in range(4)]
    assert {k.kind for k in kids} == {"export-segment"} and {k.status for k in kids} == {"queued"}
    requested = _events(vault, "job-requested")
    assert [e["object_id"] for e in requested] == [job.job_id, *(k.id for k in kids)]
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.status == "running" and shown.worker == jobs.FAN_OUT_WORKER
    assert shown.progress is not None and (shown.progress.done, shown.progress.total) == (0, 4)
    # A stalled retry of the parent before its segments ended changes nothing.
    assert jobs.run_job(vault, job.job_id, worker="w2", stale_running=True) == "running"

    # Segments run in any order (here the last first); the parent counts them.
    assert jobs.run_job(vault, kids[3].id, worker="w1") == "done"
    assert jobs.run_job(vault, kids[3].id, worker="w1", stale_running=True) == "done"  # again
    shown = jobs.show_job(vault, sup, job.job_id)
    assert shown.progress is not None and (shown.progress.done, shown.progress.total) == (1, 4)
    assert shown.status == "running"
    # The rest, and then the parent (queued again by the last segment), by the runner.
    ran = jobs.JobRunner(vault).run_pending()
    assert ran == [*((k.id, "done") for k in kids[:3]), (job.job_id, "done")]

    done = jobs.show_job(vault, sup, job.job_id)
    assert done.status == "done" and done.result is not None
    assert done.progress is not None and done.progress.label == "export"
    [export] = _events(vault, "export")  # one export event, naming the parent
    assert export["object_id"] == export_id and export["details"]["job"] == job.job_id  # type: ignore[index]
    assert len(_events(vault, "job-done")) == 4 and _events(vault, "job-stopped") == []
    folder = vault.export_dir
    assert folder is not None and [p.name for p in folder.iterdir()] == [f"{export_id}.mp4"]
    assert verify.verify_vault(vault, "admin").ok
    # Running anything again does nothing.
    assert jobs.JobRunner(vault).run_pending() == []
    assert jobs.run_job(vault, job.job_id, worker="w3", stale_running=True) == "done"
    assert len(_events(vault, "export")) == 1

    # A single process, with the same vault secret and export id, makes the same copy:
    # the same frames, sound and mark (tests.factories.copies says why not the bytes).
    ref = bootstrap.init_vault(Settings(home=tmp_path / "ref"))
    try:
        secret = vault.settings.home / bootstrap.WATERMARK_SECRET_FILE
        (ref.settings.home / bootstrap.WATERMARK_SECRET_FILE).write_bytes(secret.read_bytes())
        ref_ev = evidence.ingest(ref, "admin", clip4, add_case(ref)).evidence_id
        single = exports.export_evidence(
            ref,
            add_user(ref, "supervisor"),
            exports.ExportEvidence(
                ref_ev,
                recipient="Deputy DA Ruiz",
                purpose="charging",
                out=tmp_path / "single.mp4",
                export_id=export_id,
            ),
        )
    finally:
        ref.engine.dispose()
    copy = folder / f"{export_id}.mp4"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == done.result["sha256"]
    assert single.frames == done.result["frames"] == 60
    key = derive_key(secret.read_bytes(), export_id)
    assert_same_copy(copy, tmp_path / "single.mp4", clip4, key)


def test_a_segment_killed_mid_render_is_rendered_again(world) -> None:
    vault, ev, sup = world
    job = _request(vault, sup, ev)
    assert jobs.run_job(vault, job.job_id, worker="w1") == "running"
    kid = jobs.child_id(job.job_id, 1)
    with vault.uow() as uow:  # a runner took it and was killed mid-render
        assert uow.jobs.claim(kid, "in-process pid=999999 host=x", "t", stale_running=False)
        uow.commit()
    work = vault.export_dir / f".{job.params['export_id']}.segments"  # type: ignore[operator]
    work.mkdir(parents=True)
    half = work / ".seg0001.mp4.999999.0badc0de.part"
    half.write_bytes(b"half a segment")
    assert jobs.run_job(vault, kid, worker="w2", stale_running=True) == "done"
    assert not half.exists()
    assert jobs.show_job(vault, sup, kid).attempts == 2
    jobs.JobRunner(vault).run_pending()
    assert jobs.show_job(vault, sup, job.job_id).status == "done"
    assert len(_events(vault, "export")) == 1 and not work.exists()
    assert verify.verify_vault(vault, "admin").ok


def test_an_altered_segment_fails_the_export_and_a_cancel_stops_the_rest(world) -> None:
    vault, ev, sup = world
    job = _request(vault, sup, ev)
    jobs.run_job(vault, job.job_id, worker="w1")
    kids = [jobs.child_id(job.job_id, i) for i in range(4)]
    for kid in kids:
        assert jobs.run_job(vault, kid, worker="w1") == "done"
    part = vault.export_dir / f".{job.params['export_id']}.segments" / "seg0002.mp4"  # type: ignore[operator]
    part.write_bytes(part.read_bytes()[:-10])
    assert jobs.JobRunner(vault).run_pending() == [(job.job_id, "failed")]
    failed = jobs.show_job(vault, sup, job.job_id)
    assert failed.error is not None and failed.error["code"] == "IntegrityFailure"
    assert _events(vault, "export") == []
    assert verify.verify_vault(vault, "admin").ok

    # Cancelled while its segments wait: they stop, and so does the export.
    other = _request(vault, sup, ev)
    jobs.run_job(vault, other.job_id, worker="w1")
    assert jobs.cancel_job(vault, sup, other.job_id).status == "running"
    ran = dict(jobs.JobRunner(vault).run_pending())
    assert ran == {
        **{jobs.child_id(other.job_id, i): "cancelled" for i in range(4)},
        other.job_id: "cancelled",
    }
    assert jobs.show_job(vault, sup, other.job_id).status == JobStatus.CANCELLED.value
    assert verify.verify_vault(vault, "admin").ok
