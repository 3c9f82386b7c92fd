"""Release requests decided by a written policy pack.

A request records who asked, for what, and when it was received; its deadline comes
from the pack. ``propose`` applies the pack (core/disclosure/engine.py: pure, deterministic)
to the facts as they are now and writes nothing. A records user then accepts the
proposal or overrides it with a written reason; either way a decision record is kept
with the facts, the pack's hash, the rules that fired and the outcome, chained into the
audit log. An override is flagged and alerts internal affairs and command staff.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select

from custodes.core.authz import AlertKind, EvidenceFacts, Permission
from custodes.core.authz import decide as authz_decide
from custodes.core.custody import Action
from custodes.core.disclosure import vocabulary as disclosure_vocabulary
from custodes.core.disclosure.engine import Decision, decide
from custodes.core.disclosure.facts import Facts
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput, NotFound
from custodes.services import audit
from custodes.services.common import (
    case_facts,
    case_row,
    check,
    event,
    evidence_row,
    load_actor,
    new_id,
    now_iso,
    refuse,
)
from custodes.services.context import Context
from custodes.storage import tables as t
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


def load_policy(vault: Context) -> PolicyPack:
    """The vault's policy pack: a built-in name or a file path (CUSTODES_POLICY_PACK)."""
    return vault.policy_pack()


def _today(vault: Context) -> date:
    return vault.clock.now().date()


def _parse_date(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(
            f"{{{field}}} is not a date (YYYY-MM-DD): '{text}'", field=field
        ) from None


def _parse_ranges(texts: Sequence[str]) -> list[list[float]]:
    out = []
    for text in texts:
        try:
            a, b = (float(x) for x in text.split("-", 1))
        except ValueError:
            raise InvalidInput(f"a range is START-END in seconds, e.g. 30-90: '{text}'") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise InvalidInput(f"range {text}: start and end must be finite numbers")
        if not (0 <= a < b):
            raise InvalidInput(f"range {text}: start must be >= 0 and before the end")
        out.append([a, b])
    return out


#: Slack past a recording's end (seconds): durations are shown rounded to 0.01 s, and
#: a range ending at the shown figure is accepted.
RANGE_SLACK_S = 0.005

#: How far back a request may be dated (--received-at): ten years. Response deadlines
#: run in days; an older date is a typo, not a request still to answer.
RECEIVED_AT_MAX_AGE = timedelta(days=3653)


def durations(uow: UnitOfWork, ids: Sequence[str]) -> dict[str, float]:
    """Each recording's duration in seconds, by evidence id."""
    if not ids:
        return {}
    rows = uow.conn.execute(
        select(t.evidence.c.id, t.evidence.c.media).where(t.evidence.c.id.in_(list(ids)))
    ).all()
    return {r.id: float(json.loads(r.media)["duration_s"]) for r in rows}


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


def _evidence_flags(uow: UnitOfWork, ids: Sequence[str]) -> frozenset[str]:
    if not ids:
        return frozenset()
    rows = uow.conn.execute(
        select(t.evidence_flags.c.flag).where(t.evidence_flags.c.evidence_id.in_(list(ids)))
    ).scalars()
    return frozenset(rows)


def _case_evidence(uow: UnitOfWork, case_id: int) -> list[str]:
    return list(
        uow.conn.execute(
            select(t.evidence.c.id).where(t.evidence.c.case_id == case_id).order_by(t.evidence.c.id)
        ).scalars()
    )


def _facts(vault: Context, uow: UnitOfWork, req: Any, findings: Sequence[str] = ()) -> Facts:
    crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == req.case_id)).one()
    cfacts = case_facts(uow, crow)
    ids = json.loads(req.evidence) or _case_evidence(uow, req.case_id)
    found = set(findings)
    unknown = found - set(FINDINGS)
    if unknown:
        raise InvalidInput(
            f"unknown finding(s): {', '.join(sorted(unknown))} (findings: {', '.join(FINDINGS)})"
        )
    return Facts(
        case_status=cfacts.status,
        requester_kind=req.kind,
        received_at=date.fromisoformat(req.received_at),
        today=_today(vault),
        case_flags=cfacts.flags,
        evidence_flags=_evidence_flags(uow, ids),
        misconduct_complaint=bool(req.misconduct_complaint),
        allegation_on=_parse_date(req.allegation_on, "allegation date"),
        incident_on=_parse_date(req.incident_on, "incident date"),
        critical_incident=bool(req.critical_incident),
        interference_found="interference-found" in found,
        prosecutor_statement="prosecutor-statement" in found,
        redaction_insufficient="redaction-insufficient" in found,
        sealed_by_court="sealed-by-court" in found,
        extension_invoked="extension-invoked" in found,
        evidence_ids=tuple(ids),
        requested_ranges=tuple((float(a), float(b)) for a, b in json.loads(req.ranges)),
    )


