"""The leak investigation pages and ``/api/v1/traces``: a clip sent by a form becomes a
trace job, run by the in-process runner, whose report page names the recipient; refused
roles and bad clips are refused on record with nothing left behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custodes.media.render import EncodeSettings, render
from custodes.media.synth import write_bodycam_clip
from custodes.services import cases, evidence, exports, jobs
from custodes.web.app import create_app
from tests.web.conftest import ORIGIN, Web

FORM = {"Origin": ORIGIN}


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("leaks")
    return {
        "source": write_bodycam_clip(root / "src.mp4", seconds=10, width=320, height=180, seed=5),
        "other": write_bodycam_clip(
            root / "other.mp4", seconds=4, width=320, height=180, seed=77, night=True
        ),
    }


def _upload(client: TestClient, name: str, data: bytes, case: str = "") -> object:
    return client.post(
        "/traces/upload",
        data={"case": case},
        files={"leak": (name, data, "video/mp4")},
        headers=FORM,
        follow_redirects=False,
    )


def _left(web: Web) -> list[str]:
    """What is in the trace folder but the reports of traces that ran."""
    root = web.vault.trace_dir
    assert root is not None
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.parts[len(root.parts) + 1 :][:1] not in (("report",), ("frames",))
    )


def test_a_leak_traced_from_the_page_names_its_recipient(
    sqlite_web: Web, footage: dict[str, Path], tmp_path: Path
) -> None:
    web = sqlite_web
    rec, ia = web.user("records"), web.user("internal-affairs")
    cases.add_case(web.vault, rec, "C-LEAK", "leak")
    ev = evidence.ingest(web.vault, rec, footage["source"], "C-LEAK")
    copies = {
        name: exports.export_evidence(
            web.vault,
            rec,
            exports.ExportEvidence(
                ev.evidence_id, recipient=name, purpose="court", out=tmp_path / f"{name}.mp4"
            ),
        )
        for name in ("alice", "bob")
    }
    leak = tmp_path / "news clip.mp4"
    render(
        Path(copies["bob"].path), leak, start_s=2, end_s=8, height=180,
        settings=EncodeSettings(crf=28),
    )  # fmt: skip
    client = web.sign_in(ia)
    page = client.get("/traces")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert '<label for="trace-leak">' in page.text

    r = _upload(client, "news clip.mp4", leak.read_bytes())
    assert r.status_code == 303, r.text
    job_url = r.headers["location"]
    assert job_url.startswith("/traces/jobs/JB-")
    job_id = job_url.rsplit("/", 1)[1]
    waiting = client.get(job_url)
    assert waiting.status_code == 200 and "Waiting for a runner" in waiting.text
    assert 'src="/static/trace-job.js"' in waiting.text
    [requested] = web.events("job-requested")
    assert requested["actor"] == ia and requested["details"]["kind"] == "trace"
    assert requested["client"].startswith("web:session/")

    assert jobs.JobRunner(web.vault).run_pending() == [(job_id, "done")]
    shown = client.get(f"/api/v1/jobs/{job_id}").json()
    trace_id = shown["result"]["trace_id"]
    assert shown["status"] == "done" and shown["result"]["verdict"] == "attributed"
    assert shown["result"]["attributed"] == [copies["bob"].export_id]
    [traced] = web.events("trace")
    assert traced["details"]["job"] == job_id and traced["object_id"] == trace_id
    assert traced["client"].startswith(f"job {job_id} ") and traced["actor"] == ia

    done = client.get(job_url, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/traces/{trace_id}"
    report = client.get(f"/traces/{trace_id}")
    assert report.status_code == 200, report.text
    assert "Attributed" in report.text and "<strong>bob</strong>" in report.text
    assert ev.evidence_id in report.text and 'id="candidates"' in report.text
    assert copies["alice"].export_id in report.text  # weighed, not named
    frames = report.text.count('class="pair"')
    assert frames == 3
    for name in ("1-leak.png", "1-source.png", "3-source.png"):
        img = client.get(f"/api/v1/traces/{trace_id}/files/{name}")
        assert img.status_code == 200 and img.content.startswith(b"\x89PNG"), name
    pdf = client.get(f"/api/v1/traces/{trace_id}/files/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"].startswith("attachment")
    api = client.get(f"/api/v1/traces/{trace_id}").json()
    assert api["verdict"] == "attributed" and api["leak_name"] == "news_clip.mp4"
    assert api["findings"]["source"]["evidence_id"] == ev.evidence_id
    assert api["files"] == {"pdf": True, "html": True, "frames": [1, 2, 3]}
    assert _left(web) == []  # the clip went once the job ended
    listed = client.get("/traces")
    assert job_id in listed.text and f"/traces/{trace_id}" in listed.text

    # Others: an officer may not trace, nor see a trace; refused on record.
    officer = web.sign_in(web.user("officer"))
    for path in ("/traces", f"/traces/{trace_id}", f"/api/v1/traces/{trace_id}/files/report.pdf"):
        before = len(web.events("access-refused"))
        r = officer.get(path)
        assert r.status_code == 403, path
        refused = web.events("access-refused")
        assert len(refused) == before + 1 and refused[-1]["details"]["attempted"] == (
            "vault:leak:trace"
        )
    r = _upload(officer, "x.mp4", leak.read_bytes())
    assert r.status_code == 403 and "access-denied" in r.text
    assert _left(web) == [] and len(web.events("job-requested")) == 1


def test_a_clip_found_nowhere_and_the_api(sqlite_web: Web, footage: dict[str, Path]) -> None:
    web = sqlite_web
    rec = web.user("records")
    cases.add_case(web.vault, rec, "C-NONE", "none")
    evidence.ingest(web.vault, rec, footage["source"], "C-NONE")
    client = web.sign_in(rec)
    r = client.post(
        "/api/v1/traces?name=other.mp4&case=C-NONE",
        content=footage["other"].read_bytes(),
        headers={**FORM, "Content-Type": "video/mp4"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "trace" and job["params"]["case"] == "C-NONE"
    assert r.headers["Location"] == f"/api/v1/jobs/{job['job_id']}"
    assert jobs.JobRunner(web.vault).run_pending() == [(job["job_id"], "done")]
    trace_id = job["params"]["trace_id"]
    report = client.get(f"/traces/{trace_id}")
    assert report.status_code == 200 and "Source not found" in report.text
    assert "Nothing to compare" in report.text and 'id="report-pdf"' in report.text
    assert client.get(f"/api/v1/traces/{trace_id}").json()["verdict"] == "source-not-found"
    assert client.get(f"/api/v1/traces/{trace_id}/files/9-leak.png").status_code == 404
    assert client.get(f"/api/v1/traces/{trace_id}/files/..%2Fx").status_code == 404
    assert _left(web) == []


def test_bad_clips_are_refused_with_one_line_and_leave_nothing(
    sqlite_web: Web, footage: dict[str, Path]
) -> None:
    web = sqlite_web
    rec = web.user("records")
    client = web.sign_in(rec)
    whole = footage["other"].read_bytes()
    bad = {
        "empty.mp4": (b"", "empty.mp4 is empty"),
        "notes.mp4": (b"this is not a video at all\n" * 40, "notes.mp4"),
        "cut.mp4": (whole[: len(whole) // 2], "cut.mp4"),
    }
    for name, (data, said) in bad.items():
        before = len(web.events("input-refused"))
        r = _upload(client, name, data)
        assert r.status_code == 422, (name, r.text)
        assert "invalid-input" in r.text and said in r.text, name
        refused = web.events("input-refused")
        assert len(refused) == before + 1 and refused[-1]["actor"] == rec
        assert refused[-1]["details"]["attempted"] == "vault:leak:trace"
    r = client.post("/traces/upload", data={"case": ""}, headers=FORM)  # no file at all
    assert r.status_code == 422 and "multipart/form-data" in r.text
    r = client.post(
        "/traces/upload",
        files={"other": ("x.txt", b"x", "text/plain")},
        headers=FORM,
        follow_redirects=False,
    )
    assert r.status_code == 422 and "choose the leaked video file" in r.text
    r = client.post("/api/v1/traces", content=b"{}", headers={**FORM, "Content-Type": "video/mp4"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid-input"
    # Over the configured limit: reading stops there, and the use case refuses it.
    small = dataclasses.replace(web.vault, trace_max_size=1000)
    with TestClient(create_app(small), base_url=ORIGIN) as limited:
        web.sign_in(rec, limited)
        r = _upload(limited, "big.mp4", whole)
        assert r.status_code == 422 and "larger than the 1000 bytes" in r.text
    assert web.events("job-requested") == []
    assert _left(web) == []


ROLES = ["officer", "supervisor", "records", "prosecutor", "internal-affairs", "admin", "command"]
TRACERS = {"records", "internal-affairs"}


def test_the_trace_pages_for_every_role(sqlite_web: Web) -> None:
    """Seen by those who may trace leaks; everyone else is refused, on record."""
    web = sqlite_web
    for role in ROLES:
        user = web.user(role)
        client = web.sign_in(user)
        for path, allowed in [("/traces", 200), ("/traces/TR-NOSUCH", 404)]:
            before = len(web.events("access-refused"))
            r = client.get(path, follow_redirects=False)
            want = allowed if role in TRACERS else 403
            assert r.status_code == want, (role, path)
            assert r.headers["content-type"].startswith("text/html")
            if want == 403:
                refused = web.events("access-refused")
                assert len(refused) == before + 1 and refused[-1]["actor"] == user
