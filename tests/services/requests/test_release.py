"""Releases made from recorded decisions: the package, its refusals, what it leaves."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from custodes.bootstrap import Vault
from custodes.core.custody import Action
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ReasonRequired,
)
from custodes.media.provenance import read_credentials
from custodes.media.redaction import RegionSeed
from custodes.services import acceptance, audit, evidence, redaction, requests
from custodes.services.audit import list_events
from custodes.services.common import event
from custodes.services.redaction import RedactEvidence
from custodes.services.requests import release
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import flip_byte, on_both_blob_stores


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    vault = sqlite_vault
    rec = add_user(vault, "records")
    number = add_case(vault, status="adjudicated")
    ev = evidence.ingest(vault, rec, clips["a"], number).evidence_id
    return vault, rec, number, ev, clips["a"]


PLATE = RegionSeed(0.2, 40, 40, 60, 30, "plate")
MINOR = RegionSeed(0.2, 200, 60, 40, 60, "minor")


def _redact(vault: Vault, actor: str, evidence_id: str, **kw) -> redaction.Redacted:
    return redaction.redact_evidence(vault, actor, RedactEvidence(evidence_id, **kw))


def _add(vault: Vault, actor: str, number: str, **kwargs) -> requests.RequestAdded:
    return requests.add_request(vault, actor, requests.AddRequest(number, **kwargs))


def _events(vault: Vault) -> list[str]:
    with vault.uow(readonly=True) as uow:
        return [e["action"] for e in list_events(uow.conn)]


@on_both_blob_stores
def test_release_of_a_partial_decision(world, tmp_path: Path) -> None:
    vault, rec, number, ev, clip = world
    r = _add(
        vault,
        rec,
        number,
        requester="Denver Post",
        kind="press",
        evidence=[ev],
        ranges=[(0.5, 1.5)],
    )
    decided = requests.decide_request(vault, rec, r.request_id, accept=True)
    assert decided.outcome == "partial"
    out = tmp_path / "pkg"
    out.mkdir()
    result = requests.release_request(vault, rec, r.request_id, out)
    manifest = json.loads(Path(result.manifest).read_text())
    [f] = manifest["files"]
    assert (f["start_s"], f["end_s"]) == (0.5, pytest.approx(1.5, abs=0.1))
    # Paths in the manifest are relative to the package, not the custodian's machine.
    assert f["path"] == f"{ev}-part1.mp4" and str(tmp_path) not in Path(result.manifest).read_text()
    assert (out / manifest["letter"]["pdf"]).read_bytes().startswith(b"%PDF")
    assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert Path(result.letter).exists()
    assert manifest["pack_sha256"] == decided.pack_sha256
    # The released copy is an export to the requester, on record.
    with vault.uow(readonly=True) as uow:
        actions = [e["action"] for e in list_events(uow.conn)]
    assert actions[-2:] == ["export", "release"]
    # It carries signed Content Credentials naming the original and the release.
    cred = read_credentials(out / f["path"], vault.content_credential().anchors_pem)
    assert cred["state"] == "Trusted"
    assert cred["lineage"]["source"]["sha256"] == f["source_sha256"]
    assert cred["lineage"]["release_request"] == r.request_id
    assert cred["lineage"]["export_id"] == f["export_id"]
    # The package ships no trust root: one beside the copies would vouch for whoever made
    # the package. Readers get the root out of band.
    assert not any(p.suffix == ".pem" for p in out.iterdir())
    assert b"BEGIN CERTIFICATE" not in Path(result.manifest).read_bytes()
    # The original is untouched.
    assert (
        hashlib.sha256(clip.read_bytes()).hexdigest()
        == evidence.list_evidence(vault, rec)[0].sha256
    )


def test_release_not_allowed_by_the_decision_is_refused(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    from custodes.services import cases

    cases.set_case(vault, rec, number, status="pending-prosecution")
    r = _add(vault, rec, number, requester="KUSA", kind="press")
    out = tmp_path / "pkg"
    out.mkdir()
    with pytest.raises(CustodyConflict, match="no recorded decision"):
        requests.release_request(vault, rec, r.request_id, out)
    requests.decide_request(vault, rec, r.request_id, accept=True)
    with pytest.raises(CustodyConflict, match="'hold'"):
        requests.release_request(vault, rec, r.request_id, out)
    assert list(out.iterdir()) == []
    with vault.uow(readonly=True) as uow:
        assert list_events(uow.conn)[-1]["action"] == "release-refused"
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        requests.release_request(vault, officer, r.request_id, out)


def _accept(vault: Vault, actor: str, rid: str, *covers: str, reason: str | None = None):
    return acceptance.accept_redaction(
        vault, actor, acceptance.AcceptRedaction(rid, covers=covers, reason=reason)
    )


def _emptied(sidecar: Path, dest: Path) -> Path:
    """A reviewer's sidecar with every box deleted."""
    plan = json.loads(sidecar.read_text())
    plan["frames"] = {}
    dest.write_text(json.dumps(plan))
    return dest


