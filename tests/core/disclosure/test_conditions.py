"""custodes.core.disclosure.conditions: the condition language."""

from __future__ import annotations

import pytest

from custodes.core.authz import CaseFlag
from custodes.core.disclosure import Condition, ConditionError
from tests.core.disclosure.helpers import facts


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
