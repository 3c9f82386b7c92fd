"""Release requests decided by a written policy pack.

A request records who asked, for what, and when it was received; its deadline comes
from the pack (:mod:`.intake`). The pack proposes an outcome, which a records user
accepts or overrides with a written reason, on record (:mod:`.decisions`). Holds are
looked at again when the facts change or their review date comes (:mod:`.holds`); what
a recording shows is recorded as its flags (:mod:`.flags`); a decision that releases
something is carried out as a package of traceable copies (:mod:`.release`).
"""

from __future__ import annotations

from custodes.services.requests.decisions import (
    Decided,
    Letter,
    Proposal,
    decide_request,
    write_letter,
)
from custodes.services.requests.facts import (
    EVIDENCE_FLAGS,
    FINDINGS,
    KINDS,
    OUTCOMES,
    RANGE_SLACK_S,
    RECEIVED_AT_MAX_AGE,
    check_ranges,
    check_ranges_within,
    durations,
    load_policy,
)
from custodes.services.requests.flags import EvidenceFlags, set_evidence_flags
from custodes.services.requests.holds import HoldReview, review_due, review_holds_after_change
from custodes.services.requests.intake import (
    AddRequest,
    DecisionEntry,
    DecisionSummary,
    RequestAdded,
    RequestDetail,
    RequestSummary,
    add_request,
    list_requests,
    show_request,
)
from custodes.services.requests.release import Released, release_request

__all__ = [
    "EVIDENCE_FLAGS",
    "FINDINGS",
    "KINDS",
    "OUTCOMES",
    "RANGE_SLACK_S",
    "RECEIVED_AT_MAX_AGE",
    "AddRequest",
    "Decided",
    "DecisionEntry",
    "DecisionSummary",
    "EvidenceFlags",
    "HoldReview",
    "Letter",
    "Proposal",
    "Released",
    "RequestAdded",
    "RequestDetail",
    "RequestSummary",
    "add_request",
    "check_ranges",
    "check_ranges_within",
    "decide_request",
    "durations",
    "list_requests",
    "load_policy",
    "release_request",
    "review_due",
    "review_holds_after_change",
    "set_evidence_flags",
    "show_request",
    "write_letter",
]
