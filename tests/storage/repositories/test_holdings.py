"""Every blob the vault keeps, through uow.holdings, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from custodes.bootstrap import Vault
from custodes.core.records import KeptBlob
from custodes.services import evidence
from custodes.storage import tables as t
from tests.factories import add_case, add_user


def test_originals_are_kept_with_their_recorded_hash_and_size(
    vault: Vault, clips: dict[str, Path]
) -> None:
    with vault.uow(readonly=True) as uow:
        assert uow.holdings.blobs() == []
    rec = add_user(vault, "records")
    number = add_case(vault)
    for name in ("a", "b"):
        evidence.ingest(vault, rec, clips[name], number)
    with vault.uow(readonly=True) as uow:
        kept = uow.holdings.blobs()
        originals = sorted(uow.evidence.list(), key=lambda e: e.id)
    assert len(originals) == 2
    assert kept == [KeptBlob("evidence", e.id, e.sha256, e.size) for e in originals]


def test_redacted_copies_follow_the_originals(vault: Vault, clips: dict[str, Path]) -> None:
    rec = add_user(vault, "records")
    evidence.ingest(vault, rec, clips["a"], add_case(vault))
    with vault.uow() as uow:
        [original] = uow.evidence.list()
        for copy_id in ("RD-2", "RD-1"):
            uow.conn.execute(
                insert(t.derivatives).values(
                    id=copy_id,
                    evidence_id=original.id,
                    kind="redacted",
                    created_at="2026-03-01T10:00:00+00:00",
                    actor=rec,
                    sha256=copy_id.lower() * 16,
                    sidecar_sha256="0" * 64,
                    frames_redacted=1,
                    lineage="{}",
                    audit_seq=0,
                )
            )
        kept = uow.holdings.blobs()
    assert kept == [
        KeptBlob("evidence", original.id, original.sha256, original.size),
        KeptBlob("redacted copy", "RD-1", "rd-1" * 16, None),
        KeptBlob("redacted copy", "RD-2", "rd-2" * 16, None),
    ]
