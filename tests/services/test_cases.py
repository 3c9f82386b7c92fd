from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound, PermissionDenied
from custodes.core.jsontext import jsonable
from custodes.services import cases
from custodes.services.audit import list_events
from tests.factories import add_case, add_user


def test_case_lifecycle_is_audited(vault: Vault) -> None:
    rec = add_user(vault, "records")
    out = cases.add_case(vault, rec, "2026-0001", "Traffic stop", "pending-prosecution")
    assert out.status == "pending-prosecution"
    changed = cases.set_case(
        vault,
        rec,
        "2026-0001",
        status="adjudicated",
        flag=["sensitive", "juvenile"],
        reason="court ruled",
    )
    assert jsonable(changed) == {
        "case": "2026-0001",
        "status": "adjudicated",
        "flags": ["juvenile", "sensitive"],
        "changed": ["case-status-change", "case-flag-change"],
        "holds_reviewed": [],
        "warnings": [],
    }
    cases.set_case(vault, rec, "2026-0001", unflag=["juvenile"], reason="adult after all")
    with vault.uow(readonly=True) as uow:
        trail = list_events(uow.conn, case_number="2026-0001")
    assert [e["action"] for e in trail] == [
        "case-add",
        "case-status-change",
        "case-flag-change",
        "case-flag-change",
    ]
    assert trail[1]["details"] == {"from": "pending-prosecution", "to": "adjudicated"}
    assert trail[1]["reason"] == "court ruled"
    assert trail[3]["details"]["removed"] == ["juvenile"]


def test_bad_case_input(vault: Vault) -> None:
    with pytest.raises(InvalidInput, match="invalid case number"):
        cases.add_case(vault, "admin", "../../x")
    with pytest.raises(InvalidInput, match="unknown case status"):
        cases.add_case(vault, "admin", "C-9", status="pending")
    cases.add_case(vault, "admin", "C-9")
    with pytest.raises(CustodyConflict):
        cases.add_case(vault, "admin", "C-9")
    with pytest.raises(InvalidInput, match="unknown case flag"):
        cases.set_case(vault, "admin", "C-9", flag=["vip"])
    with pytest.raises(InvalidInput, match="both set and unset"):
        cases.set_case(vault, "admin", "C-9", flag=["sensitive"], unflag=["sensitive"])
    with pytest.raises(NotFound):
        cases.set_case(vault, "admin", "C-404", status="closed")


def test_only_internal_affairs_raises_an_ia_flag(vault: Vault) -> None:
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault)
    with pytest.raises(PermissionDenied, match="only internal affairs"):
        cases.set_case(vault, rec, number, flag=["ia-investigation"], reason="complaint")
    cases.set_case(vault, ia, number, flag=["ia-investigation"], reason="complaint")
    # Now records no longer reaches the case at all.
    with pytest.raises(PermissionDenied, match="internal-affairs investigation"):
        cases.show_case(vault, rec, number)


def test_officers_see_only_their_cases(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    mine = add_case(vault, members=(officer,))
    other = add_case(vault)
    listed = {c.case for c in cases.list_cases(vault, officer)}
    assert mine in listed and other not in listed
    with pytest.raises(PermissionDenied):
        cases.set_case(vault, officer, mine, status="closed")
    with pytest.raises(CustodyConflict):
        cases.assign(vault, "admin", mine, officer)


@pytest.mark.parametrize(("flag", "unflag"), [(["sensitive"], []), ([], ["juvenile"])])
def test_a_flag_change_needs_a_stated_reason(
    vault: Vault, flag: list[str], unflag: list[str]
) -> None:
    rec = add_user(vault, "records")
    number = add_case(vault, flags=("juvenile",))
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match=r"needs a stated reason \(reason\)"):
            cases.set_case(vault, rec, number, flag=flag, unflag=unflag, reason=reason)
    assert jsonable(cases.show_case(vault, rec, number))["flags"] == ["juvenile"]
    cases.set_case(vault, rec, number, flag=flag, unflag=unflag, reason="victim is a minor")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, case_number=number)[-1]
    assert (last["action"], last["reason"]) == ("case-flag-change", "victim is a minor")


# --------------------------------------------------------------------------- an officer's
# reach to a case under internal-affairs investigation (issue 17, item 9)


def _investigated(vault: Vault, *members: str) -> tuple[str, str]:
    number = add_case(vault, members=members)  # assigned before the investigation began
    ia = add_user(vault, "internal-affairs")
    cases.set_case(vault, ia, number, flag=["ia-investigation"], reason="complaint 12")
    return number, ia


