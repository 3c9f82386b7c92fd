"""Ingest, listing and opening evidence."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound, PermissionDenied
from custodes.services import cases, evidence
from custodes.services.audit import list_events
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import on_both_blob_stores, read_blob, temp_files
from tests.factories.packs import pack_sha256


def _at(text: str) -> datetime:
    """A stated recording time as a front door parses it (a bad one is refused there)."""
    return evidence.parse_iso8601(text, "recorded_at")


def _counts(vault: Vault) -> tuple[int, int, int]:
    with vault.engine.connect() as conn:
        n_ev = conn.execute(select(func.count()).select_from(t.evidence)).scalar()
    pack = pack_sha256(vault)  # the policy pack in force is kept in the same store
    blobs = [h for h in vault.blobs.iter_hashes() if h != pack]
    parts = temp_files(vault)
    return int(n_ev or 0), len(blobs), len(parts)


@on_both_blob_stores
def test_ingest_records_evidence(vault: Vault, clips: dict[str, Path], blob_backend: str) -> None:
    officer = add_user(vault, "officer")
    number = add_case(vault, members=(officer,))
    out = evidence.ingest(
        vault,
        officer,
        clips["a"],
        number,
        device="X81234567",
        recorded_at=evidence.parse_iso8601("2026-03-14T21:04:05-07:00", "recorded_at"),
    )
    assert out.evidence_id.startswith("EV-")
    assert len(out.sha256) == 64
    assert out.duration_s == pytest.approx(2.0, abs=0.15)
    listed = evidence.list_evidence(vault, officer, number)
    assert [e.evidence_id for e in listed] == [out.evidence_id]
    row = listed[0]
    assert row.officer == officer  # an officer ingesting is the recording officer
    assert row.recorded_at == "2026-03-15T04:04:05+00:00"
    assert (row.width, row.height) == (320, 180)
    with vault.uow(readonly=True) as uow:
        ev = list_events(uow.conn, evidence_id=out.evidence_id)
    assert [e["action"] for e in ev] == ["ingest"]
    assert ev[0]["details"]["sha256"] == out.sha256
    # The stored blob is the file, byte for byte, and (in a folder) read-only.
    assert read_blob(vault, out.sha256) == clips["a"].read_bytes()
    assert temp_files(vault) == []
    if blob_backend == "local":
        path = vault.blobs.local_path(out.sha256)  # type: ignore[attr-defined]
        assert not os.access(path, os.W_OK) or os.geteuid() == 0
        assert oct(path.stat().st_mode & 0o777) == "0o444"


@on_both_blob_stores
def test_same_bytes_twice_is_recognised(vault: Vault, clips: dict[str, Path]) -> None:
    rec = add_user(vault, "records")
    number = add_case(vault)
    first = evidence.ingest(vault, rec, clips["a"], number)
    with pytest.raises(CustodyConflict, match=first.evidence_id):
        evidence.ingest(vault, rec, clips["a"], add_case(vault))
    assert _counts(vault) == (1, 1, 0)
    with vault.uow(readonly=True) as uow:
        refused = [e for e in list_events(uow.conn) if e["action"] == "ingest-refused"]
    assert len(refused) == 1 and "already ingested" in refused[0]["details"]["error"]


def test_duplicate_names_only_evidence_the_actor_may_see(
    vault: Vault, clips: dict[str, Path]
) -> None:
    officer, rec = add_user(vault, "officer"), add_user(vault, "records")
    mine = add_case(vault, members=(officer,))
    elsewhere = evidence.ingest(vault, rec, clips["a"], add_case(vault))
    hidden = add_case(vault)
    in_ia = evidence.ingest(vault, rec, clips["b"], hidden)
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, hidden, flag=["ia-investigation"], reason="complaint 7")
    for actor, clip, target, existing in [
        (officer, "a", mine, elsewhere),  # a case the officer is not assigned to
        (rec, "b", add_case(vault), in_ia),  # an ia-investigation case
    ]:
        with pytest.raises(CustodyConflict) as err:
            evidence.ingest(vault, actor, clips[clip], target)
        assert str(err.value) == (
            "these bytes are already in the vault (in a case you cannot access)"
        )
        with vault.uow(readonly=True) as uow:
            last = list_events(uow.conn)[-1]
        assert (last["action"], last["actor"]) == ("ingest-refused", actor)
        assert str(err.value) == last["details"]["error"]
        # The auditors' record keeps what the actor was not told.
        assert last["details"]["existing_evidence"] == existing.evidence_id
        assert last["details"]["existing_case"] == existing.case
    # Someone who may list the existing evidence is told which it is.
    with pytest.raises(CustodyConflict) as err:
        evidence.ingest(vault, rec, clips["a"], mine)
    assert str(err.value) == (
        f"these bytes were already ingested as {elsewhere.evidence_id} (case {elsewhere.case})"
    )
    assert _counts(vault) == (2, 2, 0)


def _bad_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "empty": b"",
        "text": b"this is not a video\n" * 100,
        "random": os.urandom(50_000),
        "truncated": data[: len(data) // 2],
    }
    # Container structures overwritten with noise (the header region of the file).
    files["corrupt"] = data[:32] + os.urandom(4000) + data[4032:]
    out = {}
    for name, blob in files.items():
        out[name] = tmp_path / f"{name}.mp4"
        out[name].write_bytes(blob)
    out["missing"] = tmp_path / "missing.mp4"
    out["directory"] = tmp_path
    return out


@on_both_blob_stores
@pytest.mark.parametrize(
    "kind", ["empty", "text", "random", "truncated", "corrupt", "missing", "directory"]
)
def test_bad_input_is_refused_and_leaves_nothing(
    vault: Vault, clips: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    rec = add_user(vault, "records")
    number = add_case(vault)
    (tmp_path / "in").mkdir()
    bad = _bad_files(tmp_path / "in", clips["a"])
    with pytest.raises(InvalidInput) as err:
        evidence.ingest(vault, rec, bad[kind], number)
    assert "\n" not in str(err.value)
    assert _counts(vault) == (0, 0, 0)
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert last["action"] == "ingest-refused" and last["case"] == number


def test_ingest_refusals_for_people_and_cases(vault: Vault, clips: dict[str, Path]) -> None:
    officer = add_user(vault, "officer")
    prosecutor = add_user(vault, "prosecutor")
    number = add_case(vault)
    with pytest.raises(PermissionDenied):
        evidence.ingest(vault, prosecutor, clips["a"], number)
    with pytest.raises(NotFound, match="no case"):
        evidence.ingest(vault, officer, clips["a"], "NOPE-1")
    with pytest.raises(NotFound, match="no user"):
        evidence.ingest(vault, "admin", clips["a"], number, officer="nobody")
    with pytest.raises(InvalidInput, match="ISO 8601"):
        evidence.ingest(vault, "admin", clips["a"], number, recorded_at=_at("yesterday"))
    with pytest.raises(InvalidInput, match="in the future"):
        evidence.ingest(vault, "admin", clips["a"], number, recorded_at=_at("2999-01-01T10:00:00Z"))
    with pytest.raises(InvalidInput, match="before 1990"):
        evidence.ingest(vault, "admin", clips["a"], number, recorded_at=_at("0001-01-01T00:00:00Z"))
    assert _counts(vault) == (0, 0, 0)


def test_officer_ingests_only_into_cases_they_are_assigned_to(
    vault: Vault, clips: dict[str, Path]
) -> None:
    mine, theirs = add_user(vault, "officer"), add_user(vault, "officer")
    number = add_case(vault, members=(mine,))
    # The recording officer defaults to the ingesting officer; that must not be what
    # lets an officer who is not assigned add footage to the case.
    with pytest.raises(PermissionDenied, match="not assigned"):
        evidence.ingest(vault, theirs, clips["a"], number)
    assert _counts(vault) == (0, 0, 0)
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["actor"], last["case"]) == ("ingest-refused", theirs, number)
    assert evidence.ingest(vault, mine, clips["a"], number).case == number


def test_officer_may_not_name_a_colleague_as_recording_officer(
    vault: Vault, clips: dict[str, Path]
) -> None:
    mine, colleague = add_user(vault, "officer"), add_user(vault, "officer")
    number = add_case(vault, members=(mine,))
    # That would hand the colleague reach to the footage without assigning them.
    with pytest.raises(PermissionDenied, match=f"only footage they recorded, not {colleague}"):
        evidence.ingest(vault, mine, clips["a"], number, officer=colleague)
    assert _counts(vault) == (0, 0, 0)
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["actor"], last["evidence"]) == ("ingest-refused", mine, None)
    assert evidence.list_evidence(vault, colleague) == []
    assert evidence.ingest(vault, mine, clips["a"], number, officer=mine).case == number


@pytest.mark.parametrize("role", ["internal-affairs", "records", "prosecutor", "admin"])
def test_recording_officer_must_record_video(
    vault: Vault, clips: dict[str, Path], role: str
) -> None:
    rec = add_user(vault, "records")
    number = add_case(vault)
    named = add_user(vault, role)
    with pytest.raises(InvalidInput, match=f"'{named}' is {role}, not someone who records"):
        evidence.ingest(vault, rec, clips["a"], number, officer=named)
    assert _counts(vault) == (0, 0, 0)
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["case"], last["evidence"]) == ("ingest-refused", number, None)
    sergeant = add_user(vault, "supervisor")
    assert evidence.ingest(vault, rec, clips["a"], number, officer=sergeant).case == number


def test_officer_sees_own_evidence_only(vault: Vault, clips: dict[str, Path]) -> None:
    o1, o2 = add_user(vault, "officer"), add_user(vault, "officer")
    rec = add_user(vault, "records")
    number = add_case(vault)
    mine = evidence.ingest(vault, rec, clips["a"], number, officer=o1)
    evidence.ingest(vault, rec, clips["b"], number, officer=o2)
    assert [e.evidence_id for e in evidence.list_evidence(vault, o1)] == [mine.evidence_id]
    evidence.open_evidence(vault, o1, mine.evidence_id)
    with pytest.raises(PermissionDenied):
        evidence.open_evidence(vault, o2, mine.evidence_id)


@on_both_blob_stores
def test_sensitive_case_needs_reason_and_alerts_ia(
    vault: Vault, clips: dict[str, Path], blob_backend: str
) -> None:
    sup = add_user(vault, "supervisor")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault, flags=("sensitive",))
    ev = evidence.ingest(vault, "admin", clips["c"], number)
    with pytest.raises(PermissionDenied, match="state a reason"):
        evidence.open_evidence(vault, sup, ev.evidence_id)
    opened = evidence.open_evidence(vault, sup, ev.evidence_id, reason="force review")
    assert opened.alerted == ["internal-affairs"]
    # Where the original is kept is for admins, who run the store (issue 22).
    assert opened.path is None
    alerts = evidence.list_alerts(vault, ia)
    assert [(a.actor, a.evidence_id, a.reason) for a in alerts] == [
        (sup, ev.evidence_id, "force review")
    ]
    with pytest.raises(PermissionDenied):
        evidence.list_alerts(vault, sup)
    with vault.uow(readonly=True) as uow:
        trail = [e["action"] for e in list_events(uow.conn, evidence_id=ev.evidence_id)]
    assert trail == ["ingest", "access-refused", "view"]
    located = evidence.open_evidence(vault, "admin", ev.evidence_id, reason="store check").path
    assert located == vault.blobs.location(ev.sha256)
    assert located.startswith("s3://" if blob_backend == "s3" else "/")


def test_unknown_evidence(vault: Vault) -> None:
    with pytest.raises(NotFound):
        evidence.open_evidence(vault, "admin", "EV-NOPE")
