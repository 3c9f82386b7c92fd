"""The CLI's own syntax: ranges START-END and dates YYYY-MM-DD, parsed before a service."""

from __future__ import annotations

from datetime import date

import pytest

from custodes.cli.errors import option
from custodes.cli.parsing import parse_date, parse_range, parse_ranges
from custodes.core.errors import InvalidInput


def test_ranges_are_parsed_and_checked_by_the_service() -> None:
    assert parse_ranges(["30-90", "0.5-1.25"]) == [(30.0, 90.0), (0.5, 1.25)]
    assert parse_ranges(None) == []
    # Order and finiteness are the service's to refuse, on record.
    assert parse_range("90-30") == (90.0, 30.0)
    assert parse_range("1-inf") == (1.0, float("inf"))


@pytest.mark.parametrize("text", ["30", "a-b", "30-", "-5-10", ""])
def test_a_range_that_is_not_start_end_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="a range is START-END in seconds") as caught:
        parse_range(text, "mute")
    assert caught.value.field == "mute"


def test_dates() -> None:
    assert parse_date("2026-11-20", "received_at") == date(2026, 11, 20)
    assert parse_date("2026-11-20T10:00:00", "received_at") == date(2026, 11, 20)
    assert parse_date(None, "received_at") is None
    with pytest.raises(InvalidInput, match="not a date") as caught:
        parse_date("yesterday", "received_at")
    assert caught.value.render(option) == ("--received-at is not a date (YYYY-MM-DD): 'yesterday'")
