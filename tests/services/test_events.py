"""Reading the audit log: events of a case under investigation are IA's, its admins' and
its assigned people's alone; unknown evidence and cases are NotFound."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import NotFound, PermissionDenied
from custodes.services import cases, events, evidence, proofs
from custodes.services.audit import EventView, read_events
from tests.factories import add_case, add_user


@pytest.fixture
def world(sqlite_vault: Vault, clips: dict[str, Path]):
    """An open case and a case under investigation, each with a recording; a supervisor
    assigned to the investigated case."""
    vault = sqlite_vault
    sup = add_user(vault, "supervisor")
    open_case = add_case(vault)
    investigated = add_case(vault, members=(sup,))
    seen = evidence.ingest(vault, "admin", clips["a"], open_case).evidence_id
    hidden = evidence.ingest(vault, "admin", clips["b"], investigated).evidence_id
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, investigated, flag=["ia-investigation"], reason="complaint 3")
    evidence.open_evidence(vault, ia, hidden)
    return vault, ia, sup, open_case, investigated, seen, hidden


def _of(rows: list[EventView], case: str, ev: str) -> list[EventView]:
    return [r for r in rows if r.case == case or r.evidence == ev]


def test_an_unfiltered_listing_leaves_out_what_the_actor_may_not_read(world) -> None:
    vault, ia, sup, open_case, investigated, seen, hidden = world
    rec = add_user(vault, "records")
    with vault.uow(readonly=True) as uow:
        everything = read_events(uow)
    assert len(_of(everything, investigated, hidden)) == 5  # add, assign, ingest, flag, view
    listed = events.list_audit(vault, rec)
    assert _of(listed, investigated, hidden) == []
    assert [r.seq for r in listed] == [
        r.seq for r in everything if r not in _of(everything, investigated, hidden)
    ]
    assert any(r.evidence == seen for r in listed)
    for reader in (ia, "admin", sup):  # IA, admins, and the people assigned
        assert events.list_audit(vault, reader) == everything
    # The last N events are the last N the actor may read.
    [last] = events.list_audit(vault, rec, limit=1)
    assert last == listed[-1]


@pytest.mark.parametrize("by", ["case", "evidence"])
def test_naming_a_case_under_investigation_is_refused_on_record(world, by: str) -> None:
    vault, ia, sup, open_case, investigated, seen, hidden = world
    rec = add_user(vault, "records")
    named = {"case_number": investigated} if by == "case" else {"evidence_id": hidden}
    with pytest.raises(PermissionDenied, match="under internal-affairs investigation"):
        events.list_audit(vault, rec, **named)  # type: ignore[arg-type]
    refusal = events.list_audit(vault, ia)[-1]
    assert (refusal.actor, refusal.action) == (rec, "access-refused")
    assert refusal.details["attempted"] == "case:audit:read"
    assert events.list_audit(vault, sup, **named)  # type: ignore[arg-type]
    opened = {"case_number": open_case} if by == "case" else {"evidence_id": seen}
    assert events.list_audit(vault, rec, **opened)  # type: ignore[arg-type]


def test_unknown_evidence_or_case_is_not_found(world) -> None:
    vault, ia, *_ = world
    with pytest.raises(NotFound, match="no evidence 'EV-NOPE'"):
        events.list_audit(vault, ia, evidence_id="EV-NOPE")
    with pytest.raises(NotFound, match="no case 'C-404'"):
        events.list_audit(vault, ia, case_number="C-404")
    refusals = events.list_audit(vault, ia)[-2:]
    assert [r.details["code"] for r in refusals] == ["NotFound", "NotFound"]


def test_a_proof_of_an_event_under_investigation_is_for_its_readers(world) -> None:
    vault, ia, sup, open_case, investigated, seen, hidden = world
    rec = add_user(vault, "records")
    viewed = [r for r in events.list_audit(vault, ia) if r.action == "view"][-1]
    with pytest.raises(PermissionDenied, match="under internal-affairs investigation"):
        proofs.prove_inclusion(vault, rec, viewed.seq)
    assert proofs.prove_inclusion(vault, ia, viewed.seq)["leaf_index"] == viewed.seq
    visible = events.list_audit(vault, rec, evidence_id=seen)[0]
    assert proofs.prove_inclusion(vault, rec, visible.seq)["leaf_index"] == visible.seq
