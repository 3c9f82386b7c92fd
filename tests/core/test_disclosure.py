"""custodes.core.disclosure: the condition language, deadlines, and the shipped packs.

The pack tables are the acceptance test of the issue: for the Colorado and the example
department pack, every rule fires on the facts it names (and exactly the rules listed
fire), starting from a baseline on which no rule fires and the default decides.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure import (
    FACT_TYPES,
    Condition,
    ConditionError,
    Facts,
    PolicyPack,
    decide,
    working_days_after,
)
from custodes.core.errors import InvalidInput
from custodes.storage.packs import builtin_pack

COLORADO = builtin_pack("colorado")
CALIFORNIA = builtin_pack("california")
EXAMPLE = builtin_pack("example-department")

MONDAY = date(2026, 3, 2)
TODAY = MONDAY + timedelta(days=2)


def facts(**changes: Any) -> Facts:
    """A closed case, a press request received on Monday, decided on Wednesday."""
    base: dict[str, Any] = {
        "case_status": CaseStatus.CLOSED,
        "requester_kind": "press",
        "received_at": MONDAY,
        "today": TODAY,
    }
    base.update(changes)
    return Facts(**base)


def fired(pack: PolicyPack, f: Facts) -> set[str]:
    return {r.id for r in decide(pack, f).rules} - {"default"}


# --------------------------------------------------------------------------- the language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("false", False),
        ("misconduct_complaint", False),
        ("not misconduct_complaint", True),
        ('case_status == "closed"', True),
        ('"closed" == case_status', True),
        ('case_status != "closed"', False),
        ('case_status in ["open", "closed"]', True),
        ('case_status not in ["open", "closed"]', False),
        ('"minor" in evidence_flags', True),
        ('"victim" in evidence_flags', False),
        ('"victim" not in evidence_flags', True),
        ('"juvenile" in case_flags and "minor" in evidence_flags', True),
        ("days_since_request >= 2 and days_since_request < 3", True),
        ("days_since_request > 2", False),
        ("days_since_request in [1, 2, 3]", True),
        ("days_since_allegation == null", True),
        ("days_since_allegation != null", False),
        ("days_since_allegation < 45", False),  # null compares false
        ("not (days_since_allegation < 45)", True),
        ("misconduct_complaint or (prosecution_pending == false and not false)", True),
        ("not not true", True),
        ("requester_kind == 'press'", True),
        ("days_since_request == -1", False),
        ("ia_investigation_open or prosecution_pending", False),
        ("requester_kind in []", False),
    ],
)
def test_condition_evaluates(text: str, expected: bool) -> None:
    env = facts(
        evidence_flags=frozenset({"minor"}), case_flags=frozenset({CaseFlag.JUVENILE})
    ).environment()
    assert Condition.parse(text).holds(env) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('case_stat == "open"', "unknown fact 'case_stat' (did you mean 'case_status'?)"),
        ('case_status == "pending"', "unknown value 'pending' for case_status"),
        ('"minr" in evidence_flags', "unknown value 'minr' for evidence_flags"),
        ('requester_kind in ["press", "pubic"]', "unknown value 'pubic'"),
        ('case_status = "open"', "use '==' to compare"),
        ("misconduct_complaint && true", "use 'and'"),
        ("days_since_request < 'ten'", "'<' compares integers"),
        ('case_status < "open"', "'<' compares integers"),
        ("misconduct_complaint == 1", "misconduct_complaint is bool, compared with int"),
        ("days_since_request == null", "days_since_request is never null"),
        ("days_since_request", "must be true or false"),
        ("not days_since_request", "'not' needs a true/false operand"),
        ("misconduct_complaint and 3", "'and' needs true/false operands"),
        ("1 == 1", "compares two constants"),
        ('evidence_flags == "minor"', "cannot compare a set"),
        ("case_status in evidence_flags", "needs a string literal on the left"),
        ('"minor" in case_status', "needs a set fact or a list literal"),
        ("(misconduct_complaint", "expected ')'"),
        ("misconduct_complaint)", "unexpected ')'"),
        ("", "expected a value"),
        ('"unterminated', "unterminated string"),
        ("days_since_request < 99999999999", "too large"),
        ("__import__", "unknown fact '__import__'"),
        ("__import__('os')", "unexpected '('"),
        ("misconduct_complaint.__class__", "unexpected character '.'"),
        ("(" * 50 + "true" + ")" * 50, "nested too deeply"),
        ("not " * 50 + "true", "nested too deeply"),
        ("true or " * 1000 + "true", "longer than"),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        Condition.parse(text)
    assert message in str(info.value)


def test_every_fact_is_in_the_environment() -> None:
    assert set(facts().environment()) == set(FACT_TYPES)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 3, 2), 0, date(2026, 3, 2)),  # Monday, nothing to add
        (date(2026, 3, 2), 3, date(2026, 3, 5)),  # Monday + 3 = Thursday
        (date(2026, 3, 6), 3, date(2026, 3, 11)),  # Friday + 3 = Wednesday
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # Saturday + 1 = Monday
        (date(2026, 3, 8), 5, date(2026, 3, 13)),  # Sunday + 5 = Friday
        (date(2026, 11, 24), 3, date(2026, 11, 30)),  # Thanksgiving 11-26 skipped
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year's Day 2027 is a Friday
    ],
)
def test_working_days_after(start: date, n: int, expected: date) -> None:
    holidays = frozenset({date(2026, 11, 26), date(2027, 1, 1)})
    assert working_days_after(start, n, holidays) == expected


def test_working_days_after_refuses_negative() -> None:
    with pytest.raises(InvalidInput):
        working_days_after(MONDAY, -1, frozenset())


def test_colorado_due_dates() -> None:
    # Three working days, skipping Thanksgiving (a Colorado legal holiday in the pack).
    d = decide(COLORADO, facts(received_at=date(2026, 11, 24), today=date(2026, 11, 24)))
    assert d.due == date(2026, 11, 30)
    assert dict(d.due_basis)["basis"] == "general"
    # The extension adds seven working days to the original due date.
    d = decide(
        COLORADO,
        facts(received_at=date(2026, 11, 24), today=date(2026, 11, 24), extension_invoked=True),
    )
    assert d.due == date(2026, 12, 9)
    assert dict(d.due_basis)["basis"] == "extension"
    # A complaint of misconduct starts the statutory 21-calendar-day clock instead.
    d = decide(COLORADO, facts(misconduct_complaint=True, extension_invoked=True))
    assert d.due == MONDAY + timedelta(days=21)
    assert d.to_dict()["due_basis"] == {
        "basis": "bwc-misconduct-21-days",
        "citation": "C.R.S. 24-31-902(2)(a)",
    }


def test_california_due_is_in_calendar_days() -> None:
    d = decide(CALIFORNIA, facts(received_at=date(2026, 11, 24), today=date(2026, 11, 24)))
    assert d.due == date(2026, 12, 4)


# --------------------------------------------------------------------------- Colorado

ALLEGED = TODAY - timedelta(days=10)
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


# --------------------------------------------------------------------------- facts


def test_facts_round_trip_through_a_dict() -> None:
    f = facts(
        case_flags=frozenset({CaseFlag.JUVENILE}),
        evidence_flags=frozenset({"minor", "plate"}),
        allegation_on=ALLEGED,
        requested_ranges=((1.0, 2.5),),
        evidence_ids=("a", "b"),
    )
    data = json.loads(json.dumps(f.to_dict()))
    assert Facts.from_dict(data) == f


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"requester_kind": "journalist"}, "unknown requester kind 'journalist'"),
        ({"evidence_flags": frozenset({"weapon"})}, "unknown evidence flag 'weapon'"),
        ({"case_flags": frozenset({"secret"})}, "unknown case flag 'secret'"),
        ({"case_status": "pending"}, "unknown case status 'pending'"),
        ({"today": MONDAY - timedelta(days=1)}, "before the request was received"),
        ({"requested_ranges": ((5.0, 5.0),)}, "bad time range"),
        ({"requested_ranges": ((-1.0, 5.0),)}, "bad time range"),
        ({"today": datetime(2026, 3, 4, 12, 0)}, "today must be a date"),
    ],
)
def test_bad_facts_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        facts(**changes)


def test_facts_accept_plain_strings_for_status_and_flags() -> None:
    f = facts(case_status="open", case_flags=frozenset({"juvenile"}))
    assert f.case_status is CaseStatus.OPEN
    assert f.case_flags == frozenset({CaseFlag.JUVENILE})


def test_decision_is_a_value() -> None:
    f = facts(case_status=CaseStatus.OPEN, evidence_flags=frozenset({"minor"}))
    assert decide(COLORADO, f) == decide(COLORADO, dataclasses.replace(f))
