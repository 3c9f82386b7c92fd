"""custodes.core.disclosure.engine: decisions of the shipped packs.

The pack tables are the acceptance test of the issue: for the Colorado and the example
department pack, every rule fires on the facts it names (and exactly the rules listed
fire), starting from a baseline on which no rule fires and the default decides.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure import Decision, PolicyPack, decide, working_days_after
from custodes.core.errors import InvalidInput
from tests.core.disclosure.helpers import (
    ALLEGED,
    CALIFORNIA,
    COLORADO,
    EXAMPLE,
    MONDAY,
    TODAY,
    facts,
    fired,
)

# --------------------------------------------------------------------------- Colorado

DELAY = {
    "misconduct_complaint": True,
    "interference_found": True,
    "prosecutor_statement": True,
    "allegation_on": ALLEGED,
}

COLORADO_TABLE: list[tuple[str, dict[str, Any], set[str], str]] = [
    ("cjra-court-order", {"sealed_by_court": True}, {"cjra-court-order"}, "deny"),
    (
        "justice-partner-access",
        {"requester_kind": "prosecutor"},
        {"justice-partner-access"},
        "release",
    ),
    (
        "bwc-investigation-delay",
        DELAY,
        {"bwc-investigation-delay", "bwc-misconduct-release"},
        "hold",
    ),
    (
        "bwc-misconduct-release",
        {"misconduct_complaint": True},
        {"bwc-misconduct-release"},
        "release",
    ),
    ("cjra-informant", {"evidence_flags": frozenset({"informant"})}, {"cjra-informant"}, "deny"),
    (
        "cjra-pending-prosecution",
        {"case_status": CaseStatus.PENDING_PROSECUTION},
        {"cjra-pending-prosecution"},
        "hold",
    ),
    (
        "cjra-open-investigation",
        {"case_status": CaseStatus.OPEN},
        {"cjra-open-investigation"},
        "hold",
    ),
    (
        "cjra-ia-investigation",
        {"case_flags": frozenset({CaseFlag.IA_INVESTIGATION})},
        {"cjra-ia-investigation"},
        "hold",
    ),
    ("privacy-minors", {"evidence_flags": frozenset({"minor"})}, {"privacy-minors"}, "partial"),
    (
        "privacy-victims",
        {"evidence_flags": frozenset({"victim"})},
        {"privacy-victims"},
        "partial",
    ),
    (
        "privacy-medical",
        {"evidence_flags": frozenset({"medical"})},
        {"privacy-medical"},
        "partial",
    ),
    (
        "privacy-home-interior",
        {"evidence_flags": frozenset({"home-interior"})},
        {"privacy-home-interior"},
        "partial",
    ),
    (
        "privacy-informant",
        {"evidence_flags": frozenset({"informant"}), "misconduct_complaint": True},
        {"privacy-informant", "bwc-misconduct-release"},
        "partial",
    ),
    (
        "privacy-bystanders",
        {"evidence_flags": frozenset({"bystander-face"})},
        {"privacy-bystanders"},
        "partial",
    ),
    ("privacy-plates", {"evidence_flags": frozenset({"plate"})}, {"privacy-plates"}, "partial"),
]

COLORADO_RULES = {r.id: r for r in COLORADO.rules}

# Facts that come close to a rule but must not make it fire.
COLORADO_NEAR_MISSES: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "no delay 45 days after the allegation",
        {**DELAY, "allegation_on": TODAY - timedelta(days=45)},
        {"bwc-misconduct-release"},
    ),
    (
        "no delay without the prosecutor's written statement",
        {**DELAY, "prosecutor_statement": False},
        {"bwc-misconduct-release"},
    ),
    (
        "no delay without a finding of interference",
        {**DELAY, "interference_found": False},
        {"bwc-misconduct-release"},
    ),
    (
        "no delay when the allegation date is unknown",
        {**DELAY, "allegation_on": None},
        {"bwc-misconduct-release"},
    ),
    (
        "a complaint overrides the pending-prosecution hold",
        {"misconduct_complaint": True, "case_status": CaseStatus.PENDING_PROSECUTION},
        {"bwc-misconduct-release"},
    ),
    (
        "partners see the unredacted recording",
        {"requester_kind": "court", "evidence_flags": frozenset({"minor", "plate"})},
        {"justice-partner-access"},
    ),
    ("an adjudicated case is not held", {"case_status": CaseStatus.ADJUDICATED}, set()),
    ("the sensitive flag alone changes nothing", {"case_flags": frozenset({"sensitive"})}, set()),
]


def test_colorado_baseline_fires_no_rule() -> None:
    d = decide(COLORADO, facts())
    assert [r.id for r in d.rules] == ["default"]
    assert d.outcome == "release"
    assert d.rules[0].citation == "C.R.S. 24-72-304(1)"


def test_colorado_table_covers_every_rule() -> None:
    assert {row[0] for row in COLORADO_TABLE} == {r.id for r in COLORADO.rules}


@pytest.mark.parametrize(
    ("rule", "changes", "expected", "outcome"), COLORADO_TABLE, ids=[r[0] for r in COLORADO_TABLE]
)
def test_colorado_rule_fires_on_its_facts(
    rule: str, changes: dict[str, Any], expected: set[str], outcome: str
) -> None:
    d = decide(COLORADO, facts(**changes))
    assert fired(COLORADO, facts(**changes)) == expected
    assert d.outcome == outcome
    entry = next(r for r in d.rules if r.id == rule)
    reads = dict(entry.reads)
    # The rule reports the facts it read, with their values.
    assert set(reads) >= set(COLORADO_RULES[rule].when.facts)


@pytest.mark.parametrize(
    ("why", "changes", "expected"),
    COLORADO_NEAR_MISSES,
    ids=[r[0] for r in COLORADO_NEAR_MISSES],
)
def test_colorado_near_misses(why: str, changes: dict[str, Any], expected: set[str]) -> None:
    assert fired(COLORADO, facts(**changes)) == expected


def test_colorado_delay_holds_until_45_days_after_the_allegation() -> None:
    d = decide(COLORADO, facts(**DELAY))
    assert d.hold_until == {"date": (ALLEGED + timedelta(days=45)).isoformat()}
    assert d.review_at == TODAY + timedelta(days=7)  # the rule reviews weekly
    decisive = [r.id for r in d.rules if r.decisive]
    assert decisive == ["bwc-investigation-delay"]
    reads = dict(d.rules[0].reads)
    assert reads["days_since_allegation"] == 10
    assert reads["allegation_on"] == ALLEGED.isoformat()


def test_colorado_pending_prosecution_hold_is_reviewed_on_schedule() -> None:
    d = decide(COLORADO, facts(case_status=CaseStatus.PENDING_PROSECUTION))
    out = d.to_dict()
    assert out["hold_until"] == {"event": "adjudication"}
    assert out["review_at"] == (TODAY + timedelta(days=30)).isoformat()
    assert out["release"] is None
    assert any("24-72-305(6)" in r for r in d.reasons)
    assert any("24-72-305(7)" in r for r in d.reasons)


def test_colorado_holds_at_equal_priority_are_all_decisive() -> None:
    d = decide(
        COLORADO,
        facts(case_status=CaseStatus.OPEN, case_flags=frozenset({CaseFlag.IA_INVESTIGATION})),
    )
    assert d.outcome == "hold"
    assert [r.id for r in d.rules if r.decisive] == [
        "cjra-ia-investigation",
        "cjra-open-investigation",
    ]


def test_partial_release_of_the_requested_portion_with_a_blurred_bystander() -> None:
    """The demo's story: adjudicated case, press asks for one portion."""
    d = decide(
        COLORADO,
        facts(
            case_status=CaseStatus.ADJUDICATED,
            evidence_ids=("ev-1",),
            requested_ranges=((30.0, 45.0), (10.0, 20.0), (18.0, 25.0)),
            evidence_flags=frozenset({"bystander-face"}),
        ),
    )
    out = d.to_dict()
    assert out["outcome"] == "partial"
    assert out["release"] == {
        "evidence": ["ev-1"],
        "ranges": [[10.0, 25.0], [30.0, 45.0]],
        "redactions": [{"kind": "bystander-faces", "rules": ["privacy-bystanders"]}],
    }
    assert out["hold_until"] is None and out["review_at"] is None
    assert json.loads(json.dumps(out)) == out


