"""Table-driven authorization: every role x permission, then the case-scope rules."""

from __future__ import annotations

import pytest

from custodes.core.authz import (
    ROLE_PERMISSIONS,
    Actor,
    CaseFacts,
    CaseFlag,
    CaseStatus,
    EvidenceFacts,
    Permission,
    Role,
    authorize,
    can_flag,
    check_recording_officer,
    decide,
    may_read_alert,
    parse_role,
)
from custodes.core.errors import InvalidInput, PermissionDenied, ReasonRequired

P = Permission
R = Role

# The written rule, as a table: which role holds which permission at all.
# "x" = granted. Case-scoped permissions are further limited by case reach (below).
TABLE = """
permission            officer supervisor records prosecutor internal-affairs admin
vault:user:add        .       .          .       .          .                x
vault:user:list       .       .          .       .          .                x
vault:case:add        .       x          x       .          .                x
case:case:view        x       x          x       x          x                x
case:case:set-status  .       x          x       .          .                x
case:case:set-flags   .       .          x       .          x                x
case:case:assign      .       x          x       .          .                x
case:evidence:ingest  x       x          x       .          .                x
case:evidence:list    x       x          x       x          x                x
case:evidence:view    x       x          x       x          x                x
case:evidence:export  .       x          x       x          x                .
vault:audit:read      .       x          x       .          x                x
vault:audit:prove     .       .          x       .          x                x
vault:vault:verify    .       x          x       .          x                x
vault:alerts:read     .       .          x       .          x                x
vault:leak:trace      .       .          x       .          x                .
case:evidence:flag    .       x          x       .          .                .
case:evidence:redact  .       x          x       .          .                .
case:request:add      .       .          x       .          .                .
case:request:view     .       x          x       .          x                .
case:request:decide   .       .          x       .          .                .
case:request:release  .       .          x       .          .                .
"""


def _table() -> list[tuple[Role, Permission, bool]]:
    lines = [ln.split() for ln in TABLE.strip().splitlines()]
    roles = [Role(r) for r in lines[0][1:]]
    out = []
    for row in lines[1:]:
        perm = Permission(row[0])
        for role, mark in zip(roles, row[1:], strict=True):
            out.append((role, perm, mark == "x"))
    return out


def test_table_covers_every_role_and_permission() -> None:
    rows = _table()
    assert {(r, p) for r, p, _ in rows} == {(r, p) for r in Role for p in Permission}


# An open case every role reaches by assignment, so only the role grant matters here.
def _reachable_case(actor: str) -> CaseFacts:
    return CaseFacts("C-1", CaseStatus.OPEN, frozenset(), frozenset({actor}))


@pytest.mark.parametrize(("role", "perm", "allowed"), _table())
def test_role_grants(role: Role, perm: Permission, allowed: bool) -> None:
    actor = Actor("u", role)
    decision = decide(actor, perm, _reachable_case("u"), EvidenceFacts("EV-1", None))
    assert decision.allowed is allowed, decision.why
    assert (perm in ROLE_PERMISSIONS[role]) is allowed


def test_deny_by_default_for_case_scoped_without_case() -> None:
    assert not decide(Actor("s", R.SUPERVISOR), P.EVIDENCE_VIEW).allowed


OPEN = CaseFacts("C-2", CaseStatus.OPEN, frozenset(), frozenset())
PENDING = CaseFacts("C-3", CaseStatus.PENDING_PROSECUTION, frozenset(), frozenset())
IA_CASE = CaseFacts("C-4", CaseStatus.OPEN, frozenset({CaseFlag.IA_INVESTIGATION}), frozenset())
SENSITIVE = CaseFacts("C-5", CaseStatus.OPEN, frozenset({CaseFlag.SENSITIVE}), frozenset())
JUVENILE = CaseFacts("C-6", CaseStatus.OPEN, frozenset({CaseFlag.JUVENILE}), frozenset())


@pytest.mark.parametrize(
    ("actor", "case", "evidence_officer", "allowed"),
    [
        (Actor("o", R.OFFICER), OPEN, None, False),  # not assigned, not theirs
        (Actor("o", R.OFFICER), OPEN, "o", True),  # they recorded it
        (Actor("o", R.OFFICER), OPEN, "someone", False),
        (Actor("p", R.PROSECUTOR), OPEN, None, False),  # case not before a prosecutor
        (Actor("p", R.PROSECUTOR), PENDING, None, True),
        (Actor("s", R.SUPERVISOR), OPEN, None, True),
        (Actor("s", R.SUPERVISOR), IA_CASE, None, False),  # IA cases are IA's alone
        (Actor("a", R.ADMIN), IA_CASE, None, False),
        (Actor("o", R.OFFICER), IA_CASE, "o", False),  # even the officer's own footage
        (Actor("i", R.INTERNAL_AFFAIRS), IA_CASE, None, True),
    ],
)
def test_case_reach(actor: Actor, case: CaseFacts, evidence_officer: str | None, allowed: bool):
    ev = EvidenceFacts("EV-1", evidence_officer)
    assert decide(actor, P.EVIDENCE_VIEW, case, ev).allowed is allowed