def test_release_needs_an_accepted_redaction_covering_every_kind(
    world, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault, rec, number, ev, _ = world
    requests.set_evidence_flags(vault, rec, ev, flag=["minor", "plate"], reason="seen on review")
    r = _add(vault, rec, number, requester="9News", kind="press", evidence=[ev])
    decided = requests.decide_request(vault, rec, r.request_id, accept=True)
    assert {x["kind"] for x in decided.redactions} == {"minors", "plates"}
    out = tmp_path / "pkg"
    out.mkdir()
    # Nothing is redacted at release time that nobody reviewed.
    with pytest.raises(CustodyConflict, match="no redaction a person accepted as covering minors"):
        requests.release_request(vault, rec, r.request_id, out)
    assert _events(vault)[-1] == "release-refused"
    assert list(out.iterdir()) == []
    faces_only = _redact(vault, rec, ev, faces=True, out=tmp_path / "faces.mp4")
    with_plate = _redact(vault, rec, ev, faces=True, regions=[PLATE, MINOR], out=tmp_path / "f.mp4")
    other_ev = evidence.ingest(vault, rec, clips["b"], number).evidence_id
    other = _redact(vault, rec, other_ev, faces=True, out=tmp_path / "other.mp4")
    # A redaction nobody accepted is not released, even when named.
    with pytest.raises(CustodyConflict, match="not reviewed and accepted by a person"):
        requests.release_request(
            vault, rec, r.request_id, out, redactions=[with_plate.derivative_id]
        )
    # A person cannot accept a copy as covering what it cannot have covered: on record.
    with pytest.raises(CustodyConflict, match="cannot cover plates"):
        _accept(vault, rec, faces_only.derivative_id, "minors", "plates", reason="none")
    assert _events(vault)[-1] == "access-refused"
    _accept(vault, rec, faces_only.derivative_id, "minors", reason="no child in view")
    bad = [
        (faces_only.derivative_id, CustodyConflict, "not accepted as covering plates"),
        (other.derivative_id, InvalidInput, "does not include"),
        ("RD-nope", NotFound, "no such redaction"),
    ]
    for rid, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            requests.release_request(vault, rec, r.request_id, out, redactions=[rid])
        assert _events(vault)[-1] == "release-refused"
        assert list(out.iterdir()) == []
    with pytest.raises(CustodyConflict, match=f"{faces_only.derivative_id}, lacks plates"):
        requests.release_request(vault, rec, r.request_id, out)
    accepted = _accept(vault, rec, with_plate.derivative_id, "minors", "plates")
    assert accepted.boxes["plates"] > 0 and accepted.boxes["minors"] > 0
    result = requests.release_request(vault, rec, r.request_id, out)  # the accepted one
    manifest = json.loads(Path(result.manifest).read_text())
    [f] = manifest["files"]
    assert f["reviewed_redaction"] == with_plate.derivative_id
    with vault.uow(readonly=True) as uow:
        released = list_events(uow.conn)[-1]
    assert released["action"] == "release"
    assert released["details"]["files"][0]["redaction"] == with_plate.derivative_id
    stated = f["redactions"]
    assert stated["derivative_id"] == with_plate.derivative_id
    assert stated["derivative_sha256"] == with_plate.sha256
    assert stated["covers"] == ["minors", "plates"]
    assert [(a["by"], a["audit_seq"]) for a in stated["accepted"]] == [(rec, accepted.audit_seq)]
    labels = {x["label"]: x["frames"] for x in stated["applied"]["regions"]}
    assert labels.keys() == {"plate", "minor"} and min(labels.values()) > 0
    faces = stated["applied"]["faces"]
    said = " ".join(stated["described"])
    assert "region 'plate' blurred" in said
    assert ("faces blurred" in said) == (faces["frames"] > 0)
    with vault.engine.connect() as conn:
        lineage = json.loads(
            conn.execute(
                select(t.exports.c.lineage).where(t.exports.c.id == f["export_id"])
            ).scalar_one()
        )
    redact_op = lineage["operations"][0]
    assert redact_op["op"] == "redact" and redact_op["faces"] is True
    assert redact_op["derivative_id"] == with_plate.derivative_id
    assert redact_op["derivative_sha256"] == with_plate.sha256
    assert lineage["operations"][-1]["op"] == "c2pa-manifest"
    # The Content Credentials name what was blurred, and the acceptance.
    cred = read_credentials(out / f["path"], vault.content_credential().anchors_pem)
    [filtered] = [a for a in cred["actions"] if a["action"] == "c2pa.filtered"]
    assert "region 'plate'" in filtered["description"]
    assert ("faces" in filtered["description"]) == (faces["frames"] > 0)
    assert cred["lineage"]["redaction"]["derivative_id"] == with_plate.derivative_id
    assert cred["lineage"]["redaction"]["accepted"][0]["by"] == rec
    # The letter says what was applied, and who accepted it; not the bare kinds required.
    letter = Path(result.letter).with_suffix(".html").read_text()
    assert "region &#39;plate&#39; blurred" in letter or "region 'plate' blurred" in letter
    assert f"accepted by {rec}" in letter
    assert "<li>plates</li>" not in letter


def test_an_empty_plan_is_accepted_only_with_a_reason_and_claims_nothing(
    world, tmp_path: Path
) -> None:
    vault, rec, number, ev, _ = world
    requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    r = _add(vault, rec, number, requester="9News", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r.request_id, accept=True)
    first = _redact(vault, rec, ev, faces=True, out=tmp_path / "f.mp4")
    empty = _redact(
        vault, rec, ev, sidecar=_emptied(first.sidecar, tmp_path / "e.json"), out=tmp_path / "e.mp4"
    )
    assert empty.frames_redacted == 0
    with pytest.raises(ReasonRequired, match="hides nothing of minors"):
        _accept(vault, rec, empty.derivative_id, "minors")
    assert _events(vault)[-1] == "access-refused"
    out = tmp_path / "pkg"
    with pytest.raises(CustodyConflict, match="no redaction a person accepted"):
        requests.release_request(vault, rec, r.request_id, out)
    with pytest.raises(CustodyConflict, match="not reviewed and accepted"):
        requests.release_request(vault, rec, r.request_id, out, redactions=[empty.derivative_id])
    done = _accept(vault, rec, empty.derivative_id, "minors", reason="no child is in view")
    with vault.uow(readonly=True) as uow:
        event = list_events(uow.conn)[-1]
    assert event["action"] == "redaction-accept" and event["reason"] == "no child is in view"
    assert event["details"]["sha256"] == empty.sha256
    assert event["details"]["covers"] == ["minors"] and done.boxes == {"minors": 0}
    result = requests.release_request(
        vault, rec, r.request_id, out, redactions=[empty.derivative_id]
    )
    [f] = json.loads(Path(result.manifest).read_text())["files"]
    assert f["redactions"]["described"] == []
    # Nothing blurred: the signed provenance does not say anything was.
    cred = read_credentials(out / f["path"], vault.content_credential().anchors_pem)
    assert not [a for a in cred["actions"] if a["action"] == "c2pa.filtered"]
    letter = Path(result.letter).with_suffix(".html").read_text()
    assert "nothing needed hiding in this portion" in letter


def test_a_release_with_one_file_unreviewed_is_refused(
    world, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault, rec, number, ev, _ = world
    ev2 = evidence.ingest(vault, rec, clips["b"], number).evidence_id
    for e in (ev, ev2):
        requests.set_evidence_flags(vault, rec, e, flag=["plate"], reason="plates in view")
    r = _add(vault, rec, number, requester="9News", kind="press", evidence=[ev, ev2])
    requests.decide_request(vault, rec, r.request_id, accept=True)
    red = _redact(vault, rec, ev, regions=[PLATE], out=tmp_path / "a.mp4")
    _accept(vault, rec, red.derivative_id, "plates")
    _redact(vault, rec, ev2, regions=[PLATE], out=tmp_path / "b.mp4")  # never accepted
    out = tmp_path / "pkg"
    with pytest.raises(CustodyConflict, match=f"{ev2} has no redaction a person accepted"):
        requests.release_request(vault, rec, r.request_id, out)
    assert _events(vault)[-1] == "release-refused"
    assert not out.exists()
    with vault.uow(readonly=True) as uow:
        assert not uow.conn.execute(select(t.releases)).all()


def test_an_override_releases_only_the_portion_asked_for(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    from custodes.services import cases

    cases.set_case(vault, rec, number, status="pending-prosecution")
    r = _add(
        vault,
        rec,
        number,
        requester="Denver Post",
        kind="press",
        evidence=[ev],
        ranges=[(0.5, 1.0)],
    )
    decided = requests.decide_request(
        vault, rec, r.request_id, override="release", reason="public interest"
    )
    assert decided.proposed_outcome == "hold"
    # A release limited to what was asked for is a partial release, as on the accepted path.
    assert decided.outcome == "partial"
    assert decided.release == {"evidence": [ev], "ranges": [[0.5, 1.0]], "redactions": []}
    assert decided.hold_until is None and decided.review_at is None
    out = tmp_path / "pkg"
    out.mkdir()
    result = requests.release_request(vault, rec, r.request_id, out)
    manifest = json.loads(Path(result.manifest).read_text())
    assert manifest["outcome"] == "partial"
    [f] = manifest["files"]
    assert f["evidence_id"] == ev
    assert (f["start_s"], f["end_s"]) == (0.5, pytest.approx(1.0, abs=0.1))
    letter = Path(result.letter).with_suffix(".html").read_text()
    assert "the portions from 0.5 s to 1 s" in letter
    assert "decided by the records custodian" in letter


def test_a_release_of_nothing_is_refused(world, tmp_path: Path) -> None:
    """A request recorded before ranges were checked may ask only past the end."""
    vault, rec, number, ev, _ = world
    r = _add(vault, rec, number, requester="KUSA", kind="press", evidence=[ev], ranges=[(1.0, 2.0)])
    # Such a request is on the signed log as it was recorded (its event says the ranges
    # too): the row and a signed event of a request of that time, written together.
    with vault.uow() as uow:
        uow.conn.execute(
            t.requests.update()
            .where(t.requests.c.id == r.request_id)
            .values(id="RQ-LEGACY", ranges=json.dumps([[100.0, 200.0]]))
        )
        [entry] = list_events(uow.conn)[-1:]
        details = {**entry["details"], "ranges": [[100.0, 200.0]]}
        audit.record(
            uow,
            event(
                vault,
                rec,
                Action.REQUEST_ADD,
                object_type="request",
                object_id="RQ-LEGACY",
                case_number=number,
                details=details,
            ),
        )
        audit.commit(uow, vault)
    r = replace(r, request_id="RQ-LEGACY")
    assert requests.decide_request(vault, rec, r.request_id, accept=True).outcome == "partial"
    out = tmp_path / "pkg"
    out.mkdir()
    with pytest.raises(CustodyConflict, match="nothing to release"):
        requests.release_request(vault, rec, r.request_id, out)
    assert list(out.iterdir()) == []
    assert _events(vault)[-1] == "release-refused"


def test_a_release_makes_its_folder_and_leaves_nothing_when_it_fails(
    world, tmp_path: Path, monkeypatch
) -> None:
    vault, rec, number, ev, _ = world
    from custodes.core.errors import CustodesError

    r = _add(vault, rec, number, requester="KUSA", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r.request_id, accept=True)
    with pytest.raises(InvalidInput, match="no such folder"):
        requests.release_request(vault, rec, r.request_id, tmp_path / "no" / "pkg")
    assert not (tmp_path / "no").exists()
    assert _events(vault)[-1] == "release-refused"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="is not a folder"):
        requests.release_request(vault, rec, r.request_id, tmp_path / "file")

    def broken(*args, **kwargs):
        raise CustodesError("the letter could not be written")

    monkeypatch.setattr(release, "write_letter", broken)
    with pytest.raises(CustodesError, match="letter"):
        requests.release_request(vault, rec, r.request_id, tmp_path / "new")
    assert not (tmp_path / "new").exists()  # the folder it made is gone with its copies
    (tmp_path / "empty").mkdir()
    with pytest.raises(CustodesError, match="letter"):
        requests.release_request(vault, rec, r.request_id, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []  # a folder given empty stays empty
    monkeypatch.undo()
    result = requests.release_request(vault, rec, r.request_id, tmp_path / "pkg")
    assert Path(result.manifest).parent == tmp_path / "pkg"
    assert len(result.files) == 1 and Path(result.files[0]).exists()


def test_a_decision_that_does_not_say_what_it_releases_releases_nothing(
    world, tmp_path: Path
) -> None:
    """Overrides recorded before the fix stored the proposal's release section: null."""
    vault, rec, number, ev, _ = world
    r = _add(vault, rec, number, requester="KUSA", kind="press", evidence=[ev], ranges=[(0.5, 1.0)])
    decided = requests.decide_request(vault, rec, r.request_id, override="release", reason="x")
    with vault.uow() as uow:  # decisions are append-only: add a legacy one, on record
        conn = uow.conn
        row = conn.execute(select(t.decisions).where(t.decisions.c.id == decided.decision_id)).one()
        body = json.loads(row.decision)
        body["release"] = None
        # Its event, as events of that time were: without the document's digest, which
        # leaves the stored document unvouched (docs/audit-log.md).
        old = {
            k: v
            for k, v in list_events(conn)[-1]["details"].items()
            if k not in ("document_sha256", "facts_sha256", "alerted")
        }
        seq = audit.record(
            uow,
            event(
                vault,
                rec,
                Action.REQUEST_DECIDE,
                object_type="decision",
                object_id="DC-LEGACY",
                case_number=number,
                reason="x",
                details=old,
            ),
        )
        conn.execute(
            t.decisions.insert().values(
                **{
                    **row._asdict(),
                    "id": "DC-LEGACY",
                    "decided_at": row.decided_at + "9",
                    "decision": json.dumps(body),
                    "audit_seq": seq,
                }
            )
        )
        audit.commit(uow, vault)
    with pytest.raises(CustodyConflict, match="does not say what it releases"):
        requests.release_request(vault, rec, r.request_id, tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()
    assert _events(vault)[-1] == "release-refused"


@on_both_blob_stores
def test_an_altered_original_or_redacted_copy_is_never_used(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    r = _add(vault, rec, number, requester="9News", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r.request_id, accept=True)
    red = _redact(vault, rec, ev, faces=True, out=tmp_path / "f.mp4")
    _accept(vault, rec, red.derivative_id, "minors", reason="none in view")
    flip_byte(vault, red.sha256)
    out = tmp_path / "pkg"
    with pytest.raises(IntegrityFailure, match="stored redacted copy of RD-"):
        requests.release_request(vault, rec, r.request_id, out, redactions=[red.derivative_id])
    assert _events(vault)[-1] == "release-refused"
    assert not out.exists()
    [row] = [e for e in evidence.list_evidence(vault, rec) if e.evidence_id == ev]
    flip_byte(vault, row.sha256)
    with pytest.raises(IntegrityFailure, match=f"stored original of {ev}"):
        _redact(vault, rec, ev, faces=True, out=tmp_path / "g.mp4")
    assert _events(vault)[-1] == "access-refused"
    assert not (tmp_path / "g.mp4").exists()
    with pytest.raises(IntegrityFailure, match=f"stored original of {ev}"):
        requests.release_request(vault, rec, r.request_id, out)
    assert not out.exists()


def test_a_release_to_a_relative_folder_reports_absolute_paths(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, rec, number, ev, _ = world
    r = _add(vault, rec, number, requester="KUSA", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r.request_id, accept=True)
    monkeypatch.chdir(tmp_path)
    result = requests.release_request(vault, rec, r.request_id, Path("pkg"))
    assert Path(result.manifest).is_absolute() and Path(result.letter).is_absolute()
    assert all(Path(f).is_absolute() for f in result.files)
    assert Path(result.manifest).parent == tmp_path / "pkg"
