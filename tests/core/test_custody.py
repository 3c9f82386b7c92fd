"""Audit entries and the log verifier, on logs built in memory."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from custodes.core import merkle
from custodes.core.checkpoint import Checkpoint
from custodes.core.custody import (
    GENESIS_HASH,
    AuditEvent,
    LogVerifier,
    decode_entry,
    encode_entry,
    entry_head,
)
from custodes.core.errors import InvalidInput


@dataclass
class Row:
    seq: int
    entry: bytes
    leaf: bytes
    actor: str
    action: str
    case: str | None
    evidence: str | None
    at: str


def build(n: int) -> list[Row]:
    rows, prev = [], GENESIS_HASH
    for i in range(n):
        ev = AuditEvent(
            at=f"2026-01-01T00:00:{i % 60:02d}+00:00",
            actor=f"user{i % 3}",
            action="view",
            case_number="C-1",
            evidence_id=f"EV-{i}",
            reason="résumé ✓" if i == 2 else None,
        )
        entry = encode_entry(i, prev, ev)
        leaf = merkle.leaf_hash(entry)
        rows.append(Row(i, entry, leaf, ev.actor, ev.action, "C-1", f"EV-{i}", ev.at))
        prev = leaf
    return rows


def checkpoints(rows: list[Row], sizes: list[int]) -> list[Checkpoint]:
    return [Checkpoint("test/log", s, merkle.root([r.leaf for r in rows[:s]])) for s in sizes]


def run(rows: list[Row], cps: list[Checkpoint]) -> list[str]:
    """Both paths (row by row, and the fast stream) must find the same problems."""
    slow = LogVerifier(cps)
    for r in rows:
        slow.feed(r.seq, r.entry, r.leaf, r.actor, r.action, r.case, r.evidence, r.at)
    fast = LogVerifier(cps)
    fast.feed_many(
        (r.seq, r.entry, r.leaf, r.actor, r.action, r.case, r.evidence, r.at) for r in rows
    )
    kinds = sorted({p.kind for p in slow.finish()})
    assert sorted({p.kind for p in fast.finish()}) == kinds
    assert fast.size == slow.size and fast.root() == slow.root()
    return kinds


def test_entry_round_trip() -> None:
    rows = build(3)
    body = decode_entry(rows[2].entry)
    assert body["seq"] == 2
    assert body["reason"] == "résumé ✓"
    assert body["prev"] == rows[1].leaf.hex()
    assert entry_head(rows[2].entry) == (rows[1].leaf.hex(), 2)


@pytest.mark.parametrize("bad", [b"", b"x" * 200, b"0" * 64 + b" x\n{}", b"0" * 64 + b"5\n{}"])
def test_malformed_entries_are_refused(bad: bytes) -> None:
    with pytest.raises(InvalidInput):
        decode_entry(bad)


def test_a_whole_log_verifies() -> None:
    rows = build(50)
    assert run(rows, checkpoints(rows, [1, 17, 50])) == []


def test_edited_event_is_found() -> None:
    rows = build(20)
    cps = checkpoints(rows, [20])
    rows[5].entry = rows[5].entry.replace(b'"view"', b'"viev"')
    assert "event-edited" in run(rows, cps)
    # Also when the attacker rewrote the stored hash: the chain and the root give it away.
    rows[5].leaf = merkle.leaf_hash(rows[5].entry)
    kinds = run(rows, cps)
    assert "chain-broken" in kinds and "checkpoint-mismatch" in kinds


def test_missing_event_is_found() -> None:
    rows = build(20)
    cps = checkpoints(rows, [20])
    del rows[7]
    kinds = run(rows, cps)
    assert "event-missing" in kinds and "log-truncated" in kinds


def test_reordered_events_are_found() -> None:
    rows = build(20)
    cps = checkpoints(rows, [20])
    rows[3].entry, rows[4].entry = rows[4].entry, rows[3].entry
    rows[3].leaf, rows[4].leaf = rows[4].leaf, rows[3].leaf
    assert "event-reordered" in run(rows, cps)


def test_trimmed_log_is_found() -> None:
    rows = build(20)
    cps = checkpoints(rows, [20])
    assert run(rows[:15], cps) == ["log-truncated"]


def test_index_columns_must_match_entry() -> None:
    rows = build(5)
    rows[2].evidence = "EV-999"
    assert run(rows, checkpoints(rows, [5])) == ["index-mismatch"]


def test_the_time_column_must_match_the_entry() -> None:
    rows = build(5)
    rows[3].at = "2020-01-01T00:00:00+00:00"
    verifier = LogVerifier(checkpoints(rows, [5]))
    verifier.feed_many(
        (r.seq, r.entry, r.leaf, r.actor, r.action, r.case, r.evidence, r.at) for r in rows
    )
    [problem] = verifier.finish()
    assert (problem.kind, problem.seq) == ("index-mismatch", 3)
    assert problem.detail == "event 3: column at disagrees with the entry"


def test_a_rewritten_history_fails_the_signed_root() -> None:
    rows = build(10)
    cps = checkpoints(rows, [10])
    # The attacker rebuilds the whole log with one event changed: chain and hashes agree.
    forged, prev = [], GENESIS_HASH
    for r in rows:
        body = decode_entry(r.entry)
        actor = "someone-else" if r.seq == 4 else body["actor"]
        ev = AuditEvent(
            body["at"],
            actor,
            body["action"],
            case_number=body["case"],
            evidence_id=body["evidence"],
            reason=body["reason"],
        )
        entry = encode_entry(r.seq, prev, ev)
        prev = merkle.leaf_hash(entry)
        forged.append(Row(r.seq, entry, prev, actor, r.action, r.case, r.evidence, r.at))
    assert run(forged, cps) == ["checkpoint-mismatch"]