def _request_row(uow: UnitOfWork, request_id: str) -> Any:
    row = uow.conn.execute(select(t.requests).where(t.requests.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"no request '{request_id}'")
    return row


def add_request(
    vault: Context,
    actor_name: str | None,
    case_number: str,
    *,
    requester: str,
    kind: str,
    evidence: Sequence[str] = (),
    received_at: str | None = None,
    misconduct_complaint: bool = False,
    ranges: Sequence[str] = (),
    allegation_on: str | None = None,
    incident_on: str | None = None,
    critical_incident: bool = False,
) -> dict[str, Any]:
    pack = load_policy(vault)
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        attempt: dict[str, Any] = {
            "attempted": Permission.REQUEST_ADD.value,
            "case_number": case_number,
        }
        try:
            crow = case_row(uow, case_number)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        check(vault, uow, actor, Permission.REQUEST_ADD, case=case_facts(uow, crow))
        try:
            requester = " ".join(requester.split())
            if not requester or len(requester) > 200 or not requester.isprintable():
                raise InvalidInput(
                    "{requester} must be printable text of 1-200 characters", field="requester"
                )
            if kind not in KINDS:
                raise InvalidInput(f"unknown requester kind '{kind}' (kinds: {', '.join(KINDS)})")
            for ev in evidence:
                # A refusal over named evidence is put on that evidence's record too.
                attempt["evidence_id"] = ev
                row = evidence_row(uow, ev)
                if row.case_number != case_number:
                    other = case_facts(uow, case_row(uow, row.case_number))
                    # Name the other case only to someone who may see it.
                    where = (
                        f"case {row.case_number}"
                        if authz_decide(actor, Permission.CASE_VIEW, other).allowed
                        else "another case"
                    )
                    raise InvalidInput(f"evidence {ev} belongs to {where}, not {case_number}")
            attempt.pop("evidence_id", None)
            received = _parse_date(received_at, "received_at") or _today(vault)
            if received > _today(vault):
                raise InvalidInput(
                    f"{{received_at}} {received} is in the future", field="received_at"
                )
            earliest = _today(vault) - RECEIVED_AT_MAX_AGE
            if received < earliest:
                raise InvalidInput(
                    f"{{received_at}} {received} is more than ten years ago "
                    f"(the earliest accepted is {earliest})",
                    field="received_at",
                )
            parsed_ranges = _parse_ranges(ranges)
            asked = sorted(set(evidence)) or _case_evidence(uow, crow.id)
            check_ranges_within(parsed_ranges, durations(uow, asked), "ranges")
            _parse_date(allegation_on, "allegation_on")
            _parse_date(incident_on, "incident_on")
        except CustodesError as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        request_id = new_id("RQ")
        values = {
            "id": request_id,
            "case_id": crow.id,
            "requester": requester,
            "kind": kind,
            "received_at": received.isoformat(),
            "evidence": json.dumps(sorted(set(evidence))),
            "ranges": json.dumps(parsed_ranges),
            "misconduct_complaint": misconduct_complaint,
            "allegation_on": allegation_on,
            "incident_on": incident_on,
            "critical_incident": critical_incident,
            "due": "",
            "actor": actor.username,
            "created_at": now_iso(vault),
        }

        try:
            proposal = decide(pack, _facts(vault, uow, SimpleNamespace(**values)))
        except CustodesError as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        values["due"] = proposal.due.isoformat()
        uow.conn.execute(insert(t.requests).values(**values))
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.REQUEST_ADD,
                object_type="request",
                object_id=request_id,
                case_number=case_number,
                details={
                    "requester": requester,
                    "kind": kind,
                    "received_at": values["received_at"],
                    "evidence": sorted(set(evidence)),
                    "ranges": parsed_ranges,
                    "misconduct_complaint": misconduct_complaint,
                    "due": values["due"],
                    "pack": pack.name,
                    "pack_sha256": pack.sha256,
                },
            ),
        )
        audit.commit(uow, vault)
    return {
        "request_id": request_id,
        "due": values["due"],
        "case": case_number,
        "requester": requester,
        "kind": kind,
        "received_at": values["received_at"],
    }


