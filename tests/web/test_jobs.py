"""Exports asked for on the API run as jobs: 202 with the job, progress polled, the
result, cancel; refusals as JSON with stable codes, on record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custodes.services import cases, evidence, jobs
from custodes.web.app import create_app
from tests.web.conftest import ORIGIN, Web, post


def _world(web: Web, clips: dict[str, Path]) -> tuple[str, str]:
    rec = web.user("records")
    cases.add_case(web.vault, rec, "C-JOBS", "jobs")
    return rec, evidence.ingest(web.vault, rec, clips["a"], "C-JOBS").evidence_id


def test_an_export_job_on_the_api(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, ev = _world(web, clips)
    client = web.sign_in(rec)
    body = {"evidence_id": ev, "recipient": "Deputy DA Ruiz", "purpose": "charging", "end": 1}
    r = post(client, "/api/v1/exports", body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and r.headers["Location"] == f"/api/v1/jobs/{job['job_id']}"
    [requested] = web.events("job-requested")
    assert requested["client"].startswith("web:session/") and requested["actor"] == rec

    assert jobs.JobRunner(web.vault).run_pending() == [(job["job_id"], "done")]
    shown = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert shown["status"] == "done" and shown["attempts"] == 1
    assert shown["progress"] == {"label": "export", "done": 15.0, "total": 15.0, "unit": "frame"}
    assert shown["result"]["export_id"] == job["params"]["export_id"]
    [export] = web.events("export")
    assert export["client"].startswith(f"job {job['job_id']} ")  # the job acted, for rec
    assert export["actor"] == rec
    listed = client.get("/api/v1/jobs").json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]

    r = client.delete(f"/api/v1/jobs/{job['job_id']}", headers={"Origin": ORIGIN})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"

    officer = web.sign_in(web.user("officer"))
    r = officer.get(f"/api/v1/jobs/{job['job_id']}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "access-denied"
    assert web.events("access-refused")[-1]["details"]["attempted"] == "vault:job:view"
    assert officer.get("/api/v1/jobs").json() == []


def test_bad_requests_name_their_field(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, ev = _world(web, clips)
    client = web.sign_in(rec)
    r = post(
        client, "/api/v1/exports", {"evidence_id": ev, "recipient": "X", "purpose": "p", "start": 9}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "start"
    r = post(client, "/api/v1/exports", {"evidence_id": ev, "recipient": "X"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "purpose"
    r = post(client, "/api/v1/exports", {"evidence_id": "EV-NO", "recipient": "X", "purpose": "p"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not-found"
    assert web.events("job-requested") == []


def test_cancel_a_queued_job(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, ev = _world(web, clips)
    client = web.sign_in(rec)
    job = post(client, "/api/v1/exports", {"evidence_id": ev, "recipient": "X", "purpose": "p"})
    r = client.delete(f"/api/v1/jobs/{job.json()['job_id']}", headers={"Origin": ORIGIN})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert web.events("job-cancel")[-1]["actor"] == rec


@pytest.mark.sqlite_only("the in-process job engine; on PostgreSQL `custodes worker` runs jobs")
def test_serve_runs_jobs_on_a_background_thread(sqlite_web: Web, clips: dict[str, Path]) -> None:
    web = sqlite_web
    rec, ev = _world(web, clips)
    with TestClient(create_app(web.vault, run_jobs=True), base_url=ORIGIN) as client:
        web.sign_in(rec, client)
        body = {"evidence_id": ev, "recipient": "X", "purpose": "p", "end": 0.5}
        job_id = post(client, "/api/v1/exports", body).json()["job_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = client.get(f"/api/v1/jobs/{job_id}").json()
            if shown["status"] not in ("queued", "running"):
                break
            time.sleep(0.2)
    assert shown["status"] == "done", shown
    assert shown["worker"].startswith("in-process pid=")


def test_a_redaction_job_and_a_fanned_out_export_s_progress_on_the_api(
    sqlite_web: Web, clips: dict[str, Path]
) -> None:
    import dataclasses

    web = sqlite_web
    rec = web.user("records")
    cases.add_case(web.vault, "admin", "C-RD", "redactions", "adjudicated")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-RD").evidence_id
    client = web.sign_in(rec)
    region = {"t_s": 0.2, "x": 40, "y": 40, "w": 60, "h": 30, "label": "plate"}
    r = post(client, "/api/v1/redactions", {"evidence_id": ev, "regions": [region]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "redaction" and job["params"]["regions"] == [region]
    r = post(client, "/api/v1/redactions", {"evidence_id": ev})
    assert r.status_code == 422 and "nothing to redact" in r.json()["error"]["message"]

    # An export long enough to fan out (runners of a vault cutting 0.5 s segments).
    body = {"evidence_id": ev, "recipient": "Deputy DA Ruiz", "purpose": "charging"}
    export = post(client, "/api/v1/exports", body).json()
    segmenting = dataclasses.replace(web.vault, segment_seconds=0.5)
    parent = export["job_id"]
    assert jobs.run_job(segmenting, job["job_id"], worker="w") == "done"
    assert jobs.run_job(segmenting, parent, worker="w") == "running"
    assert jobs.run_job(segmenting, f"{parent}.S0001", worker="w") == "done"
    shown = client.get(f"/api/v1/jobs/{parent}").json()
    assert shown["status"] == "running"
    assert shown["progress"] == {"label": "render", "done": 1.0, "total": 2.0, "unit": "segment"}
    assert jobs.JobRunner(segmenting).run_pending() == [
        (f"{parent}.S0000", "done"),
        (parent, "done"),
    ]
    done = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert done["status"] == "done" and done["result"]["derivative_id"].startswith("RD-")
    [redact] = web.events("redact")
    assert redact["details"]["job"] == job["job_id"] and redact["actor"] == rec
