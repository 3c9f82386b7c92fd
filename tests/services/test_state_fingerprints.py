# ruff: noqa: E501  (the table of changes reads best one per line)
"""The hold-out of issue 22 for the ``fingerprints`` table: on a copy of the used vault of
``test_state_tables`` (its trace fingerprinted both recordings), a fingerprint row edited,
deleted or inserted on the database file is named by ``verify``; a trace after an edited
fingerprint still finds its source (the row is recomputed from the re-hashed original,
on record) rather than saying the leak is not from the vault."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custodes import bootstrap
from custodes.config import Settings
from custodes.core.errors import IntegrityFailure
from custodes.core.ledger import Ledger, compare_fingerprints, fingerprint_state
from custodes.media.fingerprint import FORMAT_VERSION
from custodes.media.synth import write_bodycam_clip
from custodes.services import evidence, exports, trace, verify
from custodes.services.audit import list_events
from tests.factories import add_case, add_user
from tests.factories.blobs import read_blob, replace_blob
from tests.services.test_state_tables import Used, _named, _sql, copy, used

__all__ = ["copy", "used"]  # the fixtures, shared with the every-table hold-out

FINGERPRINT_CHANGES: list[tuple[str, str, str]] = [
    ("fingerprint edited", "UPDATE fingerprints SET data=(SELECT data FROM fingerprints WHERE evidence_id='{ev2}') WHERE evidence_id='{ev}'", "state-row-altered: fingerprint {ev} (format {v}) differs from the log in sha256"),
    ("fingerprint truncated", "UPDATE fingerprints SET data=substr(data, 1, 64) WHERE evidence_id='{ev2}'", "state-row-altered: fingerprint {ev2} (format {v}) differs from the log in sha256"),
    ("fingerprint deleted", "DELETE FROM fingerprints WHERE evidence_id='{ev}'", "state-row-missing: fingerprint {ev} (format {v}) is on the log but not in the tables"),
    ("fingerprint inserted", "INSERT INTO fingerprints SELECT evidence_id, 999, data, created_at FROM fingerprints WHERE evidence_id='{ev}'", "state-row-unlogged: fingerprint {ev} (format 999) is in the tables but no event made it"),
    ("fingerprint moved", "UPDATE fingerprints SET version=998 WHERE evidence_id='{ev2}'", "state-row-missing: fingerprint {ev2} (format {v})"),
]  # fmt: skip


def _values(used: Used) -> dict[str, object]:
    return {**vars(used), "v": FORMAT_VERSION}


@pytest.mark.parametrize(
    ("name", "sql", "said"), FINGERPRINT_CHANGES, ids=[c[0] for c in FINGERPRINT_CHANGES]
)
def test_verify_names_every_changed_fingerprint(
    used: Used, copy: bootstrap.Vault, name: str, sql: str, said: str
) -> None:
    assert verify.verify_vault(copy, "admin", blobs=False).problems == []
    _sql(copy, sql.format(**_values(used)))
    named = _named(copy)
    assert any(said.format(**_values(used)) in p for p in named), named


def _fingerprint_events(vault: bootstrap.Vault) -> list[dict[str, object]]:
    with vault.uow(readonly=True) as uow:
        return [e for e in list_events(uow.conn) if e["action"] == "fingerprint"]


def test_every_fingerprint_row_has_its_signed_event(used: Used, copy: bootstrap.Vault) -> None:
    events = {str(e["evidence"]): e["details"] for e in _fingerprint_events(copy)}
    assert set(events) == {used.ev, used.ev2}
    db = sqlite3.connect(copy.settings.home / "vault.db")
    rows = db.execute("SELECT evidence_id, version, data FROM fingerprints").fetchall()
    db.close()
    for evidence_id, version, data in rows:
        details = events[evidence_id]
        assert isinstance(details, dict)
        assert details["sha256"] == fingerprint_state(evidence_id, version, data).sha256
        assert details["format_version"] == version and details["replaced"] is None


@dataclass(frozen=True)
class Traced:
    home: Path
    ev: str
    other: str
    ex: str
    leak: Path
    ia: str


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Traced:
    """A vault with a recording long enough to be located, another, and one copy,
    fingerprinted (by ``index``) while intact."""
    root = tmp_path_factory.mktemp("traced")
    source = write_bodycam_clip(root / "src.mp4", seconds=14, width=320, height=180, seed=11)
    other = write_bodycam_clip(
        root / "other.mp4", seconds=8, width=320, height=180, seed=99, night=True
    )
    vault = bootstrap.init_vault(Settings(home=root / "vault"))
    try:
        rec = add_user(vault, "records")
        ia = add_user(vault, "internal-affairs")
        number = add_case(vault)
        ev = evidence.ingest(vault, rec, source, number).evidence_id
        ev2 = evidence.ingest(vault, rec, other, number).evidence_id
        leak = root / "bob.mp4"
        cmd = exports.ExportEvidence(ev, recipient="bob", purpose="civil claim", out=leak)
        ex = exports.export_evidence(vault, rec, cmd).export_id
        assert sorted(trace.index_evidence(vault, ia).indexed) == sorted([ev, ev2])
    finally:
        vault.engine.dispose()
    return Traced(root / "vault", ev, ev2, ex, leak, ia)


@pytest.fixture
def traced_copy(traced: Traced, tmp_path: Path) -> Iterator[bootstrap.Vault]:
    home = tmp_path / "vault"
    shutil.copytree(traced.home, home)
    vault = bootstrap.open_vault(Settings(home=home))
    yield vault
    vault.engine.dispose()


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("UPDATE fingerprints SET data=(SELECT data FROM fingerprints WHERE evidence_id='{other}') WHERE evidence_id='{ev}'", "altered"),
        ("DELETE FROM fingerprints WHERE evidence_id='{ev}'", "missing"),
    ],
    ids=["edited", "deleted"],
)  # fmt: skip
def test_a_trace_after_an_edited_fingerprint_still_finds_its_source(
    traced: Traced, traced_copy: bootstrap.Vault, tmp_path: Path, sql: str, why: str
) -> None:
    """The row of the leaked recording is given the other recording's fingerprint (or
    deleted): the trace does not use it, recomputes it from the re-hashed original, names
    the copy, and its ``fingerprint`` event says what it replaced; verify passes again."""
    vault = traced_copy
    _sql(vault, sql.format(**vars(traced)))
    assert not verify.verify_vault(vault, "admin", blobs=False).ok
    before = len(_fingerprint_events(vault))
    found = trace.trace_leak(vault, traced.ia, traced.leak, report_dir=tmp_path)
    assert found.source is not None and found.source.evidence_id == traced.ev
    assert found.attributed == [traced.ex]
    events = _fingerprint_events(vault)
    assert len(events) == before + 1
    last = events[-1]
    assert last["evidence"] == traced.ev
    assert isinstance(last["details"], dict) and last["details"]["replaced"]["why"] == why
    assert verify.verify_vault(vault, "admin", blobs=False).problems == []


def test_index_refingerprints_a_row_no_event_made(used: Used, copy: bootstrap.Vault) -> None:
    _sql(copy, f"DELETE FROM fingerprints WHERE evidence_id='{used.ev2}'")
    _sql(
        copy,
        "INSERT INTO fingerprints SELECT '{ev2}', version, data, created_at FROM fingerprints "
        "WHERE evidence_id='{ev}'".format(**_values(used)),
    )
    assert trace.index_evidence(copy, used.ia).indexed == [used.ev2]
    assert _fingerprint_events(copy)[-1]["details"]["replaced"]["why"] == "altered"  # type: ignore[index]
    assert verify.verify_vault(copy, "admin", blobs=False).problems == []


def _entry(seq: int, action: str, evidence: str | None = None, **details: object) -> dict:
    return {"seq": seq, "action": action, "evidence": evidence, "details": details}


def test_rows_of_an_older_vault_without_events_are_unvouched_not_reported() -> None:
    row = fingerprint_state("EV-1", 3, b"fingerprint")
    stored = {"EV-1 (format 3)": row}
    old, new = Ledger(), Ledger()
    old.feed([_entry(0, "vault-init", origin="x")])
    new.feed([_entry(0, "vault-init", origin="x", binds=["fingerprints"])])
    assert compare_fingerprints(old.state, stored) == []
    assert [p.kind for p in compare_fingerprints(new.state, stored)] == ["state-row-unlogged"]
    # once an event vouches for a row, an older vault holds it to that event too
    old.feed([_entry(1, "fingerprint", "EV-1", format_version=3, sha256="0" * 64)])
    assert [p.kind for p in compare_fingerprints(old.state, stored)] == ["state-row-altered"]
    assert [p.kind for p in compare_fingerprints(old.state, {})] == ["state-row-missing"]


def test_a_trace_refuses_a_source_it_cannot_fingerprint_on_record(
    traced: Traced, traced_copy: bootstrap.Vault, tmp_path: Path
) -> None:
    """No vouched fingerprint and an altered original: the trace cannot know whether the
    leak shows that recording, so it refuses (exit 7, on record) rather than say the
    footage is not in the vault; ``index`` leaves it out (verify reports the blob)."""
    vault = traced_copy
    _sql(vault, f"DELETE FROM fingerprints WHERE evidence_id='{traced.ev}'")
    with vault.uow(readonly=True) as uow:
        sha = uow.evidence.get(traced.ev).sha256
    data = bytearray(read_blob(vault, sha))
    data[-500] ^= 0xFF
    replace_blob(vault, sha, bytes(data))
    with pytest.raises(IntegrityFailure, match=f"evidence {traced.ev} has no fingerprint"):
        trace.trace_leak(vault, traced.ia, traced.leak, report_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "vault"]
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn)[-1]
    assert (last["action"], last["evidence"]) == ("access-refused", traced.ev)
    assert last["details"]["code"] == "IntegrityFailure"
    assert trace.index_evidence(vault, traced.ia).indexed == []
