"""Exports: a recorded, watermarked copy for one recipient; refusals on record."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.media.probe import probe
from custodes.services import evidence, exports
from custodes.services.audit import list_events
from tests.factories import add_case, add_user
from tests.factories.blobs import (
    on_both_blob_stores,
    read_blob,
    remove_blob,
    replace_blob,
    temp_files,
)


@pytest.fixture
def ingested(sqlite_vault: Vault, clips: dict[str, Path]) -> tuple[Vault, str, str]:
    number = add_case(sqlite_vault)
    ev = evidence.ingest(sqlite_vault, "admin", clips["a"], number)
    return sqlite_vault, number, ev.evidence_id


@on_both_blob_stores
def test_export_is_recorded_with_lineage(ingested, tmp_path: Path) -> None:
    vault, number, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    sup = add_user(vault, "supervisor")
    out = exports.export_evidence(
        vault,
        sup,
        exports.ExportEvidence(
            evidence_id,
            recipient="Deputy DA Ruiz",
            purpose="charging decision",
            start=0.5,
            end=1.5,
            out=tmp_path / "copy.mp4",
        ),
    )
    path = Path(out.path)
    assert path.exists() and out.export_id.startswith("EX-")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == out.sha256
    info = probe(path)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert temp_files(vault) == []  # nor the original a remote store downloaded
    [row] = exports.list_exports(vault, sup, evidence_id)
    assert row.recipient == "Deputy DA Ruiz" and row.actor == sup
    ops = [op["op"] for op in row.lineage["operations"]]
    # The copy keeps the original's size: no "scale", so no c2pa.resized either.
    assert ops == ["trim", "forensic-watermark", "visible-mark", "encode"]
    assert row.lineage["source"]["sha256"] == evidence.list_evidence(vault, sup)[0].sha256
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=evidence_id)[-1]
    assert last["action"] == "export" and last["reason"] == "charging decision"
    assert last["details"]["output_sha256"] == out.sha256


def test_export_scaled_without_visible_mark(ingested, tmp_path: Path) -> None:
    vault, _, evidence_id = ingested
    out = exports.export_evidence(
        vault,
        add_user(vault, "records"),
        exports.ExportEvidence(
            evidence_id,
            recipient="press",
            purpose="release",
            out=tmp_path / "small.mp4",
            height=90,
            visible_mark=False,
        ),
    )
    assert (out.width, out.height) == (160, 90)
    [row] = exports.list_exports(vault, add_user(vault, "supervisor"), evidence_id)
    [scale] = [op for op in row.lineage["operations"] if op["op"] == "scale"]
    assert scale == {
        "op": "scale",
        "from_width": 320,
        "from_height": 180,
        "width": 160,
        "height": 90,
    }


def test_export_refusals_are_audited(ingested, tmp_path: Path) -> None:
    vault, number, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    officer = add_user(vault, "officer")
    rec = add_user(vault, "records")
    with pytest.raises(PermissionDenied):
        exports.export_evidence(
            vault,
            officer,
            exports.ExportEvidence(evidence_id, recipient="x", purpose="y", out=tmp_path / "a.mp4"),
        )
    with pytest.raises(NotFound):
        exports.export_evidence(
            vault, rec, exports.ExportEvidence("EV-NOPE", recipient="x", purpose="y")
        )
    with pytest.raises(InvalidInput, match=r"^end .* must be after start"):
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                evidence_id, recipient="x", purpose="y", start=1.0, end=0.5, out=tmp_path / "b.mp4"
            ),
        )
    with pytest.raises(InvalidInput, match="outside the recording"):
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                evidence_id, recipient="x", purpose="y", start=99, out=tmp_path / "b.mp4"
            ),
        )
    with pytest.raises(InvalidInput, match="must not be empty"):
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                evidence_id, recipient="x", purpose="  ", out=tmp_path / "b.mp4"
            ),
        )
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    with pytest.raises(CustodyConflict, match="never overwrite"):
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                evidence_id, recipient="x", purpose="y", out=tmp_path / "exists.mp4"
            ),
        )
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4"]
    with vault.uow(readonly=True) as uow:
        refused = [e["action"] for e in list_events(uow.conn) if e["action"].endswith("-refused")]
    # Bad input (the three InvalidInput) is on record, but not as a refusal of access.
    assert refused == ["access-refused"] * 2 + ["input-refused"] * 3 + ["access-refused"]
    assert exports.list_exports(vault, rec) == []


def test_sensitive_export_alerts_ia(ingested, tmp_path: Path) -> None:
    from custodes.services import cases

    vault, number, evidence_id = ingested
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, number, flag=["juvenile"], reason="minor identified")
    rec = add_user(vault, "records")
    exports.export_evidence(
        vault,
        rec,
        exports.ExportEvidence(
            evidence_id, recipient="court", purpose="subpoena 42", out=tmp_path / "c.mp4"
        ),
    )
    alerts = evidence.list_alerts(vault, ia)
    assert [(a.kind, a.reason) for a in alerts] == [("sensitive-export", "subpoena 42")]


def _tamper(vault: Vault, evidence_id: str, how: str) -> None:
    [row] = [r for r in evidence.list_evidence(vault, "admin") if r.evidence_id == evidence_id]
    data = read_blob(vault, row.sha256)
    if how == "flip":
        replace_blob(vault, row.sha256, data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    elif how == "truncate":
        replace_blob(vault, row.sha256, data[: len(data) // 3])
    else:
        remove_blob(vault, row.sha256)


@on_both_blob_stores
@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("flip", IntegrityFailure, "no longer matches its recorded SHA-256"),
        ("truncate", IntegrityFailure, "no longer matches its recorded SHA-256"),
        ("delete", NotFound, "is missing"),
    ],
)
def test_export_refuses_an_altered_original(
    ingested, tmp_path: Path, how: str, error: type[Exception], message: str
) -> None:
    """A copy is never made from bytes that are not the recorded original's; the
    refusal is on record, names no blob path, and leaves no file."""
    vault, _, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    _tamper(vault, evidence_id, how)
    rec = add_user(vault, "records")
    with pytest.raises(error, match=message) as info:
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(evidence_id, recipient="x", purpose="y", out=tmp_path / "c.mp4"),
        )
    assert str(vault.home) not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert temp_files(vault) == []
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=evidence_id)[-1]
    assert last["action"] == "access-refused"
    assert last["details"]["code"] == error.__name__
    assert exports.list_exports(vault, rec) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_export_refuses_non_finite_times(ingested, tmp_path: Path, bad: float) -> None:
    vault, _, evidence_id = ingested
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    rec = add_user(vault, "records")
    for kw in ({"start": bad}, {"end": bad}, {"start": 0.0, "end": bad}):
        with pytest.raises(InvalidInput):
            exports.export_evidence(
                vault,
                rec,
                exports.ExportEvidence(
                    evidence_id, recipient="x", purpose="y", out=tmp_path / "n.mp4", **kw
                ),
            )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_export_into_an_unwritable_folder_is_refused_before_rendering(ingested) -> None:
    vault, _, evidence_id = ingested
    rec = add_user(vault, "records")
    with pytest.raises(InvalidInput, match="cannot write to /proc/"):
        exports.export_evidence(
            vault,
            rec,
            exports.ExportEvidence(
                evidence_id, recipient="x", purpose="y", out=Path("/proc/self/c.mp4")
            ),
        )
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, evidence_id=evidence_id)[-1]
    assert last["action"] == "input-refused" and "cannot write" in last["details"]["error"]


def test_export_never_writes_through_a_symbolic_link(ingested, tmp_path: Path) -> None:
    vault, _, evidence_id = ingested
    rec = add_user(vault, "records")
    target = tmp_path / "elsewhere.mp4"
    link = tmp_path / "copy.mp4"
    link.symlink_to(target)  # dangling: exists() is False
    with pytest.raises(CustodyConflict, match="symbolic link"):
        exports.export_evidence(
            vault, rec, exports.ExportEvidence(evidence_id, recipient="x", purpose="y", out=link)
        )
    assert not target.exists()


def test_an_export_sweeps_what_killed_exports_left(ingested, tmp_path: Path) -> None:
    """Hidden files of exports whose process is gone are removed; those of a running
    export (this process) and anything not an export's are kept."""
    vault, _, evidence_id = ingested
    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "out"
    folder.mkdir()
    ex = "EX-ABCDEFGHIJKL"
    stale = [
        f".c.mp4.{ex}.{dead.pid}.pending",
        f".c.mp4.{ex}.{dead.pid}.pending.c2pa",
        f"..c.mp4.{ex}.{dead.pid}.pending.{dead.pid}.0a1b2c3d.part",
        f".c.mp4.{ex}.{dead.pid}.pending.seg0002.mp4",  # a segment of a segmented export
        f"..c.mp4.{ex}.{dead.pid}.pending.seg0003.mp4.{dead.pid}.0a1b2c3d.part",
    ]
    kept = [f".c.mp4.{ex}.{os.getpid()}.pending", ".notes.txt", f"c.mp4.{ex}.{dead.pid}.pending"]
    for name in stale + kept:
        (folder / name).write_bytes(b"x")
    exports.export_evidence(
        vault,
        add_user(vault, "records"),
        exports.ExportEvidence(evidence_id, recipient="x", purpose="y", out=folder / "new.mp4"),
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept, "new.mp4"])


def test_exports_of_a_case_under_investigation_are_for_its_readers(
    ingested, tmp_path: Path
) -> None:
    vault, number, evidence_id = ingested
    sup = add_user(vault, "supervisor")
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    out = exports.export_evidence(
        vault,
        ia,
        exports.ExportEvidence(
            evidence_id, recipient="IA file", purpose="review", out=tmp_path / "c.mp4"
        ),
    )
    from custodes.services import cases

    cases.assign(vault, "admin", number, sup)
    cases.set_case(vault, ia, number, flag=["ia-investigation"], reason="complaint 9")
    assert exports.list_exports(vault, rec) == []  # left out of a listing...
    with pytest.raises(PermissionDenied, match="under internal-affairs investigation"):
        exports.list_exports(vault, rec, evidence_id)  # ...refused when named
    for reader in (ia, "admin", sup):
        assert [e.export_id for e in exports.list_exports(vault, reader)] == [out.export_id]
        assert len(exports.list_exports(vault, reader, evidence_id)) == 1
    with pytest.raises(NotFound, match="no evidence 'EV-NOPE'"):
        exports.list_exports(vault, ia, "EV-NOPE")