def _latest_decision(uow: UnitOfWork, request_id: str) -> Any:
    return uow.conn.execute(
        select(t.decisions)
        .where(t.decisions.c.request_id == request_id)
        .order_by(t.decisions.c.decided_at.desc())
        .limit(1)
    ).first()


def _request_dict(uow: UnitOfWork, row: Any) -> dict[str, Any]:
    crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
    last = _latest_decision(uow, row.id)
    return {
        "request_id": row.id,
        "case": crow.number,
        "requester": row.requester,
        "kind": row.kind,
        "received_at": row.received_at,
        "due": row.due,
        "evidence": json.loads(row.evidence),
        "ranges": json.loads(row.ranges),
        "misconduct_complaint": bool(row.misconduct_complaint),
        "status": "open" if last is None else f"decided:{last.outcome}",
        "decision": None
        if last is None
        else {
            "decision_id": last.id,
            "outcome": last.outcome,
            "decider": last.decider,
            "decided_at": last.decided_at,
            "override": last.override_reason is not None,
            "review_at": json.loads(last.decision).get("review_at"),
        },
    }


def list_requests(
    vault: Context,
    actor_name: str | None,
    *,
    open_only: bool = False,
    due_before: str | None = None,
) -> list[dict[str, Any]]:
    limit = _parse_date(due_before, "due_before")
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        out = []
        for row in uow.conn.execute(select(t.requests).order_by(t.requests.c.due)).all():
            crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
            if not authz_decide(actor, Permission.REQUEST_VIEW, case_facts(uow, crow)).allowed:
                continue
            item = _request_dict(uow, row)
            if open_only and item["decision"] is not None and item["decision"]["outcome"] != "hold":
                continue
            if limit is not None and date.fromisoformat(item["due"]) >= limit:
                continue
            out.append(item)
    return out


def show_request(vault: Context, actor_name: str | None, request_id: str) -> dict[str, Any]:
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        row = _request_row(uow, request_id)
        crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
        check(vault, uow, actor, Permission.REQUEST_VIEW, case=case_facts(uow, crow))
        out = _request_dict(uow, row)
        out["decisions"] = [
            {
                "decision_id": d.id,
                "outcome": d.outcome,
                "proposed": d.proposed_outcome,
                "decider": d.decider,
                "decided_at": d.decided_at,
                "override_reason": d.override_reason,
                "pack_sha256": d.pack_sha256,
            }
            for d in uow.conn.execute(
                select(t.decisions)
                .where(t.decisions.c.request_id == request_id)
                .order_by(t.decisions.c.decided_at)
            )
        ]
    return out


def _decision_json(d: Decision) -> dict[str, Any]:
    return d.to_dict()


