"""Kinds of job beside exports (in-process engine): a redaction asked for as a job is
checked and on record at the request, made once by its job (a retry after a kill makes
the same derivative, with one redact event naming the job), and bound to the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import InvalidInput, PermissionDenied
from custodes.media.redaction.plan import RegionSeed
from custodes.services import evidence, jobs, verify
from custodes.services.audit import list_events
from tests.factories import add_case, add_user

PLATE = RegionSeed(0.2, 40, 40, 60, 30, "plate")


def _events(vault: Vault, action: str) -> list[dict[str, object]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow) if e["action"] == action]


def test_a_redaction_job_is_made_once_and_bound_to_the_log(
    vault: Vault, clips: dict[str, Path]
) -> None:
    rec = add_user(vault, "records")
    ev = evidence.ingest(vault, rec, clips["a"], add_case(vault, status="adjudicated"))
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        jobs.request_redaction(
            vault, officer, jobs.RequestRedaction(ev.evidence_id, mute=((0, 1),))
        )
    with pytest.raises(InvalidInput, match="nothing to redact"):
        jobs.request_redaction(vault, rec, jobs.RequestRedaction(ev.evidence_id))
    assert _events(vault, "job-requested") == []

    cmd = jobs.RequestRedaction(ev.evidence_id, regions=(PLATE,), mute=((0.0, 1.0),))
    job = jobs.request_redaction(vault, rec, cmd)
    derivative_id = str(job.params["derivative_id"])
    assert job.kind == "redaction" and derivative_id.startswith("RD-")
    [requested] = _events(vault, "job-requested")
    assert requested["object_id"] == job.job_id

    # An attempt killed mid-render left a half copy under the final name.
    with vault.uow() as uow:
        assert uow.jobs.claim(job.job_id, "in-process pid=999999 host=x", "t", stale_running=False)
        uow.commit()
    half = vault.export_dir / f"{derivative_id}.mp4"  # type: ignore[operator]
    half.write_bytes(b"half a copy")
    assert jobs.run_job(vault, job.job_id, worker="w2", stale_running=True) == "done"
    done = jobs.show_job(vault, rec, job.job_id)
    assert done.attempts == 2 and done.result is not None
    assert done.result["derivative_id"] == derivative_id
    assert Path(str(done.result["path"])) == half and half.stat().st_size > 1000
    [redact] = _events(vault, "redact")
    assert redact["object_id"] == derivative_id and redact["details"]["job"] == job.job_id  # type: ignore[index]
    # Again: nothing more.
    assert jobs.run_job(vault, job.job_id, worker="w3", stale_running=True) == "done"
    assert len(_events(vault, "redact")) == 1
    with vault.uow(readonly=True) as uow:
        assert uow.derivatives.find(derivative_id) is not None
    assert verify.verify_vault(vault, "admin").ok


def test_an_index_job_fingerprints_what_is_left_once(
    vault: Vault, clips: dict[str, Path]
) -> None:
    ia = add_user(vault, "internal-affairs")
    rec = add_user(vault, "records")
    number = add_case(vault)
    ids = sorted(evidence.ingest(vault, rec, clips[k], number).evidence_id for k in "ab")
    with pytest.raises(PermissionDenied):
        jobs.request_index(vault, add_user(vault, "officer"))
    assert _events(vault, "job-requested") == []
    job = jobs.request_index(vault, ia, number)
    assert job.kind == "fingerprint-index" and job.case == number
    # An attempt killed after fingerprinting the first recording (its own event on
    # record): the retry fingerprints the rest, and its index event finishes the job.
    from custodes.services import trace

    trace._fingerprints(vault, ia, [e for e in _evidence(vault) if e.id == ids[0]], skip=True)
    with vault.uow() as uow:
        assert uow.jobs.claim(job.job_id, "in-process pid=999999 host=x", "t", stale_running=False)
        uow.commit()
    assert jobs.run_job(vault, job.job_id, worker="w2", stale_running=True) == "done"
    done = jobs.show_job(vault, ia, job.job_id)
    assert done.result == {"indexed": [ids[1]], "already_indexed": 1, "evidence": 2}
    assert [e["evidence"] for e in _events(vault, "fingerprint")] == ids  # once each
    [index] = _events(vault, "fingerprint-index")
    assert index["details"]["job"] == job.job_id  # type: ignore[index]
    assert jobs.run_job(vault, job.job_id, worker="w3", stale_running=True) == "done"
    assert len(_events(vault, "fingerprint-index")) == 1
    assert verify.verify_vault(vault, "admin").ok


def _evidence(vault: Vault) -> list:  # type: ignore[type-arg]
    with vault.uow(readonly=True) as uow:
        return list(uow.evidence.list(None))
