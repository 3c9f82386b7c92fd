"""Open requests looked at again when the policy pack in force changes (issue 22).

A request is *open* until it is answered for good: undecided, held, or decided to
release (in whole or in part) but not yet released. Denied requests and released
decisions are closed. When an admin puts a new pack in force, each open request is
re-evaluated under it, in the same transaction, and the result is put on record (a
``request-rereview`` event per request: the outcome before, the outcome the new pack
proposes, the deadline before and after). Nothing is decided here: deciding is a
person's act. A request *needs review* when

* the new pack proposes another outcome or another deadline than before (before: the
  recorded decision, else what the old pack proposed), or could not decide it; or
* its recorded decision releases something: a release is made only under the pack its
  decision was made under (:func:`check_release_pack`), so a records user decides it
  again under the pack in force.

Those are alerted to records, and shown as needing review by ``request list`` and
``request show`` until a new decision is recorded on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from custodes.core.authz import AlertKind
from custodes.core.custody import Action, decode_entry
from custodes.core.disclosure.engine import decide
from custodes.core.disclosure.pack import PolicyPack
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput
from custodes.core.records import RecordedDecision, Request
from custodes.services.evidence import raise_alert
from custodes.services.requests.facts import request_facts
from custodes.services.usecase import UseCase
from custodes.storage.uow import UnitOfWork

RELEASING = ("release", "partial")
REREVIEW_ACTIONS = frozenset({str(Action.REQUEST_REREVIEW)})


@dataclass(frozen=True)
class Rereview:
    """One open request re-evaluated under a new pack."""

    request_id: str
    case: str
    decision_id: str | None
    """The decision that stood (None: undecided)."""
    before: str | None
    """The outcome that stood: the decision's, else the old pack's proposal (None when
    the old pack could not propose one)."""
    after: str | None
    """What the new pack proposes (None: it could not decide; see ``error``)."""
    due_before: str
    due_after: str | None
    changed: bool
    needs_review: bool
    error: str | None


def open_requests(uow: UnitOfWork) -> list[tuple[Request, RecordedDecision | None]]:
    """The requests not yet answered for good, with the decision that stands on each."""
    out: list[tuple[Request, RecordedDecision | None]] = []
    for request in uow.requests.list():
        last = uow.decisions.latest(request.id)
        if last is None or last.outcome == "hold" or _unreleased(uow, last):
            out.append((request, last))
    return out


def _unreleased(uow: UnitOfWork, decision: RecordedDecision) -> bool:
    """A decision to release that no release was made from yet."""
    return decision.outcome in RELEASING and not any(
        r.decision_id == decision.id for r in uow.releases.of_request(decision.request_id)
    )


def _proposal(
    uc: UseCase, pack: PolicyPack | None, request: Request
) -> tuple[str | None, str | None, str | None]:
    """(outcome, due, error) of ``pack`` on the request's facts as they are now."""
    if pack is None:
        return None, None, "the pack is not available"
    try:
        proposal = decide(pack, request_facts(uc.ctx, uc.uow, request))
    except CustodesError as exc:
        return None, None, str(exc)
    return proposal.outcome, proposal.due.isoformat(), None


def rereview_open_requests(uc: UseCase, old: PolicyPack | None, new: PolicyPack) -> list[Rereview]:
    """Re-evaluate every open request under ``new`` (inside the use case that put it in
    force, recorded for its actor); each is put on record, those needing review alerted."""
    out: list[Rereview] = []
    for request, last in open_requests(uc.uow):
        after, due_after, error = _proposal(uc, new, request)
        if last is not None:
            before: str | None = last.outcome
        else:
            before = _proposal(uc, old, request)[0]
        due_before = request.due.isoformat()
        changed = error is not None or (before is not None and after != before)
        changed = changed or (due_after is not None and due_after != due_before)
        releasing = last is not None and last.outcome in RELEASING
        item = Rereview(
            request_id=request.id,
            case=request.case_number,
            decision_id=None if last is None else last.id,
            before=before,
            after=after,
            due_before=due_before,
            due_after=due_after,
            changed=changed,
            needs_review=changed or releasing,
            error=error,
        )
        seq = uc.record(
            Action.REQUEST_REREVIEW,
            object_type="request",
            object_id=request.id,
            case=request.case_number,
            details={
                "decision": item.decision_id,
                "before": before,
                "after": after,
                "due_before": due_before,
                "due_after": due_after,
                "changed": changed,
                "needs_review": item.needs_review,
                "error": error,
                "pack_sha256": new.sha256,
                "previous_pack_sha256": None if old is None else old.sha256,
            },
        )
        if item.needs_review:
            raise_alert(
                uc.ctx,
                uc.uow,
                seq,
                AlertKind.REQUEST_REREVIEW,
                uc.actor.username,
                request.case_number,
                None,
                f"request {request.id}: the policy pack in force changed to '{new.name}' "
                f"{new.version} ({_outcomes(item)}); a records user must decide it again",
            )
        out.append(item)
    return out


def _outcomes(item: Rereview) -> str:
    if item.error is not None:
        return "the new pack could not decide it"
    if item.before == item.after:
        return f"it still proposes '{item.after}'"
    return f"it proposes '{item.after}' where '{item.before or 'nothing'}' stood"


def rereviews(uow: UnitOfWork) -> dict[str, tuple[int, bool]]:
    """The latest re-review of each request: its event's seq and whether it needs review."""
    out: dict[str, tuple[int, bool]] = {}
    for raw in uow.audit.fact_entries(REREVIEW_ACTIONS):
        try:
            doc = decode_entry(raw)
            request_id = str(doc["object"]["id"])
            out[request_id] = (int(doc["seq"]), bool(doc["details"]["needs_review"]))
        except (InvalidInput, KeyError, TypeError, ValueError):
            continue  # a malformed entry is verify's to report
    return out


def needs_review(
    request_id: str,
    last: RecordedDecision | None,
    latest: Mapping[str, tuple[int, bool]],
) -> bool:
    """Whether a person must look at the request again: its latest re-review said so,
    and no decision was recorded on it since."""
    found = latest.get(request_id)
    if found is None or not found[1]:
        return False
    return last is None or last.audit_seq < found[0]


def check_release_pack(decision: RecordedDecision, in_force: PolicyPack) -> None:
    """Refuse (CustodyConflict) to release under a decision made under a pack no longer
    in force: the pack changed since, and a person must decide the request again."""
    if decision.pack_sha256 != in_force.sha256:
        raise CustodyConflict(
            f"the decision {decision.id} on {decision.request_id} was made under the policy "
            f"pack '{decision.pack_name}' ({decision.pack_sha256[:12]}…), which is no longer "
            f"in force ('{in_force.name}' {in_force.version}, {in_force.sha256[:12]}…)",
            advice="a records user decides the request again under the pack in force",
        )
