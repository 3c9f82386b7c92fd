"""Deciding a request by the policy pack, and the letter that says why.

``decide_request`` applies the pack (core/disclosure/engine.py: pure, deterministic) to
the facts as they are now and, unless asked to record, writes nothing. A records user
then accepts the proposal or overrides it with a written reason; either way a decision
record is kept with the facts, the pack's hash, the rules that fired and the outcome,
chained into the audit log. An override is flagged and alerted to internal affairs and
command staff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import cast

from custodes.core.authz import AlertKind, Permission
from custodes.core.custody import Action
from custodes.core.disclosure.engine import Decision, decide
from custodes.core.disclosure.facts import Facts
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput
from custodes.core.jsontext import JSONObject, jsonable
from custodes.core.ledger import document_digest
from custodes.core.records import Case, Request
from custodes.services.common import check_output_folder, made_output_folder, new_id, now_iso
from custodes.services.context import Context
from custodes.services.evidence import alert_note, raise_alert
from custodes.services.packs import pack_by_sha256
from custodes.services.requests.facts import OUTCOMES, load_policy, request_facts
from custodes.services.requests.intake import request_summary
from custodes.services.usecase import UseCase, acting


@dataclass(frozen=True)
class Proposal:
    """What the policy pack decides on a request's facts as they are now."""

    outcome: str
    rules: list[JSONObject]
    """The rules that fired: id, citation, priority, outcome, decisive, and what each read."""
    pack: JSONObject
    pack_sha256: str
    decided_on: date
    due: date
    due_basis: dict[str, str]
    review_at: date | None
    hold_until: dict[str, str] | None
    release: JSONObject | None
    """What a release or partial release covers: evidence, ranges, redactions."""
    redactions: list[JSONObject]
    reasons: list[str]
    grounds: list[JSONObject]
    """The reasons with the law each rests on: kind, text, citation, rule."""
    disclaimer: str
    request_id: str
    facts: JSONObject
    recorded: bool


@dataclass(frozen=True)
class Decided(Proposal):
    """A decision recorded: the pack's proposal accepted, or overridden with a reason."""

    decision_id: str
    proposed_outcome: str
    override: bool
    override_reason: str | None


@dataclass(frozen=True)
class Letter:
    request_id: str
    decision_id: str
    outcome: str
    html: str
    pdf: str


def _document(decision: Decision, request_id: str, facts: Facts) -> JSONObject:
    """The decision as it is recorded (and read back by releases and letters)."""
    return cast(
        JSONObject,
        jsonable({**decision.to_dict(), "request_id": request_id, "facts": facts.to_dict()}),
    )


def _proposal(decision: Decision, document: JSONObject, *, recorded: bool) -> Proposal:
    return Proposal(
        outcome=decision.outcome,
        rules=cast(list[JSONObject], document["rules"]),
        pack=cast(JSONObject, document["pack"]),
        pack_sha256=decision.pack_sha256,
        decided_on=decision.decided_on,
        due=decision.due,
        due_basis=dict(decision.due_basis),
        review_at=decision.review_at,
        hold_until=decision.hold_until,
        release=cast("JSONObject | None", document["release"]),
        redactions=cast(list[JSONObject], document["redactions"]),
        reasons=list(decision.reasons),
        grounds=cast(list[JSONObject], document["grounds"]),
        disclaimer=decision.disclaimer,
        request_id=cast(str, document["request_id"]),
        facts=cast(JSONObject, document["facts"]),
        recorded=recorded,
    )


def _check_decide_input(accept: bool, override: str | None, reason: str | None) -> None:
    if accept and override:
        raise InvalidInput(
            "use either {accept} or {override}, not both", fields=("accept", "override")
        )
    if override is not None:
        if override not in OUTCOMES:
            raise InvalidInput(
                f"unknown outcome '{override}' (outcomes: {', '.join(OUTCOMES)})",
                field="override",
            )
        if not (reason and reason.strip()):
            raise InvalidInput("an override needs a written reason ({reason})", field="reason")