def decide_request(
    vault: Context,
    actor_name: str | None,
    request_id: str,
    *,
    accept: bool = False,
    override: str | None = None,
    reason: str | None = None,
    findings: Sequence[str] = (),
) -> dict[str, Any]:
    """Propose (default), accept (``accept``) or override (``override`` + ``reason``)."""
    if accept and override:
        raise InvalidInput(
            "use either {accept} or {override}, not both", fields=("accept", "override")
        )
    if override is not None:
        if override not in OUTCOMES:
            raise InvalidInput(f"unknown outcome '{override}' (outcomes: {', '.join(OUTCOMES)})")
        if not (reason and reason.strip()):
            raise InvalidInput("an override needs a written reason ({reason})", field="reason")
    pack = load_policy(vault)
    recording = accept or override is not None
    with vault.uow(readonly=not recording) as uow:
        actor = load_actor(vault, uow, actor_name)
        try:
            row = _request_row(uow, request_id)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, attempted=Permission.REQUEST_VIEW.value)
        crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
        cf = case_facts(uow, crow)
        check(vault, uow, actor, Permission.REQUEST_VIEW, case=cf)
        facts = _facts(vault, uow, row, findings)
        try:
            proposal = decide(pack, facts)
        except CustodesError as exc:
            refuse(
                vault,
                uow,
                actor.username,
                exc,
                attempted="case:request:decide",
                case_number=crow.number,
            )
        out = _decision_json(proposal)
        out["request_id"] = request_id
        out["facts"] = facts.to_dict()
        if not recording:
            out["recorded"] = False
            return out
        check(vault, uow, actor, Permission.REQUEST_DECIDE, case=cf, reason=reason)
        if override is not None:
            # The record is built for the custodian's outcome from the same facts: a
            # release covers only what was asked for, never more (the engine's rule 5).
            recorded = decide(pack, facts, override=override)
            out = {**_decision_json(recorded), "request_id": request_id, "facts": out["facts"]}
        outcome = out["outcome"]
        decision_id = new_id("DC")
        seq = audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.REQUEST_DECIDE,
                object_type="decision",
                object_id=decision_id,
                case_number=crow.number,
                reason=reason,
                details={
                    "request": request_id,
                    "outcome": outcome,
                    "proposed": proposal.outcome,
                    "override": override is not None,
                    "rules": [r["id"] for r in out["rules"]],
                    "pack": pack.name,
                    "pack_sha256": pack.sha256,
                },
            ),
        )
        uow.conn.execute(
            insert(t.decisions).values(
                id=decision_id,
                request_id=request_id,
                decided_at=now_iso(vault),
                decider=actor.username,
                outcome=outcome,
                proposed_outcome=proposal.outcome,
                override_reason=reason if override is not None else None,
                pack_name=pack.name,
                pack_sha256=pack.sha256,
                facts=json.dumps(out["facts"], sort_keys=True),
                decision=json.dumps(out, sort_keys=True, default=str),
                audit_seq=seq,
            )
        )
        if override is not None:
            from custodes.services.evidence import raise_alert

            raise_alert(
                vault,
                uow,
                seq,
                AlertKind.DECISION_OVERRIDE,
                actor.username,
                crow.number,
                None,
                reason,
            )
        audit.commit(uow, vault)
    out.update(
        {
            "recorded": True,
            "decision_id": decision_id,
            "outcome": outcome,
            "proposed_outcome": proposal.outcome,
            "override": override is not None,
            "override_reason": reason if override is not None else None,
        }
    )
    return out


def _held_requests(uow: UnitOfWork, case_id: int | None = None) -> list[tuple[Any, Any]]:
    """Requests whose latest recorded decision is a hold, with that decision."""
    query = select(t.requests).order_by(t.requests.c.due, t.requests.c.id)
    if case_id is not None:
        query = query.where(t.requests.c.case_id == case_id)
    held = []
    for row in uow.conn.execute(query).all():
        last = _latest_decision(uow, row.id)
        if last is not None and last.outcome == "hold":
            held.append((row, last))
    return held