def test_an_override_is_built_for_its_outcome_from_the_same_facts() -> None:
    held = facts(
        case_status=CaseStatus.PENDING_PROSECUTION,
        evidence_ids=("ev-1",),
        requested_ranges=((10.0, 25.0),),
        evidence_flags=frozenset({"bystander-face"}),
    )
    assert decide(COLORADO, held).outcome == "hold"
    out = decide(COLORADO, held, override="release").to_dict()
    # Still only what was asked for, with the redactions the rules require: a partial release.
    assert out["outcome"] == "partial"
    assert out["release"] == {
        "evidence": ["ev-1"],
        "ranges": [[10.0, 25.0]],
        "redactions": [{"kind": "bystander-faces", "rules": ["privacy-bystanders"]}],
    }
    assert out["hold_until"] is None and out["review_at"] is None
    assert "Only the portion asked for is released (10-25 s)." in out["reasons"]
    assert out["rules"] == decide(COLORADO, held).to_dict()["rules"]
    # A hold the pack did not propose has no end of its own and is reviewed on schedule.
    hold = decide(COLORADO, facts(), override="hold")
    assert hold.hold_until == {} and hold.review_at == TODAY + timedelta(days=30)
    assert f"The release is held; it will be reviewed on {hold.review_at}." in hold.reasons
    with pytest.raises(InvalidInput, match="unknown outcome"):
        decide(COLORADO, facts(), override="maybe")


