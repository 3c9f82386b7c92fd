"""What a recording shows (a minor, a victim, a home's interior...), for the policy pack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from custodes.core.authz import Permission
from custodes.core.custody import Action
from custodes.core.errors import InvalidInput
from custodes.core.jsontext import JSONObject, jsonable
from custodes.services.context import Context
from custodes.services.requests.facts import EVIDENCE_FLAGS
from custodes.services.requests.holds import HoldReview, review_holds_after_change
from custodes.services.usecase import acting


@dataclass(frozen=True)
class EvidenceFlags:
    evidence_id: str
    flags: list[str]
    holds_reviewed: list[HoldReview]
    """Holds of the case that no longer stand after the change."""
    warnings: list[str]


def set_evidence_flags(
    vault: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    flag: Sequence[str] = (),
    unflag: Sequence[str] = (),
    reason: str | None = None,
) -> EvidenceFlags:
    """Record what a recording shows; with no change asked, its flags as they are.

    A change needs a stated ``reason``, which is recorded with it. A change re-evaluates
    the case's held requests (see :func:`review_holds_after_change`).
    """
    bad = (set(flag) | set(unflag)) - set(EVIDENCE_FLAGS)
    if bad:
        raise InvalidInput(
            f"unknown evidence flag(s): {', '.join(sorted(bad))} "
            f"(flags: {', '.join(EVIDENCE_FLAGS)})",
            field="flags",
        )
    if (flag or unflag) and not (reason and reason.strip()):
        # What a recording shows decides what the policy pack releases of it, so the
        # change itself must say why, on the audit record (as a case's flags do).
        raise InvalidInput(
            "changing a recording's flags needs a stated reason ({reason})", field="reason"
        )
    with acting(vault, actor_name) as uc:
        ev, case = uc.evidence(evidence_id, Permission.EVIDENCE_FLAG)
        current = set(uc.uow.evidence_flags.of([ev.id]))
        new = (current | set(flag)) - set(unflag)
        uc.uow.evidence_flags.add(ev.id, new - current)
        uc.uow.evidence_flags.remove(ev.id, current - new)
        reviewed: list[HoldReview] = []
        warnings: list[str] = []
        if new != current:
            uc.record(
                Action.EVIDENCE_FLAGS,
                case=case,
                evidence=ev,
                reason=reason,
                details={"added": sorted(new - current), "removed": sorted(current - new)},
            )
            trigger: JSONObject = {
                "evidence_id": ev.id,
                "evidence_flags": [jsonable(current), jsonable(new)],  # sorted lists
            }
            reviewed, warnings = review_holds_after_change(uc, case, trigger)
        uc.commit()
    return EvidenceFlags(
        evidence_id=ev.id, flags=sorted(new), holds_reviewed=reviewed, warnings=warnings
    )
