"""Property tests of custodes.core.disclosure and custodes.storage.packs.

* for any facts, decide() on every shipped pack never raises, returns one of the four
  outcomes with a consistent shape, and is deterministic (same facts twice: identical
  decision, rule order included);
* the decision does not depend on the order of the rules in the file;
* no text makes the condition parser raise anything but ConditionError, and no bytes make
  the pack reader raise anything but InvalidInput.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.core.disclosure import (
    EVIDENCE_FLAGS,
    OUTCOMES,
    REQUESTER_KINDS,
    Condition,
    ConditionError,
    Facts,
    PolicyPack,
    decide,
)
from custodes.core.errors import InvalidInput
from custodes.storage.packs import BUILTIN_PACKS, builtin_pack, load_pack

PACKS = {name: builtin_pack(name) for name in BUILTIN_PACKS}
# Every shipped pack is in force on these days.
FIRST_DAY = max(p.effective_from for p in PACKS.values())
LAST_DAY = min(p.expires for p in PACKS.values())

fast = settings(max_examples=150, deadline=None)

time_ranges = st.lists(
    st.tuples(st.floats(0, 3600, allow_nan=False), st.floats(0.5, 600, allow_nan=False)).map(
        lambda t: (t[0], t[0] + t[1])
    ),
    max_size=3,
).map(tuple)


@st.composite
def any_facts(draw: st.DrawFn) -> Facts:
    today = draw(st.dates(FIRST_DAY, LAST_DAY))
    ago = st.integers(0, 800).map(lambda n: today - timedelta(days=n))
    return Facts(
        case_status=draw(st.sampled_from(list(CaseStatus))),
        requester_kind=draw(st.sampled_from(sorted(REQUESTER_KINDS))),
        received_at=draw(ago),
        today=today,
        case_flags=draw(st.frozensets(st.sampled_from(list(CaseFlag)))),
        evidence_flags=draw(st.frozensets(st.sampled_from(sorted(EVIDENCE_FLAGS)))),
        misconduct_complaint=draw(st.booleans()),
        allegation_on=draw(st.none() | ago),
        incident_on=draw(st.none() | ago),
        critical_incident=draw(st.booleans()),
        interference_found=draw(st.booleans()),
        prosecutor_statement=draw(st.booleans()),
        redaction_insufficient=draw(st.booleans()),
        sealed_by_court=draw(st.booleans()),
        extension_invoked=draw(st.booleans()),
        evidence_ids=tuple(draw(st.lists(st.sampled_from(["ev-1", "ev-2", "ev-3"]), max_size=2))),
        requested_ranges=draw(time_ranges),
        sensitive_ranges=draw(time_ranges),
    )


pack_names = st.sampled_from(sorted(PACKS))


@fast
@given(name=pack_names, facts=any_facts())
def test_decide_always_yields_one_well_formed_outcome(name: str, facts: Facts) -> None:
    pack = PACKS[name]
    decision = decide(pack, facts)
    out = decision.to_dict()
    assert out["outcome"] in OUTCOMES
    assert json.loads(json.dumps(out)) == out
    assert out["pack_sha256"] == pack.sha256
    assert any(r.decisive for r in decision.rules)
    assert all(r.citation for r in decision.rules)
    assert decision.due >= facts.received_at
    assert out["reasons"]
    holding = out["outcome"] == "hold"
    assert (out["hold_until"] is not None) == holding
    assert (decision.review_at is not None) == holding
    if decision.review_at is not None:
        assert decision.review_at >= facts.today
    assert (out["release"] is not None) == (out["outcome"] in ("release", "partial"))
    if out["outcome"] == "release":
        assert not out["redactions"] and not facts.requested_ranges


@fast
@given(name=pack_names, facts=any_facts())
def test_decide_is_deterministic(name: str, facts: Facts) -> None:
    pack = PACKS[name]
    first = decide(pack, facts)
    again = decide(pack, dataclasses.replace(facts))
    assert first == again
    assert first.to_dict() == again.to_dict()
    assert [r.id for r in first.rules] == [r.id for r in again.rules]


@fast
@given(name=pack_names, facts=any_facts(), data=st.data())
def test_decision_does_not_depend_on_rule_order(
    name: str, facts: Facts, data: st.DataObject
) -> None:
    pack = PACKS[name]
    shuffled: PolicyPack = dataclasses.replace(
        pack, rules=tuple(data.draw(st.permutations(pack.rules)))
    )
    assert decide(shuffled, facts).to_dict() == decide(pack, facts).to_dict()


WORDS = [
    "and", "or", "not", "in", "(", ")", "[", "]", ",", "==", "!=", "<", ">=", "true",
    "null", '"minor"', '"open"', "'press'", "3", "-1", "case_status", "evidence_flags",
    "days_since_allegation", "misconduct_complaint", "requester_kind", "bogus", "=", ".",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60), st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)
    )
)
def test_condition_parser_fails_only_with_condition_error(text: str) -> None:
    env = Facts(
        case_status=CaseStatus.OPEN, requester_kind="press", received_at=FIRST_DAY, today=FIRST_DAY
    ).environment()
    try:
        condition = Condition.parse(text)
    except ConditionError:
        return
    assert condition.holds(env) in (True, False)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_pack_reader_fails_only_with_invalid_input(data: bytes) -> None:
    try:
        load_pack(data, source_name="fuzz.yaml")
    except InvalidInput as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_the_strategies_reach_every_outcome() -> None:
    """A guard against a strategy that never exercises holds or denials."""
    seen = set()
    day = date(2026, 6, 1)
    base = Facts(case_status=CaseStatus.CLOSED, requester_kind="press", received_at=day, today=day)
    for changes in (
        {},
        {"evidence_flags": frozenset({"minor"})},
        {"case_status": CaseStatus.OPEN},
        {"sealed_by_court": True},
    ):
        seen.add(decide(PACKS["colorado"], dataclasses.replace(base, **changes)).outcome)
    assert seen == set(OUTCOMES)
