"""The redaction review page: the contact sheet of the stored copy (its boxes outlined once
the sidecar on record is loaded), accept, object; refusals on record."""

from __future__ import annotations

import hashlib
from pathlib import Path

from custodes.media.redaction import RegionSeed
from custodes.services import cases, evidence, jobs, redaction
from tests.web.conftest import ORIGIN, Web

FORM = {"Origin": ORIGIN}
PLATE = RegionSeed(0.2, 40, 40, 60, 30, "plate")


def _world(web: Web, clips: dict[str, Path], tmp_path: Path) -> tuple[str, str, redaction.Redacted]:
    rec = web.user("records")
    cases.add_case(web.vault, rec, "C-RED", "redaction review")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-RED").evidence_id
    made = redaction.redact_evidence(
        web.vault, rec, redaction.RedactEvidence(ev, out=tmp_path / "r.mp4", regions=[PLATE])
    )
    return rec, ev, made


def test_review_a_redaction_on_its_page(
    sqlite_web: Web, clips: dict[str, Path], tmp_path: Path
) -> None:
    web = sqlite_web
    rec, ev, made = _world(web, clips, tmp_path)
    rid = made.derivative_id
    client = web.sign_in(rec)
    assert f'href="/redactions/{rid}"' in client.get(f"/evidence/{ev}").text
    page = client.get(f"/redactions/{rid}")
    assert page.status_code == 200, page.text
    assert "“plate”" in page.text and "not searched for" in page.text
    for label in ('for="sidecar"', 'id="cover-plates"', 'for="reject-note"', 'for="reject-ranges"'):
        assert label in page.text, label
    assert f'src="/redactions/{rid}/sheet.png"' in page.text

    plain = client.get(f"/redactions/{rid}/sheet.png")
    assert plain.status_code == 200 and plain.content.startswith(b"\x89PNG")
    view = web.events("view")[-1]
    assert view["object_id"] == rid and view["details"]["what"] == "contact-sheet"
    assert view["details"]["boxes"] is False and view["actor"] == rec

    # A boxes file that is not the one on record is refused, on record; nothing is kept.
    wrong = b'{"format": "custodes-redaction-plan"}'
    r = client.post(
        f"/redaction-sidecars/{rid}",
        files={"sidecar": ("r.boxes.json", wrong, "application/json")},
        headers=FORM,
        follow_redirects=False,
    )
    assert r.status_code == 422 and "not the boxes file" in r.text
    assert web.events("input-refused")[-1]["details"]["attempted"] == (
        "case:evidence:accept-redaction"
    )
    kept = web.vault.cache_dir / "sidecars"  # type: ignore[operator]
    assert [p.name for p in kept.rglob("*") if p.is_file()] == []
    r = client.post(
        f"/redaction-sidecars/{rid}",
        files={"sidecar": ("r.boxes.json", made.sidecar.read_bytes(), "application/json")},
        headers=FORM,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "loaded into the vault" in client.get(f"/redactions/{rid}").text
    boxed = client.get(f"/redactions/{rid}/sheet.png")
    assert boxed.status_code == 200 and boxed.content != plain.content
    assert web.events("view")[-1]["details"]["boxes"] is True
    assert [p.name for p in kept.rglob("*") if p.is_file()] == [f"{_sidecar_sha(made)}.json"]

    # Object, with the seconds to look at again; then accept.
    r = client.post(f"/redactions/{rid}/reject", data={"note": "x", "ranges": "5-1"}, headers=FORM)
    assert r.status_code == 422 and "range of seconds" in r.text
    r = client.post(
        f"/redactions/{rid}/reject", data={"note": "plate", "ranges": "0-99"}, headers=FORM
    )
    assert r.status_code == 422 and "ends after the recording" in r.text
    r = client.post(
        f"/redactions/{rid}/reject",
        data={"note": "the plate shows at the start", "ranges": "0-0.5, 1-1.5"},
        headers=FORM,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/redactions/{rid}#rejections"
    [objected] = web.events("redaction-reject")
    assert objected["reason"] == "the plate shows at the start"
    assert objected["details"]["ranges"] == [[0.0, 0.5], [1.0, 1.5]]
    assert objected["details"]["sha256"] == made.sha256
    page = client.get(f"/redactions/{rid}")
    assert "the plate shows at the start" in page.text and "0.0–0.5 s" in page.text
    r = client.post(
        f"/redactions/{rid}/accept", data={"cover-plates": "on"}, headers=FORM,
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    [accepted] = web.events("redaction-accept")
    assert accepted["details"]["covers"] == ["plates"] and accepted["actor"] == rec
    assert '<dd id="covers">plates</dd>' in client.get(f"/redactions/{rid}").text
    r = client.post(f"/redactions/{rid}/accept", data={"reason": ""}, headers=FORM)
    assert r.status_code == 422 and "name the kinds" in r.text


def _sidecar_sha(made: redaction.Redacted) -> str:
    return hashlib.sha256(made.sidecar.read_bytes()).hexdigest()


def test_who_may_review(sqlite_web: Web, clips: dict[str, Path], tmp_path: Path) -> None:
    """Internal affairs reads the redaction's record but does not review it; an officer
    does neither. Every refusal on record."""
    web = sqlite_web
    _, _, made = _world(web, clips, tmp_path)
    rid = made.derivative_id
    ia, officer = web.user("internal-affairs"), web.user("officer")
    reader = web.sign_in(ia)
    page = reader.get(f"/redactions/{rid}")
    assert page.status_code == 200 and 'id="accept-form"' not in page.text
    refusals = [
        (reader, "GET", f"/redactions/{rid}/sheet.png", None),
        (reader, "POST", f"/redactions/{rid}/accept", {"cover-plates": "on"}),
        (reader, "POST", f"/redactions/{rid}/reject", {"note": "no"}),
        (reader, "POST", f"/redaction-sidecars/{rid}", None),
        (web.sign_in(officer), "GET", f"/redactions/{rid}", None),
    ]
    for client, method, path, data in refusals:
        before = len(web.events("access-refused"))
        r = client.request(method, path, data=data, headers=FORM)
        assert r.status_code == 403 and "access-denied" in r.text, (method, path)
        refused = web.events("access-refused")
        assert len(refused) == before + 1, path
    assert web.events("redaction-accept") == [] and web.events("redaction-reject") == []
    assert reader.get("/redactions/RD-NOSUCH").status_code == 404


def test_a_redaction_made_by_a_job_shows_its_boxes_at_once(
    sqlite_web: Web, clips: dict[str, Path]
) -> None:
    """The job writes the boxes file beside its copy: the sheet outlines them with no
    upload (the file is used only while its hash is the one on record)."""
    web = sqlite_web
    rec = web.user("records")
    cases.add_case(web.vault, rec, "C-REDJOB", "redaction job")
    ev = evidence.ingest(web.vault, rec, clips["a"], "C-REDJOB").evidence_id
    asked = jobs.request_redaction(web.vault, rec, jobs.RequestRedaction(ev, regions=(PLATE,)))
    assert jobs.JobRunner(web.vault).run_pending() == [(asked.job_id, "done")]
    rid = str(asked.params["derivative_id"])
    client = web.sign_in(rec)
    assert "written by the redaction job" in client.get(f"/redactions/{rid}").text
    assert client.get(f"/redactions/{rid}/sheet.png").status_code == 200
    assert web.events("view")[-1]["details"]["boxes"] is True
    assert web.vault.export_dir is not None
    (web.vault.export_dir / f"{rid}.boxes.json").write_text("{}")  # no longer the one
    assert "Load the redaction's boxes file" in client.get(f"/redactions/{rid}").text