def _record_hold_review(
    vault: Context,
    uow: UnitOfWork,
    actor: str,
    case_number: str,
    row: Any,
    last: Any,
    proposal: Decision,
    trigger: dict[str, Any],
    *,
    alert: bool,
) -> dict[str, Any]:
    """Put one re-evaluated hold on record (HOLD_REVIEW); with ``alert``, tell records.

    Nothing is decided here: the hold stays the recorded decision until a records user
    accepts or overrides the new proposal (deciding is a person's act).
    """
    changed = proposal.outcome != last.outcome
    item = {
        "request_id": row.id,
        "case": case_number,
        "held_since": last.decided_at,
        "review_at": json.loads(last.decision).get("review_at"),
        "proposed": proposal.outcome,
        "rules": [r.id for r in proposal.rules],
        "changed": changed,
        "trigger": trigger,
    }
    seq = audit.record(
        uow,
        event(
            vault,
            actor,
            Action.HOLD_REVIEW,
            object_type="request",
            object_id=row.id,
            case_number=case_number,
            details=item,
        ),
    )
    if alert and changed:
        from custodes.services.evidence import raise_alert

        raise_alert(
            vault,
            uow,
            seq,
            AlertKind.HOLD_REVIEW,
            actor,
            case_number,
            None,
            f"request {row.id}: the hold no longer stands (the policy pack now proposes "
            f"'{proposal.outcome}'); a records user must decide it again",
        )
    return item


