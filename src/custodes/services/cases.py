"""Cases: status, flags and who is assigned."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from custodes.core.authz import (
    CaseFlag,
    CaseStatus,
    Permission,
    can_flag,
    check_reach_restorable,
    decide,
    parse_flag,
    parse_status,
)
from custodes.core.custody import Action
from custodes.core.errors import (
    CustodesError,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    PermissionDenied,
)
from custodes.core.jsontext import JSONObject, JSONValue
from custodes.core.records import Case
from custodes.services.common import now_iso
from custodes.services.context import Context
from custodes.services.requests import HoldReview, review_holds_after_change
from custodes.services.state import vouch_case_list
from custodes.services.usecase import UseCase, acting


@dataclass(frozen=True)
class CaseView:
    """A case as its readers see it."""

    case: str
    title: str
    status: CaseStatus
    flags: frozenset[CaseFlag]
    members: frozenset[str]
    reach_restored: frozenset[str]


@dataclass(frozen=True)
class CaseChanged:
    """A case after a change of status or flags, and the holds looked at again."""

    case: str
    status: CaseStatus
    flags: frozenset[CaseFlag]
    changed: list[str]
    holds_reviewed: list[HoldReview]
    warnings: list[str]


@dataclass(frozen=True)
class CaseMembers:
    case: str
    members: frozenset[str]
    reach_restored: frozenset[str]


CASE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


def _names(items: Iterable[str]) -> list[JSONValue]:
    """Names as a sorted JSON list (for an event's details)."""
    return [name for name in sorted(items)]


def case_view(case: Case) -> CaseView:
    return CaseView(case.number, case.title, case.status, case.flags, case.members, case.restored)


def add_case(
    vault: Context,
    actor_name: str | None,
    number: str,
    title: str = "",
    status: str = CaseStatus.OPEN.value,
) -> CaseView:
    if not CASE_NUMBER.match(number):
        raise InvalidInput(
            f"invalid case number '{number}': use 1-64 of letters, digits, '.', '_', '/', '-'",
            field="number",
        )
    parsed = parse_status(status)
    with acting(vault, actor_name) as uc:
        uc.allow(Permission.CASE_ADD)
        if uc.uow.cases.find(number) is not None:
            raise CustodyConflict(f"case '{number}' already exists")
        case = uc.uow.cases.add(number, title, parsed, now_iso(vault))
        uc.record(Action.CASE_ADD, case=number, details={"title": title, "status": parsed.value})
        uc.commit()
    return case_view(case)


def set_case(
    vault: Context,
    actor_name: str | None,
    number: str,
    *,
    status: str | None = None,
    flag: Sequence[str] = (),
    unflag: Sequence[str] = (),
    reason: str | None = None,
) -> CaseChanged:
    """Change a case's status or flags; held release requests are then re-evaluated.

    A flag change needs a stated ``reason``, which is recorded with it.

    A hold the policy pack no longer proposes (the case was adjudicated, the IA
    investigation closed) is listed in ``holds_reviewed``, put on record and alerted to
    records, who decide again; nothing is decided automatically.
    """
    new_status = parse_status(status) if status is not None else None
    add = [parse_flag(f) for f in flag]
    remove = [parse_flag(f) for f in unflag]
    if set(add) & set(remove):
        raise InvalidInput("a flag cannot be both set and unset")
    if (add or remove) and not (reason and reason.strip()):
        # Every flag changes who may open the case's evidence (a stated reason, or IA
        # only), so the change itself must say why, on the audit record.
        raise InvalidInput(
            "changing a case's flags needs a stated reason ({reason})", field="reason"
        )
    with acting(vault, actor_name) as uc:
        case = uc.case(number)
        changes: list[tuple[Action, JSONObject]] = []
        if new_status is not None and new_status != case.status:
            uc.allow(Permission.CASE_SET_STATUS, case=case, reason=reason)
            changes.append(
                (Action.CASE_STATUS, {"from": case.status.value, "to": new_status.value})
            )
        flags = set(case.flags)
        if add or remove:
            uc.allow(Permission.CASE_SET_FLAGS, case=case, reason=reason)
            flags = _changed_flags(uc, case, add, remove, changes)
            if CaseFlag.IA_INVESTIGATION in flags - case.flags and case.restored:
                # A new investigation withdraws the reach an earlier one restored.
                changes[-1][1]["reach_withdrawn"] = _names(case.restored)
                uc.uow.cases.withdraw_restored_reach(case)
        releasing: list[str] = []
        if CaseFlag.LEGAL_HOLD in flags ^ case.flags:
            originals = _originals(uc, case)
            if CaseFlag.LEGAL_HOLD in flags:
                _set_legal_holds(vault, originals, True)
                changes[-1][1]["held"] = _names(originals)
            else:
                releasing = originals
                changes[-1][1]["released"] = _names(originals)
        uc.uow.cases.update(case, status=new_status, flags=flags)
        trigger: JSONObject = {}
        for action, details in changes:
            uc.record(action, case=case, reason=reason, details=details)
            if action is Action.CASE_STATUS:
                trigger["case_status"] = [details["from"], details["to"]]
            else:
                trigger["case_flags"] = [_names(f.value for f in case.flags), details["flags"]]
        reviewed: list[HoldReview] = []
        warnings: list[str] = []
        if trigger:
            reviewed, warnings = review_holds_after_change(uc, case, trigger)
        uc.commit()
    _set_legal_holds(vault, releasing, False)
    return CaseChanged(
        number,
        new_status or case.status,
        frozenset(flags),
        [a.value for a, _ in changes],
        reviewed,
        warnings,
    )


_WHO_FLAGS = {CaseFlag.IA_INVESTIGATION: "internal affairs", CaseFlag.LEGAL_HOLD: "records"}


def _originals(uc: UseCase, case: Case) -> list[str]:
    return sorted({ev.sha256 for ev in uc.uow.evidence.list(case)})


def _set_legal_holds(vault: Context, shas: Iterable[str], on: bool) -> None:
    """Put (``on``) or lift the legal hold on these originals in the blob store. A hold is
    put before the flag is committed, lifted only after, so that a failure leaves an
    original held, never one released early."""
    for sha in shas:
        vault.blobs.hold(sha, on)


def _changed_flags(
    uc: UseCase,
    case: Case,
    add: list[CaseFlag],
    remove: list[CaseFlag],
    changes: list[tuple[Action, JSONObject]],
) -> set[CaseFlag]:
    """The case's flags after ``add`` and ``remove``, each of which the actor must be
    allowed to change; a change is appended to ``changes``."""
    for f in add + remove:
        if not can_flag(uc.actor, f):
            uc.refuse(
                PermissionDenied(
                    f"permission denied: only {_WHO_FLAGS.get(f, 'some roles')} may change "
                    f"'{f.value}'"
                ),
                attempted=Permission.CASE_SET_FLAGS.value,
                case=case.number,
            )
    flags = set(case.flags)
    new_flags = (flags | set(add)) - set(remove)
    if new_flags != flags:
        changes.append(
            (
                Action.CASE_FLAGS,
                {
                    "added": _names(f.value for f in new_flags - flags),
                    "removed": _names(f.value for f in flags - new_flags),
                    "flags": _names(f.value for f in new_flags),
                },
            )
        )
    return new_flags


def assign(
    vault: Context, actor_name: str | None, number: str, username: str, reason: str | None = None
) -> CaseMembers:
    """Assign a user to a case (a stated ``reason``, if any, is recorded with it)."""
    with acting(vault, actor_name) as uc:
        case = uc.case(number, Permission.CASE_ASSIGN)
        user = uc.uow.users.get(username)
        if username in case.members:
            raise CustodyConflict(f"'{username}' is already assigned to case {number}")
        case = uc.uow.cases.add_member(case, user)
        uc.record(Action.CASE_ASSIGN, case=case, reason=reason, details={"user": username})
        uc.commit()
    return CaseMembers(number, case.members, case.restored)


def restore_reach(
    vault: Context, actor_name: str | None, number: str, username: str, reason: str | None
) -> CaseMembers:
    """Internal affairs gives an officer reach again to a case under investigation
    (assigning them to it if they are not), with a stated reason, on record.

    An officer assigned to a case flagged ia-investigation loses reach to it; this is the
    only way back. The restored reach lasts until the flag is raised again.
    """
    if not (reason and reason.strip()):
        raise InvalidInput(
            "restoring an officer's reach to a case under investigation needs a stated "
            "reason ({reason})",
            field="reason",
        )
    permission = Permission.CASE_RESTORE_REACH
    with acting(vault, actor_name) as uc:
        case = uc.case(number, permission, reason=reason)
        try:
            user = uc.uow.users.get(username)
            check_reach_restorable(case.facts, username, user.role)
        except CustodesError as exc:
            uc.refuse(exc, attempted=permission.value, case=number, reason=reason)
        assigned = username in case.members
        case = (
            uc.uow.cases.restore_reach(case, user)
            if assigned
            else uc.uow.cases.add_member(case, user, reach_restored=True)
        )
        uc.record(
            Action.CASE_REACH_RESTORED,
            case=case,
            reason=reason,
            details={"user": username, "assigned": not assigned},
        )
        uc.commit()
    return CaseMembers(number, case.members, case.restored)


def list_cases(vault: Context, actor_name: str | None) -> list[CaseView]:
    """The cases the actor may see; others are left out, not refused. The rows are held
    against the signed log first (an edited one is refused, on record)."""
    with acting(vault, actor_name) as uc:
        rows = uc.uow.cases.list()
        try:
            vouch_case_list(uc.uow, rows)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.CASE_VIEW.value)
        return [
            case_view(case)
            for case in rows
            if decide(uc.actor, Permission.CASE_VIEW, case.facts).allowed
        ]


def show_case(vault: Context, actor_name: str | None, number: str) -> CaseView:
    with acting(vault, actor_name) as uc:
        return case_view(uc.case(number, Permission.CASE_VIEW))


__all__ = [
    "add_case",
    "assign",
    "list_cases",
    "restore_reach",
    "set_case",
    "show_case",
]
