"""The audit log's tables through uow.audit, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core import merkle
from custodes.core.custody import GENESIS_HASH, AuditEvent, decode_entry, encode_entry
from custodes.core.records import LogEntry, LogState
from tests.factories import add_case


def _entries(state: LogState, events: list[AuditEvent]) -> tuple[list[LogEntry], LogState]:
    rng, prev, out = state.range(), state.last_leaf_hash, []
    for ev in events:
        entry = encode_entry(rng.size, prev, ev)
        leaf = merkle.leaf_hash(entry)
        out.append(
            LogEntry(
                rng.size, ev.at, ev.actor, ev.action, ev.case_number, ev.evidence_id, entry, leaf
            )
        )
        rng.append(leaf)
        prev = leaf
    return out, LogState(rng.size, rng.to_bytes(), prev, exists=state.exists)


def _event(i: int, case: str | None = None, evidence: str | None = None) -> AuditEvent:
    return AuditEvent(
        at=f"2026-03-01T10:00:{i:02d}.000000+00:00",
        actor="admin",
        action="view",
        case_number=case,
        evidence_id=evidence,
        reason=f"r{i}",
    )


def test_a_new_vault_has_a_state_its_events_and_checkpoints(vault: Vault) -> None:
    with vault.uow(readonly=True) as uow:
        state = uow.audit.load_state(for_update=True)
        assert state.exists and state.size == 3 and state.range().size == 3
        entries = uow.audit.entries(5)
        actions = [decode_entry(e)["action"] for e in entries]
        assert actions == ["vault-init", "user-add", "policy-set"]
        assert state.last_leaf_hash == merkle.leaf_hash(entries[-1])
        assert state.range().root() == merkle.root([merkle.leaf_hash(e) for e in entries])
        assert uow.audit.count() == 3
        assert uow.audit.entry_at(1) == entries[1] and uow.audit.entry_at(3) is None
        latest = uow.audit.latest_checkpoint()
        assert latest is not None and latest.size == 3
        assert uow.audit.checkpoint_at(3) == latest and uow.audit.checkpoint_at(4) is None
        assert uow.audit.checkpoints() == [latest]
        assert uow.audit.newest_checkpoint_size() == 3
        assert latest.note.decode().startswith(vault.origin + "\n3\n")


def test_appended_entries_and_state_are_read_back(vault: Vault) -> None:
    with vault.uow() as uow:
        before = uow.audit.load_state(for_update=True)
        entries, after = _entries(before, [_event(i, case="C-1") for i in range(3)])
        uow.audit.append(entries, after)
        uow.audit.add_checkpoint(after.size, b"a note\n", "2026-03-01T10:00:03+00:00")
        uow.commit()
    with vault.uow(readonly=True) as uow:
        assert uow.audit.load_state() == after
        # After the 3 events of init (vault-init, user-add, policy-set).
        assert uow.audit.entries(after.size)[3:] == [e.entry for e in entries]
        assert uow.audit.newest_checkpoint_size() == 6
        stored = uow.audit.checkpoint_at(6)
        assert stored is not None and stored.note == b"a note\n"
        rows = [row for batch in uow.audit.iter_batches(batch=2) for row in batch]
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4, 5]
    seq, entry, leaf, actor, action, case, evidence, at = rows[4]
    assert (seq, bytes(entry), bytes(leaf)) == (4, entries[1].entry, entries[1].leaf_hash)
    assert (actor, action, case, evidence, at) == ("admin", "view", "C-1", None, entries[1].at)


def test_appending_nothing_changes_nothing(vault: Vault) -> None:
    with vault.uow() as uow:
        before = uow.audit.load_state()
        uow.audit.append([], LogState(0, b"", GENESIS_HASH))
        assert uow.audit.load_state() == before


def test_events_filtered_limited_and_hidden(vault: Vault) -> None:
    hidden = add_case(vault)
    with vault.uow() as uow:
        events = [_event(0, case="C-1"), _event(1, evidence="EV-1"), _event(2, case=hidden)]
        entries, after = _entries(uow.audit.load_state(for_update=True), events)
        uow.audit.append(entries, after)
        uow.commit()
    with vault.uow(readonly=True) as uow:
        log = uow.audit
        every = log.events()
        assert every == log.entries(after.size)
        assert log.events(case_number="C-1") == [entries[0].entry]
        assert log.events(evidence_id="EV-1") == [entries[1].entry]
        assert log.events(limit=2) == every[-2:]
        assert [decode_entry(e)["seq"] for e in log.events(limit=2)] == [
            after.size - 2,
            after.size - 1,
        ]
        kept = log.events(hidden_cases={hidden})
        assert entries[2].entry not in kept and len(kept) == len(every) - 2  # add, event


@pytest.mark.parametrize("batch", [1, 3, 20_000])
def test_iter_batches_covers_the_log_in_order(vault: Vault, batch: int) -> None:
    with vault.uow(readonly=True) as uow:
        batches = list(uow.audit.iter_batches(batch=batch))
        assert all(0 < len(b) <= batch for b in batches)
        seqs = [row[0] for b in batches for row in b]
        assert seqs == list(range(uow.audit.count()))