def review_holds_after_change(
    vault: Context,
    uow: UnitOfWork,
    actor: str,
    case_id: int,
    case_number: str,
    trigger: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Re-run the pack on the held requests of a case whose facts just changed.

    Called inside the transaction that made the change (after it), so the facts read are
    the new ones. Each hold the pack no longer proposes is put on record (HOLD_REVIEW) and
    records is alerted; a hold that still stands leaves no trace. The change itself never
    fails because of the pack: if it cannot be loaded or is not in force, nothing is
    recorded for the holds and a warning is returned instead. Returns ``(reviewed,
    warnings)``.
    """
    held = _held_requests(uow, case_id)
    if not held:
        return [], []
    try:
        pack = load_policy(vault)
        proposals = [(row, last, decide(pack, _facts(vault, uow, row))) for row, last in held]
    except CustodesError as exc:
        return [], [
            f"{len(held)} held request(s) of case {case_number} were not re-evaluated: {exc}; "
            "review the due requests once the policy pack is current"
        ]
    reviewed = [
        _record_hold_review(
            vault, uow, actor, case_number, row, last, proposal, trigger, alert=True
        )
        for row, last, proposal in proposals
        if proposal.outcome != last.outcome
    ]
    return reviewed, []


def review_due(vault: Context, actor_name: str | None) -> list[dict[str, Any]]:
    """Re-evaluate every held request whose review date has come or whose facts changed."""
    pack = load_policy(vault)
    today = _today(vault)
    reviewed: list[dict[str, Any]] = []
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        for row, last in _held_requests(uow):
            crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
            if not authz_decide(actor, Permission.REQUEST_DECIDE, case_facts(uow, crow)).allowed:
                continue
            review_at = json.loads(last.decision).get("review_at")
            proposal = decide(pack, _facts(vault, uow, row))
            changed = proposal.outcome != last.outcome
            due_for_review = review_at is not None and date.fromisoformat(review_at) <= today
            if not (changed or due_for_review):
                continue
            reviewed.append(
                _record_hold_review(
                    vault,
                    uow,
                    actor.username,
                    crow.number,
                    row,
                    last,
                    proposal,
                    {"review_due": today.isoformat()},
                    alert=False,
                )
            )
        audit.commit(uow, vault)
    return reviewed


def set_evidence_flags(
    vault: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    flag: Sequence[str] = (),
    unflag: Sequence[str] = (),
    reason: str | None = None,
) -> dict[str, Any]:
    """Record what a recording shows (a minor, a victim, a home's interior...).

    A change needs a stated ``reason``, which is recorded with it. A change re-evaluates
    the case's held requests (see :func:`review_holds_after_change`).
    """
    bad = (set(flag) | set(unflag)) - set(EVIDENCE_FLAGS)
    if bad:
        raise InvalidInput(
            f"unknown evidence flag(s): {', '.join(sorted(bad))} "
            f"(flags: {', '.join(EVIDENCE_FLAGS)})"
        )
    if (flag or unflag) and not (reason and reason.strip()):
        # What a recording shows decides what the policy pack releases of it, so the
        # change itself must say why, on the audit record (as a case's flags do).
        raise InvalidInput(
            "changing a recording's flags needs a stated reason ({reason})", field="reason"
        )
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        try:
            row = evidence_row(uow, evidence_id)
        except NotFound as exc:
            refuse(
                vault,
                uow,
                actor.username,
                exc,
                attempted=Permission.EVIDENCE_FLAG.value,
                evidence_id=evidence_id,
            )
        cf = case_facts(uow, case_row(uow, row.case_number))
        check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_FLAG,
            case=cf,
            evidence=EvidenceFacts(row.id, row.officer),
        )
        current = set(_evidence_flags(uow, [evidence_id]))
        new = (current | set(flag)) - set(unflag)
        for f in sorted(new - current):
            uow.conn.execute(insert(t.evidence_flags).values(evidence_id=evidence_id, flag=f))
        from sqlalchemy import delete

        for f in sorted(current - new):
            uow.conn.execute(
                delete(t.evidence_flags).where(
                    (t.evidence_flags.c.evidence_id == evidence_id) & (t.evidence_flags.c.flag == f)
                )
            )
        if new != current:
            audit.record(
                uow,
                event(
                    vault,
                    actor.username,
                    Action.EVIDENCE_FLAGS,
                    object_type="evidence",
                    object_id=evidence_id,
                    case_number=row.case_number,
                    evidence_id=evidence_id,
                    reason=reason,
                    details={"added": sorted(new - current), "removed": sorted(current - new)},
                ),
            )
            reviewed, warnings = review_holds_after_change(
                vault,
                uow,
                actor.username,
                row.case_id,
                row.case_number,
                {"evidence_id": evidence_id, "evidence_flags": [sorted(current), sorted(new)]},
            )
        else:
            reviewed, warnings = [], []
        audit.commit(uow, vault)
    return {
        "evidence_id": evidence_id,
        "flags": sorted(new),
        "holds_reviewed": reviewed,
        "warnings": warnings,
    }


def write_letter(
    vault: Context, actor_name: str | None, request_id: str, out_dir: Path
) -> dict[str, Any]:
    """The letter for the request's latest recorded decision (HTML and PDF)."""
    from custodes.reports.letter import letter_doc
    from custodes.reports.letter import write_letter as render_letter

    if not out_dir.is_dir():
        raise InvalidInput(f"no such folder: {out_dir}")
    pack = load_policy(vault)
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        row = _request_row(uow, request_id)
        crow = uow.conn.execute(select(t.cases).where(t.cases.c.id == row.case_id)).one()
        check(vault, uow, actor, Permission.REQUEST_VIEW, case=case_facts(uow, crow))
        last = _latest_decision(uow, request_id)
        if last is None:
            raise CustodyConflict(
                f"request {request_id} has no recorded decision yet",
                advice="decide it first: accept the proposed outcome, or override it with a reason",
            )
        request = _request_dict(uow, row)
    record = {
        "decision_id": last.id,
        "decided_at": last.decided_at,
        "decider": last.decider,
        "outcome": last.outcome,
        "proposed_outcome": last.proposed_outcome,
        "override_reason": last.override_reason,
        "pack_name": last.pack_name,
        "pack_sha256": last.pack_sha256,
        "audit_seq": last.audit_seq,
    }
    notices = (
        [{"citation": n.citation, "text": n.text} for n in pack.notices if last.outcome in n.on]
        if pack.sha256 == last.pack_sha256
        else []
    )
    doc = letter_doc(request, json.loads(last.decision), record, notices, vault.agency)
    html_path = out_dir / f"letter-{request_id}-{last.id}.html"
    pdf_path = out_dir / f"letter-{request_id}-{last.id}.pdf"
    render_letter(doc, html_path, pdf_path)
    return {
        "request_id": request_id,
        "decision_id": last.id,
        "outcome": last.outcome,
        "html": str(html_path.resolve()),
        "pdf": str(pdf_path.resolve()),
    }
