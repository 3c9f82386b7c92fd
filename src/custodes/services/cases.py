"""Cases: status, flags and who is assigned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from custodes.core.authz import (
    CaseFacts,
    CaseFlag,
    CaseStatus,
    Permission,
    can_flag,
    check_reach_restorable,
    decide,
    parse_flag,
    parse_role,
    parse_status,
)
from custodes.core.custody import Action
from custodes.core.errors import (
    CustodesError,
    CustodyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from custodes.services import audit
from custodes.services.common import (
    case_facts,
    case_row,
    check,
    event,
    load_actor,
    now_iso,
    refuse,
    split_flags,
    user_id,
)
from custodes.services.context import Context
from custodes.services.requests import review_holds_after_change
from custodes.storage import tables as t

CASE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


def case_dict(facts: CaseFacts, title: str) -> dict[str, Any]:
    return {
        "case": facts.number,
        "title": title,
        "status": facts.status.value,
        "flags": sorted(f.value for f in facts.flags),
        "members": sorted(facts.members),
        "reach_restored": sorted(facts.restored),
    }


def add_case(
    vault: Context,
    actor_name: str | None,
    number: str,
    title: str = "",
    status: str = CaseStatus.OPEN.value,
) -> dict[str, Any]:
    if not CASE_NUMBER.match(number):
        raise InvalidInput(
            f"invalid case number '{number}': use 1-64 of letters, digits, '.', '_', '/', '-'"
        )
    parsed = parse_status(status)
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.CASE_ADD)
        if uow.conn.execute(select(t.cases.c.id).where(t.cases.c.number == number)).first():
            raise CustodyConflict(f"case '{number}' already exists")
        uow.conn.execute(
            insert(t.cases).values(
                number=number,
                title=title,
                status=parsed.value,
                flags="",
                created_at=now_iso(vault),
            )
        )
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.CASE_ADD,
                object_type="case",
                object_id=number,
                case_number=number,
                details={"title": title, "status": parsed.value},
            ),
        )
        audit.commit(uow, vault)
    return {"case": number, "title": title, "status": parsed.value, "flags": []}


def set_case(
    vault: Context,
    actor_name: str | None,
    number: str,
    *,
    status: str | None = None,
    flag: Sequence[str] = (),
    unflag: Sequence[str] = (),
    reason: str | None = None,
) -> dict[str, Any]:
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
        raise InvalidInput("changing a case's flags needs a stated reason (--reason)")
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        row = case_row(uow, number)
        facts = case_facts(uow, row)
        changes: list[tuple[Action, dict[str, Any]]] = []
        if new_status is not None and new_status != facts.status:
            check(vault, uow, actor, Permission.CASE_SET_STATUS, case=facts, reason=reason)
            changes.append(
                (Action.CASE_STATUS, {"from": facts.status.value, "to": new_status.value})
            )
        flags = set(facts.flags)
        if add or remove:
            check(vault, uow, actor, Permission.CASE_SET_FLAGS, case=facts, reason=reason)
            for f in add + remove:
                if not can_flag(actor, f):
                    refuse(
                        vault,
                        uow,
                        actor.username,
                        PermissionDenied(
                            f"permission denied: only internal affairs may change '{f.value}'"
                        ),
                        attempted=Permission.CASE_SET_FLAGS.value,
                        case_number=number,
                    )
            new_flags = (flags | set(add)) - set(remove)
            if new_flags != flags:
                details: dict[str, Any] = {
                    "added": sorted(f.value for f in new_flags - flags),
                    "removed": sorted(f.value for f in flags - new_flags),
                    "flags": sorted(f.value for f in new_flags),
                }
                if CaseFlag.IA_INVESTIGATION in new_flags - flags and facts.restored:
                    # A new investigation withdraws the reach an earlier one restored.
                    details["reach_withdrawn"] = sorted(facts.restored)
                    uow.conn.execute(
                        update(t.case_members)
                        .where(t.case_members.c.case_id == row.id)
                        .values(reach_restored=False)
                    )
                changes.append((Action.CASE_FLAGS, details))
                flags = new_flags
        values: dict[str, Any] = {"flags": ",".join(sorted(f.value for f in flags))}
        if new_status is not None:
            values["status"] = new_status.value
        uow.conn.execute(update(t.cases).where(t.cases.c.id == row.id).values(**values))
        trigger: dict[str, Any] = {}
        for action, details in changes:
            audit.record(
                uow,
                event(
                    vault,
                    actor.username,
                    action,
                    object_type="case",
                    object_id=number,
                    case_number=number,
                    reason=reason,
                    details=details,
                ),
            )
            if action is Action.CASE_STATUS:
                trigger["case_status"] = [details["from"], details["to"]]
            else:
                trigger["case_flags"] = [
                    sorted(f.value for f in facts.flags),
                    details["flags"],
                ]
        reviewed: list[dict[str, Any]] = []
        warnings: list[str] = []
        if trigger:
            reviewed, warnings = review_holds_after_change(
                vault, uow, actor.username, row.id, number, trigger
            )
        audit.commit(uow, vault)
    return {
        "case": number,
        "status": (new_status or facts.status).value,
        "flags": sorted(f.value for f in flags),
        "changed": [a.value for a, _ in changes],
        "holds_reviewed": reviewed,
        "warnings": warnings,
    }


def assign(
    vault: Context, actor_name: str | None, number: str, username: str, reason: str | None = None
) -> dict[str, Any]:
    """Assign a user to a case (a stated ``reason``, if any, is recorded with it)."""
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        row = case_row(uow, number)
        facts = case_facts(uow, row)
        check(vault, uow, actor, Permission.CASE_ASSIGN, case=facts)
        uid = user_id(uow, username)
        if username in facts.members:
            raise CustodyConflict(f"'{username}' is already assigned to case {number}")
        uow.conn.execute(insert(t.case_members).values(case_id=row.id, user_id=uid))
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.CASE_ASSIGN,
                object_type="case",
                object_id=number,
                case_number=number,
                reason=reason,
                details={"user": username},
            ),
        )
        audit.commit(uow, vault)
    return {"case": number, "members": sorted({*facts.members, username})}


def restore_reach(
    vault: Context, actor_name: str | None, number: str, username: str, reason: str | None
) -> dict[str, Any]:
    """Internal affairs gives an officer reach again to a case under investigation
    (assigning them to it if they are not), with a stated reason, on record.

    An officer assigned to a case flagged ia-investigation loses reach to it; this is the
    only way back. The restored reach lasts until the flag is raised again.
    """
    if not (reason and reason.strip()):
        raise InvalidInput(
            "restoring an officer's reach to a case under investigation needs a stated "
            "reason (--reason)"
        )
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        refusal: dict[str, Any] = {
            "attempted": Permission.CASE_RESTORE_REACH.value,
            "case_number": number,
            "reason": reason,
        }
        try:
            row = case_row(uow, number)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, **refusal)
        facts = case_facts(uow, row)
        check(vault, uow, actor, Permission.CASE_RESTORE_REACH, case=facts, reason=reason)
        try:
            user = uow.conn.execute(
                select(t.users.c.id, t.users.c.role).where(t.users.c.username == username)
            ).first()
            if user is None:
                raise NotFound(f"no user '{username}'")
            check_reach_restorable(facts, username, parse_role(user.role))
        except CustodesError as exc:
            refuse(vault, uow, actor.username, exc, **refusal)
        assigned = username in facts.members
        if assigned:
            uow.conn.execute(
                update(t.case_members)
                .where((t.case_members.c.case_id == row.id) & (t.case_members.c.user_id == user.id))
                .values(reach_restored=True)
            )
        else:
            uow.conn.execute(
                insert(t.case_members).values(case_id=row.id, user_id=user.id, reach_restored=True)
            )
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.CASE_REACH_RESTORED,
                object_type="case",
                object_id=number,
                case_number=number,
                reason=reason,
                details={"user": username, "assigned": not assigned},
            ),
        )
        audit.commit(uow, vault)
    return {
        "case": number,
        "members": sorted({*facts.members, username}),
        "reach_restored": sorted({*facts.restored, username}),
    }


def list_cases(vault: Context, actor_name: str | None) -> list[dict[str, Any]]:
    """The cases the actor may see; others are left out, not refused."""
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        out = []
        for row in uow.conn.execute(select(t.cases).order_by(t.cases.c.number)).all():
            facts = case_facts(uow, row)
            if decide(actor, Permission.CASE_VIEW, facts).allowed:
                out.append(case_dict(facts, row.title))
    return out


def show_case(vault: Context, actor_name: str | None, number: str) -> dict[str, Any]:
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        row = case_row(uow, number)
        facts = case_facts(uow, row)
        check(vault, uow, actor, Permission.CASE_VIEW, case=facts)
    return case_dict(facts, row.title)


__all__ = [
    "add_case",
    "assign",
    "list_cases",
    "restore_reach",
    "set_case",
    "show_case",
    "split_flags",
]