def test_ranged_redactions_merge_and_empty_ones_vanish() -> None:
    flags = frozenset({"medical", "informant"})
    d = decide(
        COLORADO,
        facts(
            evidence_flags=flags,
            misconduct_complaint=True,
            sensitive_ranges=((5.0, 9.0), (8.0, 12.0)),
        ),
    )
    kinds = {r.kind: r for r in d.redactions}
    assert kinds["audio"].ranges == ((5.0, 12.0),)
    assert kinds["audio"].rules == ("privacy-informant", "privacy-medical")
    assert kinds["faces"].ranges is None
    # Without marked ranges there is no audio to mute, only faces to blur.
    d = decide(COLORADO, facts(evidence_flags=flags, misconduct_complaint=True))
    assert [r.kind for r in d.redactions] == ["faces"]


def test_expired_pack_is_refused() -> None:
    late = COLORADO.expires + timedelta(days=1)
    with pytest.raises(InvalidInput, match="expired on 2028-12-31"):
        decide(COLORADO, facts(received_at=late, today=late))
    early = COLORADO.effective_from - timedelta(days=1)
    with pytest.raises(InvalidInput, match="takes effect"):
        decide(COLORADO, facts(received_at=early, today=early))


# --------------------------------------------------------------------------- example pack

RECEIVED_LONG_AGO = TODAY - timedelta(days=200)

EXAMPLE_TABLE: list[tuple[str, dict[str, Any], set[str], str]] = [
    (
        "go-412-informant",
        {"evidence_flags": frozenset({"informant"})},
        {"go-412-informant"},
        "deny",
    ),
    (
        "go-412-partner-agency",
        {"requester_kind": "court"},
        {"go-412-partner-agency"},
        "release",
    ),
    (
        "go-412-juvenile",
        {"case_flags": frozenset({CaseFlag.JUVENILE})},
        {"go-412-juvenile"},
        "deny",
    ),
    ("go-412-subject", {"requester_kind": "subject"}, {"go-412-subject"}, "release"),
    (
        "go-412-ia-hold",
        {"case_flags": frozenset({CaseFlag.IA_INVESTIGATION})},
        {"go-412-ia-hold"},
        "hold",
    ),
    (
        "go-412-pending-lapse",
        {"case_status": CaseStatus.PENDING_PROSECUTION, "received_at": RECEIVED_LONG_AGO},
        {"go-412-pending-lapse", "go-412-pending-hold"},
        "release",
    ),
    (
        "go-412-pending-hold",
        {"case_status": CaseStatus.PENDING_PROSECUTION},
        {"go-412-pending-hold"},
        "hold",
    ),
    ("go-412-minors", {"evidence_flags": frozenset({"minor"})}, {"go-412-minors"}, "partial"),
    (
        "go-412-victims",
        {"case_flags": frozenset({CaseFlag.VICTIM_PRIVACY})},
        {"go-412-victims"},
        "partial",
    ),
    (
        "go-412-bystanders",
        {"evidence_flags": frozenset({"bystander-face"})},
        {"go-412-bystanders"},
        "partial",
    ),
    ("go-412-plates", {"evidence_flags": frozenset({"plate"})}, {"go-412-plates"}, "partial"),
    (
        "go-412-medical",
        {"evidence_flags": frozenset({"medical"}), "sensitive_ranges": ((3.0, 8.0),)},
        {"go-412-medical"},
        "partial",
    ),
    (
        "go-412-home-interior",
        {"evidence_flags": frozenset({"home-interior"}), "sensitive_ranges": ((0.0, 60.0),)},
        {"go-412-home-interior"},
        "partial",
    ),
]