def test_officers_on_a_case_lose_reach_when_it_is_investigated(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    sup = add_user(vault, "supervisor")
    number, _ = _investigated(vault, officer, sup)
    with pytest.raises(PermissionDenied, match="lost reach to it"):
        cases.show_case(vault, officer, number)
    assert number not in {c.case for c in cases.list_cases(vault, officer)}
    assert sorted(cases.show_case(vault, sup, number).members) == sorted([officer, sup])


def test_internal_affairs_restores_an_officers_reach_on_record(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    rec = add_user(vault, "records")
    number, ia = _investigated(vault, officer, rec)
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match=r"needs a stated reason \(reason\)"):
            cases.restore_reach(vault, ia, number, officer, reason)
    for other in ("admin", rec):
        with pytest.raises(PermissionDenied, match="may not case:case:restore-reach"):
            cases.restore_reach(vault, other, number, officer, "let them back")
    out = cases.restore_reach(vault, ia, number, officer, "witness, not a subject")
    assert jsonable(out) == {
        "case": number,
        "members": sorted([officer, rec]),
        "reach_restored": [officer],
    }
    assert cases.show_case(vault, officer, number).reach_restored == {officer}
    with pytest.raises(CustodyConflict, match="restored already"):
        cases.restore_reach(vault, ia, number, officer, "again")
    with vault.uow(readonly=True) as uow:
        trail = list_events(uow.conn, case_number=number)
    [restored] = [e for e in trail if e["action"] == "case-reach-restored"]
    assert (restored["actor"], restored["reason"]) == (ia, "witness, not a subject")
    assert restored["details"] == {"user": officer, "assigned": False}
    refused = [e for e in trail if e["details"].get("attempted") == "case:case:restore-reach"]
    assert [e["actor"] for e in refused] == ["admin", rec, ia]
    # A new investigation withdraws the reach the last one restored.
    cases.set_case(vault, ia, number, unflag=["ia-investigation"], reason="closed")
    assert cases.show_case(vault, officer, number).case == number
    cases.set_case(vault, ia, number, flag=["ia-investigation"], reason="reopened")
    with pytest.raises(PermissionDenied, match="lost reach to it"):
        cases.show_case(vault, officer, number)
    with vault.uow(readonly=True) as uow:
        flagged = [e for e in list_events(uow.conn, case_number=number) if "flags" in e["details"]]
    assert flagged[-1]["details"]["reach_withdrawn"] == [officer]


def test_restoring_reach_assigns_an_officer_and_only_an_officer(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    sup = add_user(vault, "supervisor")
    number, ia = _investigated(vault)
    out = cases.restore_reach(vault, ia, number, officer, "needed for the review")
    assert out.members == {officer} and out.reach_restored == {officer}
    assert sorted(cases.show_case(vault, officer, number).members) == [officer]
    with pytest.raises(InvalidInput, match="only the reach of an assigned officer"):
        cases.restore_reach(vault, ia, number, sup, "x")
    with pytest.raises(CustodyConflict, match="not under internal-affairs investigation"):
        cases.restore_reach(vault, ia, add_case(vault), officer, "x")
    with pytest.raises(NotFound, match="no user"):
        cases.restore_reach(vault, ia, number, "nobody", "x")
    with pytest.raises(NotFound, match="no case"):
        cases.restore_reach(vault, ia, "C-404", officer, "x")


def test_an_assignment_records_its_stated_reason(vault: Vault) -> None:
    officer = add_user(vault, "officer")
    number = add_case(vault)
    cases.assign(vault, "admin", number, officer, reason="first on scene")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, case_number=number)[-1]
    assert (last["action"], last["reason"]) == ("case-assign", "first on scene")


def test_only_records_sets_a_legal_hold(vault: Vault) -> None:
    """On the folder store the flag is kept on record; a folder has no hold to put (S3:
    tests/services/test_blob_lock.py)."""
    rec = add_user(vault, "records")
    ia = add_user(vault, "internal-affairs")
    number = add_case(vault)
    with pytest.raises(PermissionDenied, match="only records may change 'legal-hold'"):
        cases.set_case(vault, ia, number, flag=["legal-hold"], reason="suit")
    changed = cases.set_case(vault, rec, number, flag=["legal-hold"], reason="suit")
    assert changed.flags == frozenset({"legal-hold"})
    assert cases.show_case(vault, ia, number).flags == frozenset({"legal-hold"})
