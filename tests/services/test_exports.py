"""Exports: a recorded, watermarked copy for one recipient; refusals on record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound, PermissionDenied
from custodes.media.probe import probe
from custodes.services import evidence, exports
from custodes.services.audit import list_events
from tests.factories import add_case, add_user


@pytest.fixture
def ingested(sqlite_vault: Vault, clips: dict[str, Path]) -> tuple[Vault, str, str]:
    number = add_case(sqlite_vault)
    ev = evidence.ingest(sqlite_vault, "admin", clips["a"], number)
    return sqlite_vault, number, ev["evidence_id"]


def test_export_is_recorded_with_lineage(ingested, tmp_path: Path) -> None:
    vault, number, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    sup = add_user(vault, "supervisor")
    out = exports.export_evidence(
        vault,
        sup,
        evidence_id,
        recipient="Deputy DA Ruiz",
        purpose="charging decision",
        start=0.5,
        end=1.5,
        out=tmp_path / "copy.mp4",
    )
    path = Path(out["path"])
    assert path.exists() and out["export_id"].startswith("EX-")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == out["sha256"]
    info = probe(path)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    [row] = exports.list_exports(vault, sup, evidence_id)
    assert row["recipient"] == "Deputy DA Ruiz" and row["actor"] == sup
    ops = [op["op"] for op in row["lineage"]["operations"]]
    assert ops == ["trim", "scale", "forensic-watermark", "visible-mark", "encode"]
    assert row["lineage"]["source"]["sha256"] == evidence.list_evidence(vault, sup)[0]["sha256"]
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=evidence_id)[-1]
    assert last["action"] == "export" and last["reason"] == "charging decision"
    assert last["details"]["output_sha256"] == out["sha256"]


def test_export_scaled_without_visible_mark(ingested, tmp_path: Path) -> None:
    vault, _, evidence_id = ingested
    out = exports.export_evidence(
        vault,
        add_user(vault, "records"),
        evidence_id,
        recipient="press",
        purpose="release",
        out=tmp_path / "small.mp4",
        height=90,
        visible_mark=False,
    )
    assert (out["width"], out["height"]) == (160, 90)


def test_export_refusals_are_audited(ingested, tmp_path: Path) -> None:
    vault, number, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    officer = add_user(vault, "officer")
    rec = add_user(vault, "records")
    with pytest.raises(PermissionDenied):
        exports.export_evidence(
            vault, officer, evidence_id, recipient="x", purpose="y", out=tmp_path / "a.mp4"
        )
    with pytest.raises(NotFound):
        exports.export_evidence(vault, rec, "EV-NOPE", recipient="x", purpose="y")
    with pytest.raises(InvalidInput, match="after --start"):
        exports.export_evidence(
            vault,
            rec,
            evidence_id,
            recipient="x",
            purpose="y",
            start=1.0,
            end=0.5,
            out=tmp_path / "b.mp4",
        )
    with pytest.raises(InvalidInput, match="outside the recording"):
        exports.export_evidence(
            vault, rec, evidence_id, recipient="x", purpose="y", start=99, out=tmp_path / "b.mp4"
        )
    with pytest.raises(InvalidInput, match="must not be empty"):
        exports.export_evidence(
            vault, rec, evidence_id, recipient="x", purpose="  ", out=tmp_path / "b.mp4"
        )
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    with pytest.raises(CustodyConflict, match="never overwrite"):
        exports.export_evidence(
            vault, rec, evidence_id, recipient="x", purpose="y", out=tmp_path / "exists.mp4"
        )
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4"]
    with vault.uow(readonly=True) as uow:
        refused = [e for e in list_events(uow.conn) if e["action"] == "access-refused"]
    assert len(refused) == 6
    assert exports.list_exports(vault, rec) == []


def test_sensitive_export_alerts_ia(ingested, tmp_path: Path) -> None:
    from custodes.services import cases

    vault, number, evidence_id = ingested
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, number, flag=["juvenile"], reason="minor identified")
    rec = add_user(vault, "records")
    exports.export_evidence(
        vault, rec, evidence_id, recipient="court", purpose="subpoena 42", out=tmp_path / "c.mp4"
    )
    alerts = evidence.list_alerts(vault, ia)
    assert [(a["kind"], a["reason"]) for a in alerts] == [("sensitive-export", "subpoena 42")]
