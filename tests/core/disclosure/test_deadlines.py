"""custodes.core.disclosure.deadlines: working days and the shipped packs' due dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from custodes.core.disclosure import decide, working_days_after
from custodes.core.errors import InvalidInput
from tests.core.disclosure.helpers import CALIFORNIA, COLORADO, MONDAY, facts


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
