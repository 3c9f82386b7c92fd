"""custodes.core.disclosure.facts: the facts of a request and their types."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure import FACT_TYPES, Facts
from custodes.core.errors import InvalidInput
from tests.core.disclosure.helpers import ALLEGED, MONDAY, facts


def test_every_fact_is_in_the_environment() -> None:
    assert set(facts().environment()) == set(FACT_TYPES)


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