def decide_request(
    vault: Context,
    actor_name: str | None,
    request_id: str,
    *,
    accept: bool = False,
    override: str | None = None,
    reason: str | None = None,
    findings: Sequence[str] = (),
) -> Proposal | Decided:
    """Propose (default), accept (``accept``) or override (``override`` + ``reason``)."""
    _check_decide_input(accept, override, reason)
    recording = accept or override is not None
    with acting(vault, actor_name, readonly=not recording) as uc:
        found, case = uc.request(request_id, attempted=Permission.REQUEST_VIEW)
        uc.allow(Permission.REQUEST_VIEW, case=case)
        try:
            pack = load_policy(vault, uc.uow)
            facts = request_facts(vault, uc.uow, found, findings)
            proposal = decide(pack, facts)
        except CustodesError as exc:
            uc.refuse(exc, attempted="case:request:decide", case=case.number)
        if not recording:
            return _proposal(proposal, _document(proposal, request_id, facts), recorded=False)
        uc.allow(Permission.REQUEST_DECIDE, case=case, reason=reason)
        # An override's record is built for the custodian's outcome from the same facts:
        # a release covers only what was asked for, never more (the engine's rule 5).
        recorded = decide(pack, facts, override=override) if override is not None else proposal
        document = _document(recorded, request_id, facts)
        decision_id = _record_decision(
            uc,
            pack,
            found,
            case,
            recorded,
            document,
            proposed=proposal.outcome,
            override_reason=reason if override is not None else None,
            reason=reason,
        )
        uc.commit()
    return Decided(
        **vars(_proposal(recorded, document, recorded=True)),
        decision_id=decision_id,
        proposed_outcome=proposal.outcome,
        override=override is not None,
        override_reason=reason if override is not None else None,
    )


def _record_decision(
    uc: UseCase,
    pack: PolicyPack,
    request: Request,
    case: Case,
    recorded: Decision,
    document: JSONObject,
    *,
    proposed: str,
    override_reason: str | None,
    reason: str | None,
) -> str:
    """Put a decision on record (and alert an override); its id."""
    decision_id = new_id("DC")
    seq = uc.record(
        Action.REQUEST_DECIDE,
        object_type="decision",
        object_id=decision_id,
        case=case,
        reason=reason,
        details={
            "request": request.id,
            "outcome": recorded.outcome,
            "proposed": proposed,
            "override": override_reason is not None,
            "rules": [r.id for r in recorded.rules],
            "pack": pack.name,
            "pack_sha256": pack.sha256,
            "document_sha256": document_digest(document),
            "facts_sha256": document_digest(document["facts"]),
            **alert_note(AlertKind.DECISION_OVERRIDE, reason, alert=override_reason is not None),
        },
    )
    uc.uow.decisions.add(
        decision_id,
        request.id,
        decided_at=now_iso(uc.ctx),
        decider=uc.actor.username,
        outcome=recorded.outcome,
        proposed_outcome=proposed,
        override_reason=override_reason,
        pack_name=pack.name,
        pack_sha256=pack.sha256,
        facts=cast(JSONObject, document["facts"]),
        document=document,
        audit_seq=seq,
    )
    if override_reason is not None:
        raise_alert(
            uc.ctx,
            uc.uow,
            seq,
            AlertKind.DECISION_OVERRIDE,
            uc.actor.username,
            case.number,
            None,
            reason,
        )
    return decision_id


def write_letter(
    vault: Context,
    actor_name: str | None,
    request_id: str,
    out_dir: Path,
    *,
    redactions: list[str] | None = None,
) -> Letter:
    """The letter for the request's latest recorded decision (HTML and PDF) in ``out_dir``.

    ``redactions``: what a release applied, in words, stated in place of what the
    decision requires (a release's letter says only what was done)."""
    from custodes.reports.letter import letter_doc
    from custodes.reports.letter import write_letter as render_letter

    check_output_folder(out_dir, "out")
    with acting(vault, actor_name, readonly=True) as uc:
        request = uc.uow.requests.get(request_id)
        uc.allow(Permission.REQUEST_VIEW, case=uc.uow.cases.by_id(request.case_id))
        last = uc.uow.decisions.latest(request_id)
        if last is None:
            raise CustodyConflict(
                f"request {request_id} has no recorded decision yet",
                advice="decide it first: accept the proposed outcome, or override it with a reason",
            )
        summary = request_summary(uc.uow, request)
        # The notices of the pack the decision was made under, whichever is in force now.
        pack = pack_by_sha256(vault, uc.uow, last.pack_sha256)
    record = {
        "decision_id": last.id,
        "decided_at": last.decided_at,
        "decider": last.decider,
        "outcome": last.outcome,
        "proposed_outcome": last.proposed_outcome,
        # Whether the custodian overrode the pack, not why: the reason stays internal.
        "override": last.override_reason is not None,
        "pack_name": last.pack_name,
        "pack_sha256": last.pack_sha256,
        "audit_seq": last.audit_seq,
    }
    notices = (
        [{"citation": n.citation, "text": n.text} for n in pack.notices if last.outcome in n.on]
        if pack is not None
        else []
    )
    doc = letter_doc(jsonable(summary), last.document, record, notices, vault.agency)
    if redactions is not None:
        doc["redactions"] = redactions
    html_path = out_dir / f"letter-{request_id}-{last.id}.html"
    pdf_path = out_dir / f"letter-{request_id}-{last.id}.pdf"
    with made_output_folder(out_dir, "out"):
        render_letter(doc, html_path, pdf_path)
    return Letter(
        request_id=request_id,
        decision_id=last.id,
        outcome=last.outcome,
        html=str(html_path.resolve()),
        pdf=str(pdf_path.resolve()),
    )