EXAMPLE_NEAR_MISSES: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "a subject is not denied for a juvenile case",
        {"requester_kind": "subject", "case_flags": frozenset({CaseFlag.JUVENILE})},
        {"go-412-subject"},
    ),
    (
        "the lapse needs 180 days",
        {
            "case_status": CaseStatus.PENDING_PROSECUTION,
            "received_at": TODAY - timedelta(days=179),
        },
        {"go-412-pending-hold"},
    ),
    (
        "a subject is held while internal affairs investigates",
        {"requester_kind": "subject", "case_flags": frozenset({CaseFlag.IA_INVESTIGATION})},
        {"go-412-ia-hold"},
    ),
    (
        "the subject sees minors unblurred",
        {"requester_kind": "subject", "evidence_flags": frozenset({"minor"})},
        {"go-412-subject"},
    ),
]


def test_example_baseline_fires_no_rule() -> None:
    d = decide(EXAMPLE, facts())
    assert [(r.id, r.citation) for r in d.rules] == [("default", "GO 4.12.1")]
    assert d.outcome == "release"
    assert d.due == working_days_after(MONDAY, 10, EXAMPLE.deadline.holidays)


def test_example_table_covers_every_rule() -> None:
    assert {row[0] for row in EXAMPLE_TABLE} == {r.id for r in EXAMPLE.rules}


@pytest.mark.parametrize(
    ("rule", "changes", "expected", "outcome"), EXAMPLE_TABLE, ids=[r[0] for r in EXAMPLE_TABLE]
)
def test_example_rule_fires_on_its_facts(
    rule: str, changes: dict[str, Any], expected: set[str], outcome: str
) -> None:
    d = decide(EXAMPLE, facts(**changes))
    assert fired(EXAMPLE, facts(**changes)) == expected
    assert d.outcome == outcome
    assert rule in {r.id for r in d.rules}


@pytest.mark.parametrize(
    ("why", "changes", "expected"), EXAMPLE_NEAR_MISSES, ids=[r[0] for r in EXAMPLE_NEAR_MISSES]
)
def test_example_near_misses(why: str, changes: dict[str, Any], expected: set[str]) -> None:
    assert fired(EXAMPLE, facts(**changes)) == expected


def test_example_pending_hold_has_an_event_and_a_latest_date() -> None:
    d = decide(EXAMPLE, facts(case_status=CaseStatus.PENDING_PROSECUTION))
    assert d.hold_until == {
        "event": "adjudication",
        "date": (MONDAY + timedelta(days=180)).isoformat(),
    }
    assert d.review_at == TODAY + timedelta(days=14)  # the pack's review period


def test_example_cut_and_mute_ranges() -> None:
    d = decide(
        EXAMPLE,
        facts(
            evidence_flags=frozenset({"home-interior", "medical"}),
            sensitive_ranges=((3.0, 8.0),),
        ),
    )
    assert [r.to_dict() for r in d.redactions] == [
        {"kind": "audio", "rules": ["go-412-medical"], "ranges": [[3.0, 8.0]]},
        {"kind": "cut", "rules": ["go-412-home-interior"], "ranges": [[3.0, 8.0]]},
    ]


def test_example_use_of_force_clock() -> None:
    d = decide(EXAMPLE, facts(critical_incident=True))
    assert d.due == MONDAY + timedelta(days=30)


# --------------------------------------------------------------------------- California


@pytest.mark.parametrize(
    ("changes", "outcome", "decisive"),
    [
        ({}, "deny", ["default"]),
        ({"critical_incident": True}, "release", ["cpra-ci-disclose"]),
        (
            {
                "critical_incident": True,
                "interference_found": True,
                "incident_on": TODAY - timedelta(days=20),
            },
            "hold",
            ["cpra-ci-delay-45-days"],
        ),
        (
            {
                "critical_incident": True,
                "interference_found": True,
                "incident_on": TODAY - timedelta(days=100),
            },
            "hold",
            ["cpra-ci-delay-one-year"],
        ),
        (
            {
                "critical_incident": True,
                "interference_found": True,
                "incident_on": TODAY - timedelta(days=365),
            },
            "release",
            ["cpra-ci-disclose"],
        ),
        (
            {"critical_incident": True, "redaction_insufficient": True},
            "deny",
            ["cpra-ci-privacy-withhold"],
        ),
        (
            {
                "critical_incident": True,
                "redaction_insufficient": True,
                "requester_kind": "subject",
            },
            "release",
            ["cpra-ci-privacy-subject"],
        ),
    ],
)
def test_california(changes: dict[str, Any], outcome: str, decisive: list[str]) -> None:
    d = decide(CALIFORNIA, facts(**changes))
    assert d.outcome == outcome
    assert [r.id for r in d.rules if r.decisive] == decisive


