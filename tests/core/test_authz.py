"""Table-driven authorization: every role x permission, then the case-scope rules."""

from __future__ import annotations

import pytest

from custodes.core.authz import (
    ALERT_AUDIENCES,
    ROLE_PERMISSIONS,
    Actor,
    AlertAudience,
    AlertKind,
    CaseFacts,
    CaseFlag,
    CaseStatus,
    EvidenceFacts,
    Permission,
    Role,
    alert_audiences,
    authorize,
    can_flag,
    check_reach_restorable,
    check_recording_officer,
    decide,
    decide_alert,
    decide_job,
    may_read_alert,
    parse_role,
)
from custodes.core.errors import CustodyConflict, InvalidInput, PermissionDenied, ReasonRequired

P = Permission
R = Role

# The written rule, as a table: which role holds which permission at all.
# "x" = granted. Case-scoped permissions are further limited by case reach (below).
TABLE = """
permission              officer supervisor records prosecutor internal-affairs admin command
vault:user:add          .       .          .       .          .                x     .
vault:user:list         .       .          .       .          .                x     .
vault:access:manage     .       .          .       .          .                x     .
vault:case:add          .       x          x       .          .                x     .
case:case:view          x       x          x       x          x                x     x
case:case:set-status    .       x          x       .          .                x     .
case:case:set-flags     .       .          x       .          x                x     .
case:case:assign        .       x          x       .          .                x     .
case:case:restore-reach .       .          .       .          x                .     .
case:evidence:ingest    x       x          x       .          .                x     .
case:evidence:list      x       x          x       x          x                x     .
case:evidence:view      x       x          x       x          x                x     .
case:evidence:export    .       x          x       x          x                .     .
vault:audit:read        .       x          x       .          x                x     .
case:audit:read         .       x          x       .          x                x     .
vault:audit:prove       .       .          x       .          x                x     .
vault:vault:verify      .       x          x       .          x                x     .
vault:alerts:read       .       .          x       .          x                x     x
vault:leak:trace        .       .          x       .          x                .     .
case:evidence:flag      .       x          x       .          .                .     .
case:evidence:redact    .       x          x       .          .                .     .
case:evidence:accept-redaction .  x          x       .          .                .     .
case:request:add        .       .          x       .          .                .     .
case:request:view       .       x          x       .          x                .     x
case:request:decide     .       .          x       .          .                .     .
case:request:release    .       .          x       .          .                .     .
vault:blob:locate       .       .          .       .          .                x     .
vault:policy:set        .       .          .       .          .                x     .
vault:vault:backup      .       .          .       .          .                x     .
vault:job:manage        .       .          .       .          .                x     .
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


# --------------------------------------------------------------------------- decisions of the
# product owner (issue 17, item 9)


def _ia_case(members: frozenset[str], restored: frozenset[str] = frozenset()) -> CaseFacts:
    flags = frozenset({CaseFlag.IA_INVESTIGATION})
    return CaseFacts("C-9", CaseStatus.OPEN, flags, members, restored)


@pytest.mark.parametrize("perm", [P.CASE_VIEW, P.EVIDENCE_LIST, P.EVIDENCE_VIEW, P.EVIDENCE_INGEST])
def test_an_officer_on_a_case_under_investigation_loses_reach(perm: Permission) -> None:
    officer = Actor("o", R.OFFICER)
    open_case = CaseFacts("C-9", CaseStatus.OPEN, frozenset(), frozenset({"o"}))
    assert decide(officer, perm, open_case, EvidenceFacts("EV-1", "o")).allowed
    withdrawn = decide(officer, perm, _ia_case(frozenset({"o"})), EvidenceFacts("EV-1", "o"))
    assert not withdrawn.allowed
    assert "until internal affairs restores it" in withdrawn.why


def test_internal_affairs_restores_an_officers_reach() -> None:
    officer = Actor("o", R.OFFICER)
    case = _ia_case(frozenset({"o", "o2"}), restored=frozenset({"o"}))
    assert decide(officer, P.EVIDENCE_VIEW, case).allowed
    assert not decide(Actor("o2", R.OFFICER), P.EVIDENCE_VIEW, case).allowed
    # Others assigned keep their reach; IA reaches it without being assigned.
    assert decide(Actor("s", R.SUPERVISOR), P.EVIDENCE_VIEW, _ia_case(frozenset({"s"}))).allowed
    assert decide(Actor("i", R.INTERNAL_AFFAIRS), P.EVIDENCE_VIEW, _ia_case(frozenset())).allowed


def test_only_internal_affairs_restores_reach() -> None:
    case = _ia_case(frozenset({"o", "a", "r"}))
    assert decide(Actor("i", R.INTERNAL_AFFAIRS), P.CASE_RESTORE_REACH, case).allowed
    for actor in [Actor("a", R.ADMIN), Actor("r", R.RECORDS), Actor("o", R.OFFICER)]:
        assert not decide(actor, P.CASE_RESTORE_REACH, case).allowed


def test_reach_is_restored_only_where_an_investigation_took_it() -> None:
    check_reach_restorable(_ia_case(frozenset({"o"})), "o", R.OFFICER)
    check_reach_restorable(_ia_case(frozenset()), "o", R.OFFICER)  # assigned with it
    with pytest.raises(CustodyConflict, match="not under internal-affairs investigation"):
        check_reach_restorable(OPEN, "o", R.OFFICER)
    with pytest.raises(InvalidInput, match="only the reach of an assigned officer"):
        check_reach_restorable(_ia_case(frozenset({"s"})), "s", R.SUPERVISOR)
    with pytest.raises(CustodyConflict, match="restored already"):
        check_reach_restorable(_ia_case(frozenset({"o"}), frozenset({"o"})), "o", R.OFFICER)


@pytest.mark.parametrize(
    ("actor", "case", "allowed"),
    [
        (Actor("r", R.RECORDS), OPEN, True),
        (Actor("s", R.SUPERVISOR), OPEN, True),
        (Actor("r", R.RECORDS), IA_CASE, False),  # not assigned
        (Actor("s", R.SUPERVISOR), IA_CASE, False),
        (Actor("r", R.RECORDS), _ia_case(frozenset({"r"})), True),  # assigned
        (Actor("s", R.SUPERVISOR), _ia_case(frozenset({"s"})), True),
        (Actor("i", R.INTERNAL_AFFAIRS), IA_CASE, True),
        (Actor("a", R.ADMIN), IA_CASE, True),  # admins read it, though they do not reach it
        (Actor("o", R.OFFICER), _ia_case(frozenset({"o"}), frozenset({"o"})), False),
        (Actor("c", R.COMMAND), OPEN, False),
    ],
)
def test_who_reads_the_record_of_a_case(actor: Actor, case: CaseFacts, allowed: bool) -> None:
    decision = decide(actor, P.CASE_AUDIT_READ, case)
    assert decision.allowed is allowed, decision.why
    assert not decide(actor, P.CASE_AUDIT_READ).allowed  # always about one case


def test_the_ia_record_refusal_says_why() -> None:
    why = decide(Actor("r", R.RECORDS), P.CASE_AUDIT_READ, IA_CASE).why
    assert "read only by internal affairs, admins and the people assigned" in why


def test_command_staff_role() -> None:
    assert parse_role("command") is R.COMMAND
    command = Actor("c", R.COMMAND)
    assert decide(command, P.CASE_VIEW, OPEN).allowed
    assert decide(command, P.REQUEST_VIEW, PENDING).allowed
    assert not decide(command, P.CASE_VIEW, IA_CASE).allowed
    for perm in [P.EVIDENCE_EXPORT, P.EVIDENCE_INGEST, P.EVIDENCE_REDACT, P.EVIDENCE_VIEW]:
        assert not decide(command, perm, OPEN).allowed
    with pytest.raises(InvalidInput, match="not someone who records video"):
        check_recording_officer(Actor("r", R.RECORDS), "c", R.COMMAND)


def test_every_alert_kind_has_an_audience() -> None:
    assert set(ALERT_AUDIENCES) == set(AlertKind)
    assert alert_audiences(AlertKind.DECISION_OVERRIDE) == (
        AlertAudience.INTERNAL_AFFAIRS,
        AlertAudience.COMMAND,
    )
    assert alert_audiences(AlertKind.HOLD_REVIEW) == (AlertAudience.RECORDS,)
    assert alert_audiences(AlertKind.SENSITIVE_ACCESS) == (AlertAudience.INTERNAL_AFFAIRS,)


@pytest.mark.parametrize(
    ("actor", "audience", "case", "allowed"),
    [
        (Actor("c", R.COMMAND), AlertAudience.COMMAND, OPEN, True),  # the override alert
        (Actor("c", R.COMMAND), AlertAudience.COMMAND, None, True),
        (Actor("c", R.COMMAND), AlertAudience.INTERNAL_AFFAIRS, OPEN, False),
        (Actor("c", R.COMMAND), AlertAudience.RECORDS, OPEN, False),
        (Actor("c", R.COMMAND), AlertAudience.COMMAND, IA_CASE, False),  # not reached
        (Actor("r", R.RECORDS), AlertAudience.COMMAND, OPEN, False),
        (Actor("r", R.RECORDS), "nobody-knows", OPEN, False),  # unknown: IA and admins only
        (Actor("i", R.INTERNAL_AFFAIRS), "nobody-knows", OPEN, True),
        (Actor("a", R.ADMIN), AlertAudience.COMMAND, IA_CASE, True),
    ],
)
def test_alert_audiences_are_decided_here(
    actor: Actor, audience: AlertAudience | str, case: CaseFacts | None, allowed: bool
) -> None:
    assert decide_alert(actor, audience, case).allowed is allowed
    assert may_read_alert(actor, audience, case) is allowed


def test_who_sees_and_cancels_a_job() -> None:
    case = CaseFacts("C-1", CaseStatus.OPEN, frozenset(), frozenset())
    ia_case = CaseFacts("C-2", CaseStatus.OPEN, frozenset({CaseFlag.IA_INVESTIGATION}), frozenset())
    own, admin = Actor("o", R.OFFICER), Actor("a", R.ADMIN)
    records = Actor("r", R.RECORDS)
    assert decide_job(own, "o", case, cancel=True).allowed  # one's own
    assert decide_job(admin, "s", ia_case, cancel=True).allowed
    assert decide_job(records, "s", case).allowed  # reads the case's record
    assert not decide_job(records, "s", case, cancel=True).allowed
    assert not decide_job(records, "s", ia_case).allowed  # not an IA case's record
    assert not decide_job(own, "s", case).allowed
    assert not decide_job(Actor("c", R.COMMAND), "s", None).allowed
