"""What the policy pack reads of a request, and the checks on what a request asks for.

Shared by every step of a request's life: intake, decisions, the review of holds and
releases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from custodes.core.disclosure import vocabulary as disclosure_vocabulary
from custodes.core.disclosure.facts import Facts
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import InvalidInput
from custodes.core.records import Case, Request, TimeSpan
from custodes.services.context import Context
from custodes.services.packs import pack_in_force
from custodes.services.state import vouch_case, vouch_evidence_flags
from custodes.storage.uow import UnitOfWork

KINDS = ("press", "public", "subject", "prosecutor", "defense", "court")
OUTCOMES = ("release", "partial", "hold", "deny")
EVIDENCE_FLAGS = tuple(sorted(disclosure_vocabulary.EVIDENCE_FLAGS))
FINDINGS = (
    "interference-found",
    "prosecutor-statement",
    "redaction-insufficient",
    "sealed-by-court",
    "extension-invoked",
)

#: Slack past a recording's end (seconds): durations are shown rounded to 0.01 s, and
#: a range ending at the shown figure is accepted.
RANGE_SLACK_S = 0.005

#: How far back a request may be dated (received_at): ten years. Response deadlines
#: run in days; an older date is a typo, not a request still to answer.
RECEIVED_AT_MAX_AGE = timedelta(days=3653)


def load_policy(vault: Context, uow: UnitOfWork) -> PolicyPack:
    """The policy pack in force: the one the latest signed ``policy-set`` event names,
    from the bytes the vault keeps, checked against its hash (``services.packs``)."""
    return pack_in_force(vault, uow)


def today(vault: Context) -> date:
    return vault.clock.now().date()


def check_ranges(ranges: Iterable[Sequence[float]], field: str) -> list[TimeSpan]:
    """Portions of a recording in seconds: finite, from 0 on, each ending after it starts."""
    out: list[TimeSpan] = []
    for a, b in ranges:
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)):
            raise InvalidInput(
                f"range {a:g}-{b:g}: start and end must be finite numbers", field=field
            )
        if not (0 <= a < b):
            raise InvalidInput(
                f"range {a:g}-{b:g}: start must be >= 0 and before the end", field=field
            )
        out.append((a, b))
    return out


def durations(uow: UnitOfWork, ids: Sequence[str]) -> dict[str, float]:
    """Each recording's duration in seconds, by evidence id (unknown ids left out)."""
    out: dict[str, float] = {}
    for evidence_id in ids:
        found = uow.evidence.find(evidence_id)
        if found is not None:
            out[found.id] = float(found.media.duration_s)
    return out


def check_ranges_within(
    ranges: Sequence[Sequence[float]], lengths: Mapping[str, float], field: str
) -> None:
    """Refuse a range that ends past the end of the recordings it applies to (of the
    longest, when it applies to several: a shorter one simply yields less)."""
    if not lengths:
        return
    ev, longest = max(lengths.items(), key=lambda kv: (kv[1], kv[0]))
    for a, b in ranges:
        if b > longest + RANGE_SLACK_S:
            where = (
                f"{ev} ({longest:.2f} s)"
                if len(lengths) == 1
                else f"every recording asked for (the longest, {ev}, is {longest:.2f} s)"
            )
            raise InvalidInput(f"{{{field}}} {a:g}-{b:g} is past the end of {where}", field=field)


def case_evidence(uow: UnitOfWork, case: Case) -> list[str]:
    """The ids of every recording of ``case``, sorted."""
    return sorted(ev.id for ev in uow.evidence.list(case))


def asked_evidence(uow: UnitOfWork, request: Request) -> list[str]:
    """The recordings a request asks for: those it names, else all of its case's."""
    if request.evidence:
        return list(request.evidence)
    return case_evidence(uow, uow.cases.by_id(request.case_id))


def check_findings(findings: Iterable[str]) -> frozenset[str]:
    found = frozenset(findings)
    unknown = found - set(FINDINGS)
    if unknown:
        raise InvalidInput(
            f"unknown finding(s): {', '.join(sorted(unknown))} (findings: {', '.join(FINDINGS)})",
            field="findings",
        )
    return found


def request_facts(
    vault: Context, uow: UnitOfWork, request: Request, findings: Iterable[str] = ()
) -> Facts:
    """The facts the pack reads of ``request`` as they are now (with the findings a
    person made)."""
    case = uow.cases.by_id(request.case_id)
    vouch_case(uow, case)
    found = check_findings(findings)
    ids = asked_evidence(uow, request)
    vouch_evidence_flags(uow, ids)
    return Facts(
        case_status=case.status,
        requester_kind=request.kind,
        received_at=request.received_at,
        today=today(vault),
        case_flags=case.flags,
        evidence_flags=uow.evidence_flags.of(ids),
        misconduct_complaint=request.misconduct_complaint,
        allegation_on=request.allegation_on,
        incident_on=request.incident_on,
        critical_incident=request.critical_incident,
        interference_found="interference-found" in found,
        prosecutor_statement="prosecutor-statement" in found,
        redaction_insufficient="redaction-insufficient" in found,
        sealed_by_court="sealed-by-court" in found,
        extension_invoked="extension-invoked" in found,
        evidence_ids=tuple(ids),
        requested_ranges=request.ranges,
    )
