"""End to end: copies to three people, one leaks through edits, the trace names it."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from custodes.bootstrap import Vault
from custodes.core.attribution import P_FLOOR
from custodes.core.errors import IntegrityFailure, InvalidInput, PermissionDenied
from custodes.media.probe import probe
from custodes.media.render import EncodeSettings, render
from custodes.media.synth import write_bodycam_clip
from custodes.services import evidence, exports, trace
from custodes.services.audit import list_events
from custodes.services.usecase import acting
from custodes.storage import tables as t
from tests.factories import add_case, add_user
from tests.factories.blobs import on_both_blob_stores, read_blob, replace_blob, temp_files


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trace")
    return {
        "source": write_bodycam_clip(root / "src.mp4", seconds=14, width=320, height=180, seed=11),
        "other": write_bodycam_clip(
            root / "other.mp4", seconds=8, width=320, height=180, seed=99, night=True
        ),
    }


@pytest.fixture(scope="module")
def setup(footage: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    from custodes import bootstrap
    from custodes.config import Settings

    root = tmp_path_factory.mktemp("vault")
    vault = bootstrap.init_vault(Settings(home=root / "v"))
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault)
    ev = evidence.ingest(vault, rec, footage["source"], number)
    copies = {
        name: exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                ev.evidence_id, recipient=name, purpose=f"copy for {name}", out=root / f"{name}.mp4"
            ),
        )
        for name in ("alice", "bob", "carol")
    }
    yield vault, rec, ia, ev, copies, root
    vault.engine.dispose()


def _leak(src: Path, dest: Path, **kw) -> Path:
    render(src, dest, **kw)
    return dest


def test_leaked_copy_is_named_and_nobody_else(setup) -> None:
    vault, rec, ia, ev, copies, root = setup
    leak = _leak(
        Path(copies["bob"].path),
        root / "news.mp4",
        start_s=3,
        end_s=11,
        # 180p CRF 28 scores z ~ 18 for the leaked key; 144p CRF 30 scored 6.5-9 and,
        # the keys being random per vault, fell under the threshold in one CI run.
        # The hard cases belong to bench/bench_tracing.py.
        height=180,
        settings=EncodeSettings(crf=28),
    )
    out = trace.trace_leak(vault, ia, leak, report_dir=root)
    assert out.verdict == "attributed"
    assert out.attributed == [copies["bob"].export_id]
    assert out.source is not None and out.source.evidence_id == ev.evidence_id
    assert out.source.offset_s == pytest.approx(3.0, abs=0.1)
    assert out.source.duration_s == pytest.approx(8.0, abs=0.2)
    named = {c.recipient: c for c in out.candidates}
    assert named["bob"].attributed
    # z ~ 18 computes to p ~ 1e-70; the trace states it as p < 1e-9, the floor, and says
    # how many never-issued keys scored as high (none of 1,000).
    assert (named["bob"].p_value, named["bob"].p_below_floor) == (P_FLOOR, True)
    assert (named["bob"].null_keys, named["bob"].null_at_or_above) == (1000, 0)
    assert not named["alice"].attributed and not named["carol"].attributed
    assert not named["alice"].p_below_floor and named["alice"].p_value > P_FLOOR
    html = out.report.html.read_text()
    assert "bob" in html and copies["bob"].export_id in html
    text = unescape(" ".join(html.split()))
    assert "less than 1 in 10^" in text and "provided that the vault's records verify" in text
    assert "<td>< 1e-09</td>" in text and "10^300" not in text
    assert out.report.pdf.read_bytes().startswith(b"%PDF")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=ev.evidence_id)[-1]
    assert last["action"] == "trace" and last["details"]["verdict"] == "attributed"
    assert any(a.kind == "leak-attributed" for a in evidence.list_alerts(vault, ia))


def test_raw_original_leak_names_nobody(setup, footage) -> None:
    vault, rec, ia, ev, copies, root = setup
    leak = _leak(footage["source"], root / "raw.mp4", start_s=2, end_s=10)
    out = trace.trace_leak(vault, ia, leak, report_dir=root)
    assert out.verdict == "no-export-matched"
    assert out.source is not None and out.source.evidence_id == ev.evidence_id
    assert out.attributed == [] and len(out.candidates) == 3


def test_unrelated_footage_is_not_found(setup, footage) -> None:
    vault, rec, ia, ev, copies, root = setup
    out = trace.trace_leak(vault, ia, footage["other"], report_dir=root)
    assert out.verdict == "source-not-found" and out.source is None
    assert out.candidates == [] and out.attributed == []


def test_trace_refusals(setup, tmp_path: Path) -> None:
    vault, rec, ia, ev, copies, root = setup
    officer = add_user(vault, "officer")
    with pytest.raises(PermissionDenied):
        trace.trace_leak(vault, officer, Path(copies["bob"].path), report_dir=tmp_path)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(InvalidInput):
        trace.trace_leak(vault, ia, bad, report_dir=tmp_path)
    with pytest.raises(InvalidInput, match="is a folder, not a video file"):
        trace.trace_leak(vault, ia, tmp_path, report_dir=tmp_path)
    with pytest.raises(InvalidInput, match="is a file, not a folder"):
        trace.trace_leak(vault, ia, Path(copies["bob"].path), report_dir=bad)
    assert list(tmp_path.glob("TR-*")) == []


@on_both_blob_stores
def test_index_fingerprints_ahead_of_traces(sqlite_vault: Vault, clips: dict[str, Path]) -> None:
    vault = sqlite_vault
    ia = add_user(vault, "internal-affairs")
    rec = add_user(vault, "records")
    number = add_case(vault)
    ids = sorted(evidence.ingest(vault, rec, clips[k], number).evidence_id for k in "ab")
    with pytest.raises(PermissionDenied):
        trace.index_evidence(vault, add_user(vault, "officer"))
    first = trace.index_evidence(vault, ia)
    assert first == trace.Indexed(indexed=ids, already_indexed=0, evidence=2)
    with vault.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.fingerprints)).scalar() == 2
    again = trace.index_evidence(vault, ia)
    assert again == trace.Indexed(indexed=[], already_indexed=2, evidence=2)
    with vault.uow(readonly=True) as uow:
        events = [e for e in list_events(uow.conn) if e["action"] == "fingerprint-index"]
    assert len(events) == 1 and events[0]["details"]["evidence"] == ids


@on_both_blob_stores
def test_trace_refuses_an_altered_original(
    sqlite_vault: Vault, footage: dict[str, Path], tmp_path: Path
) -> None:
    """Attributing against an original whose stored bytes changed is refused and on
    record; fingerprinting skips it like a missing blob (verify reports both)."""
    vault = sqlite_vault
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault)
    ev = evidence.ingest(vault, rec, footage["source"], number)
    copy = exports.export_evidence(
        vault,
        rec,
        exports.ExportEvidence(
            ev.evidence_id, recipient="dave", purpose="p", out=tmp_path / "d.mp4"
        ),
    )
    trace.index_evidence(vault, ia)  # fingerprinted while intact
    data = bytearray(read_blob(vault, ev.sha256))
    data[-500] ^= 0xFF
    replace_blob(vault, ev.sha256, bytes(data))
    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(IntegrityFailure, match="no longer matches"):
        trace.trace_leak(vault, ia, Path(copy.path), report_dir=reports)
    assert list(reports.iterdir()) == []
    assert temp_files(vault) == []
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=ev.evidence_id)[-1]
    assert last["action"] == "access-refused" and last["details"]["code"] == "IntegrityFailure"
    with vault.engine.begin() as conn:
        conn.execute(t.fingerprints.delete())
    assert trace.index_evidence(vault, ia).indexed == []


def test_a_trace_names_only_what_the_signed_log_vouches_for(setup) -> None:
    """Issue 22: a copy's row edited (recipient) or deleted on the database file, behind
    the vault's back, makes the trace refuse (on record) rather than name someone the
    signed export event does not, or say that no export matched."""
    import sqlite3

    vault, rec, ia, ev, copies, root = setup
    leak = _leak(Path(copies["bob"].path), root / "edited.mp4", start_s=3, end_s=11, height=180)
    bob = copies["bob"].export_id
    db = sqlite3.connect(vault.settings.home / "vault.db")
    row = db.execute("SELECT * FROM exports WHERE id = ?", (bob,)).fetchone()
    try:
        db.execute("UPDATE exports SET recipient = 'Deputy DA Ruiz' WHERE id = ?", (bob,))
        db.commit()
        with pytest.raises(IntegrityFailure, match=f"export {bob} .* differs .* in recipient"):
            trace.trace_leak(vault, ia, leak, report_dir=root)
        db.execute("DELETE FROM exports WHERE id = ?", (bob,))
        db.commit()
        with pytest.raises(IntegrityFailure, match=f"export {bob} .* not in the vault's tables"):
            trace.trace_leak(vault, ia, leak, report_dir=root)
    finally:
        db.execute("DELETE FROM exports WHERE id = ?", (bob,))
        db.execute(f"INSERT INTO exports VALUES ({', '.join('?' * len(row))})", row)
        db.commit()
        db.close()
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=ev.evidence_id)[-1]
    assert last["action"] == "access-refused" and last["details"]["code"] == "IntegrityFailure"
    assert trace.trace_leak(vault, ia, leak, report_dir=root).attributed == [bob]


def test_footage_held_twice_is_traced_through_every_copy(
    sqlite_vault: Vault, footage: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 21: the same scene in two cases (a recording, and an upscaled copy of it
    in another case). The leak matches both; whichever matches best, the trace tests
    the copies of each, names the recipient, and says the footage is held twice."""
    vault = sqlite_vault
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    original = evidence.ingest(vault, rec, footage["source"], add_case(vault))
    upscaled = _leak(footage["source"], tmp_path / "upscaled.mp4", height=360)
    again = evidence.ingest(vault, rec, upscaled, add_case(vault))
    copy = exports.export_evidence(
        vault,
        rec,
        exports.ExportEvidence(
            original.evidence_id, recipient="erin", purpose="p", out=tmp_path / "e.mp4"
        ),
    )
    leak = _leak(Path(copy.path), tmp_path / "leak.mp4", start_s=3, end_s=11, height=180)
    out = trace.trace_leak(vault, ia, leak, report_dir=tmp_path)
    assert out.verdict == "attributed" and out.attributed == [copy.export_id]
    assert out.source is not None and out.source.evidence_id == original.evidence_id
    assert [h.evidence_id for h in out.held_also] == [again.evidence_id]
    assert out.held_also[0].copies_tested
    assert "held more than once" in " ".join(out.report.html.read_text().split())
    # The other recording matching first must not hide the copy: put it first.
    with acting(vault, ia, readonly=True) as uc:
        sources = trace._traceable_evidence(uc, None)
    matches = trace.locate_sources(vault, ia, sources, leak, None)
    assert {m.source_id for m in matches} == {original.evidence_id, again.evidence_id}
    matches.sort(key=lambda m: m.source_id != again.evidence_id)
    findings, _found, each = trace._attribute_sources(
        vault, ia, sources, matches, leak, probe(leak), trace.ALPHA
    )
    assert findings.attributed == [copy.export_id] and each == trace.ALPHA / 2
    assert findings.source is not None and findings.source.evidence_id == original.evidence_id