def test_members_of_an_ia_case_reach_it() -> None:
    case = CaseFacts(
        "C-7", CaseStatus.OPEN, frozenset({CaseFlag.IA_INVESTIGATION}), frozenset({"s"})
    )
    assert decide(Actor("s", R.SUPERVISOR), P.EVIDENCE_VIEW, case).allowed


@pytest.mark.parametrize("case", [SENSITIVE, JUVENILE])
def test_flagged_case_needs_reason_and_alerts(case: CaseFacts) -> None:
    actor = Actor("s", R.SUPERVISOR)
    no_reason = decide(actor, P.EVIDENCE_VIEW, case)
    assert not no_reason.allowed and no_reason.reason_required
    blank = decide(actor, P.EVIDENCE_VIEW, case, reason="   ")
    assert not blank.allowed
    with pytest.raises(ReasonRequired):
        authorize(actor, P.EVIDENCE_VIEW, case)
    yes = authorize(actor, P.EVIDENCE_VIEW, case, reason="review")
    assert yes.allowed and yes.alert
    # Listing metadata is not opening: no reason needed, no alert.
    listing = decide(actor, P.EVIDENCE_LIST, case)
    assert listing.allowed and not listing.alert


def test_authorize_raises_permission_denied() -> None:
    with pytest.raises(PermissionDenied, match="may not"):
        authorize(Actor("o", R.OFFICER), P.USER_ADD)


def test_ia_flag_only_by_internal_affairs_or_admin() -> None:
    assert can_flag(Actor("i", R.INTERNAL_AFFAIRS), CaseFlag.IA_INVESTIGATION)
    assert can_flag(Actor("a", R.ADMIN), CaseFlag.IA_INVESTIGATION)
    assert not can_flag(Actor("r", R.RECORDS), CaseFlag.IA_INVESTIGATION)
    assert can_flag(Actor("r", R.RECORDS), CaseFlag.SENSITIVE)


@pytest.mark.parametrize(
    ("actor", "audience", "case", "allowed"),
    [
        (Actor("i", R.INTERNAL_AFFAIRS), "command", OPEN, True),  # IA and admins: every alert
        (Actor("a", R.ADMIN), "records", IA_CASE, True),
        (Actor("r", R.RECORDS), "records", OPEN, True),  # records: theirs...
        (Actor("r", R.RECORDS), "records", None, True),
        (Actor("r", R.RECORDS), "internal-affairs", OPEN, False),  # ...not IA's
        (Actor("r", R.RECORDS), "records", IA_CASE, False),  # ...on cases they reach
        (Actor("s", R.SUPERVISOR), "records", OPEN, False),  # no vault:alerts:read
    ],
)
def test_who_reads_which_alert(
    actor: Actor, audience: str, case: CaseFacts | None, allowed: bool
) -> None:
    assert may_read_alert(actor, audience, case) is allowed


def test_parse_role_rejects_unknown() -> None:
    with pytest.raises(InvalidInput, match="unknown role 'chief'"):
        parse_role("chief")


@pytest.mark.parametrize(
    ("case", "allowed"),
    [
        (OPEN, False),  # not assigned: being the recording officer does not open the case
        (CaseFacts("C-8", CaseStatus.OPEN, frozenset(), frozenset({"o"})), True),
        (IA_CASE, False),
    ],
)
def test_officer_ingests_only_into_assigned_cases(case: CaseFacts, allowed: bool) -> None:
    officer = Actor("o", R.OFFICER)
    decision = decide(officer, P.EVIDENCE_INGEST, case, EvidenceFacts("(new)", "o"))
    assert decision.allowed is allowed, decision.why
    # Their own recording, once in the vault, is still theirs to open.
    assert decide(officer, P.EVIDENCE_VIEW, OPEN, EvidenceFacts("EV-1", "o")).allowed


@pytest.mark.parametrize("role", list(Role))
def test_only_people_who_wear_a_camera_record_evidence(role: Role) -> None:
    records = Actor("r", R.RECORDS)
    if role in (R.OFFICER, R.SUPERVISOR):
        check_recording_officer(records, "u", role)
    else:
        with pytest.raises(InvalidInput, match="not someone who records video"):
            check_recording_officer(records, "u", role)


def test_an_officer_names_only_themselves_as_the_recording_officer() -> None:
    officer = Actor("o", R.OFFICER)
    check_recording_officer(officer, "o", R.OFFICER)
    for other, role in [("o2", R.OFFICER), ("sgt", R.SUPERVISOR)]:
        with pytest.raises(PermissionDenied, match="only footage they recorded, not"):
            check_recording_officer(officer, other, role)
    check_recording_officer(Actor("s", R.SUPERVISOR), "o2", R.OFFICER)
