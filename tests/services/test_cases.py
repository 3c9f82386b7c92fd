from __future__ import annotations

import pytest

from custodes.bootstrap import Vault
from custodes.core.errors import CustodyConflict, InvalidInput, NotFound, PermissionDenied
from custodes.services import cases
from custodes.services.audit import list_events
from tests.factories import add_case, add_user


def test_case_lifecycle_is_audited(vault: Vault) -> None:
    rec = add_user(vault, "records")
    out = cases.add_case(vault, rec, "2026-0001", "Traffic stop", "pending-prosecution")
    assert out["status"] == "pending-prosecution"
    changed = cases.set_case(
        vault,
        rec,
        "2026-0001",
        status="adjudicated",
        flag=["sensitive", "juvenile"],
        reason="court ruled",
    )
    assert changed == {
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
    listed = {c["case"] for c in cases.list_cases(vault, officer)}
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
    assert cases.show_case(vault, rec, number)["flags"] == ["juvenile"]
    cases.set_case(vault, rec, number, flag=flag, unflag=unflag, reason="victim is a minor")
    with vault.uow(readonly=True) as uow:
        last = list_events(uow.conn, case_number=number)[-1]
    assert (last["action"], last["reason"]) == ("case-flag-change", "victim is a minor")