def test_california_one_year_delay_is_reviewed_every_30_days() -> None:
    incident = TODAY - timedelta(days=100)
    d = decide(
        CALIFORNIA, facts(critical_incident=True, interference_found=True, incident_on=incident)
    )
    assert d.hold_until == {
        "event": "investigation-closed",
        "date": (incident + timedelta(days=365)).isoformat(),
    }
    assert d.review_at == TODAY + timedelta(days=30)


def test_decision_is_a_value() -> None:
    f = facts(case_status=CaseStatus.OPEN, evidence_flags=frozenset({"minor"}))
    assert decide(COLORADO, f) == decide(COLORADO, dataclasses.replace(f))


# ----------------------------------------------------------------------- grounds


def _cited(d: Decision) -> dict[str, str | None]:
    return {g.text: g.citation for g in d.grounds}


@pytest.mark.parametrize(
    ("pack", "more"),
    [(COLORADO, {}), (CALIFORNIA, {"critical_incident": True})],
    ids=["colorado", "california"],
)
def test_each_reason_carries_its_own_rules_citation(pack: PolicyPack, more: dict[str, Any]) -> None:
    """Reasons and rules come in different orders (the deciding rule's reason first, the
    default last among the rules): each reason keeps the citation of the rule it is."""
    d = decide(
        pack,
        facts(
            case_status=CaseStatus.ADJUDICATED,
            requester_kind="public",
            evidence_flags=frozenset({"bystander-face", "plate", "minor"}),
            **more,
        ),
    )
    rules = {r.id: r for r in pack.rules}
    rules[pack.default.id] = pack.default
    by_rule = [g for g in d.grounds if g.kind == "rule"]
    assert len(by_rule) >= 2
    for g in by_rule:
        assert g.rule is not None
        assert (g.text, g.citation) == (rules[g.rule].reason, rules[g.rule].citation)
    # The sentences of ``reasons`` are the grounds, in the same order.
    assert d.reasons == tuple(g.sentence for g in d.grounds)
    for g in d.grounds:
        if g.kind == "notice":
            assert f"{g.text} ({g.citation})" in d.reasons


def test_colorado_plates_and_bystanders_are_cited_to_their_own_rules() -> None:
    d = decide(
        COLORADO,
        facts(
            case_status=CaseStatus.CLOSED,
            requester_kind="public",
            evidence_flags=frozenset({"bystander-face", "plate"}),
        ),
    )
    cited = _cited(d)
    assert cited[COLORADO.default.reason] == "C.R.S. 24-72-304(1)"
    for rule in ("privacy-bystanders", "privacy-plates"):
        r = next(x for x in COLORADO.rules if x.id == rule)
        assert cited[r.reason] == r.citation
    # The grounds travel with the recorded decision.
    grounds = d.to_dict()["grounds"]
    assert isinstance(grounds, list) and {g["rule"] for g in grounds} >= {
        "default",
        "privacy-bystanders",
        "privacy-plates",
    }


def test_an_override_gives_no_reason_of_the_outcome_it_replaced() -> None:
    held = facts(case_status=CaseStatus.PENDING_PROSECUTION, requester_kind="public")
    proposed = decide(COLORADO, held)
    pending = next(r for r in COLORADO.rules if r.id == "cjra-pending-prosecution")
    assert pending.reason in proposed.reasons
    released = decide(COLORADO, held, override="release")
    assert pending.reason not in released.reasons
    assert all(g.rule != pending.id for g in released.grounds)
    # The rule still fired and is on the record of the decision.
    assert pending.id in {r.id for r in released.rules}
    # An override to the outcome the rule gives keeps its reason.
    assert pending.reason in decide(COLORADO, held, override="hold").reasons
